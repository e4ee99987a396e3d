/* metrics.c - /metrics for Prometheus: the exposition text of a snapshot, and a libmicrohttpd
 * server on its own thread that renders the latest snapshot the loop published. The loop only
 * ever takes the mutex for a struct copy; a slow or hostile client costs the server's thread,
 * never the loop (MHD bounds connections and idle time). */
#include "coordinator/metrics.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "common/log.h"

#define MAX_CONNECTIONS 16
#define IDLE_TIMEOUT_S  10

static const char *const states[] = {"planning",   "running", "confirming", "finalizing",
                                     "attributes", "done",    "failed"};

/* One metric family: HELP and TYPE, then the caller's samples. */
static void family(struct ps_buf *b, const char *name, const char *type, const char *help)
{
    ps_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one sample without labels. */
static void one_u64(struct ps_buf *b, const char *name, const char *type, const char *help,
                    uint64_t v)
{
    family(b, name, type, help);
    ps_buf_addf(b, "%s %" PRIu64 "\n", name, v);
}

/* A label value with the exposition format's escapes (backslash, quote, line feed). */
static void label_value(struct ps_buf *b, const char *s)
{
    ps_buf_adds(b, "\"");
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            ps_buf_addf(b, "\\%c", *s);
        else if (*s == '\n')
            ps_buf_adds(b, "\\n");
        else
            ps_buf_add(b, s, 1);
    }
    ps_buf_adds(b, "\"");
}

static void per_pass(struct ps_buf *b, const char *name, const char *help, const uint64_t *v)
{
    family(b, name, "counter", help);
    for (unsigned p = PS_PASS_SCAN; p <= PS_PASS__LAST; p++)
        ps_buf_addf(b, "%s{pass=\"%s\"} %" PRIu64 "\n", name, ps_pass_name(p), v[p]);
}

void ps_metrics_render(const struct ps_metrics_snapshot *s, struct ps_buf *b)
{
    family(b, "poisonscan_info", "gauge", "The job this coordinator runs (always 1).");
    ps_buf_adds(b, "poisonscan_info{job=");
    label_value(b, s->job);
    ps_buf_adds(b, ",version=\"0.1.0\"} 1\n");
    family(b, "poisonscan_job_state", "gauge",
           "1 for the job's current state (as poisonscan status shows it), 0 for the others.");
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        ps_buf_addf(b, "poisonscan_job_state{state=\"%s\"} %d\n", states[i],
                    strcmp(s->state, states[i]) == 0);
    one_u64(b, "poisonscan_pass", "gauge",
            "The current pass: 1 scan, 2 confirm, 3 leads, 4 list (0 before the job is open).",
            s->pass);
    one_u64(b, "poisonscan_plan_shards", "gauge", "Shards in the job's plan.", s->plan_shards);
    one_u64(b, "poisonscan_plan_disk_bytes", "gauge", "On-disk bytes of every shard in the plan.",
            s->plan_bytes);
    per_pass(b, "poisonscan_shards_done_total", "Shards committed and counted, by pass.",
             s->shards_done);
    per_pass(b, "poisonscan_input_bytes_total",
             "Decompressed input bytes of the shards counted, by pass.", s->bytes_read);
    per_pass(b, "poisonscan_documents_read_total", "Documents of the shards counted, by pass.",
             s->docs_read);
    one_u64(b, "poisonscan_shards_failed_total", "counter",
            "Shards given up after --max-attempts or refused by a worker, all passes.",
            s->shards_failed);
    one_u64(b, "poisonscan_input_errors_total", "counter",
            "Input errors (bad records, corrupt streams) found in the scan pass.", s->input_errors);
    one_u64(b, "poisonscan_damaged_files", "gauge", "Files with input errors so far.",
            s->damaged_files);
    one_u64(b, "poisonscan_workers", "gauge", "Workers alive.", s->workers);
    one_u64(b, "poisonscan_shards_in_flight", "gauge", "Shards leased to a worker now.",
            s->shards_in_flight);
    one_u64(b, "poisonscan_shards_queued", "gauge",
            "Shards of the current pass waiting for a worker.", s->shards_queued);
    family(b, "poisonscan_input_bytes_per_second", "gauge",
           "Decompressed input counted per second over the last ten seconds, all workers.");
    ps_buf_addf(b, "poisonscan_input_bytes_per_second %.1f\n", s->bytes_per_s);
    family(b, "poisonscan_documents_per_second", "gauge",
           "Documents counted per second over the last ten seconds, all workers.");
    ps_buf_addf(b, "poisonscan_documents_per_second %.1f\n", s->docs_per_s);
    one_u64(b, "poisonscan_report_written", "gauge", "1 once report.json is written.",
            s->report_written);
    one_u64(b, "poisonscan_triggers_flagged", "gauge",
            "Triggers flagged in the report (0 until it is written).", s->triggers_flagged);
    one_u64(b, "poisonscan_triggers_suppressed", "gauge",
            "Flagged triggers the allowlist moved to \"suppressed\".", s->triggers_suppressed);
    one_u64(b, "poisonscan_documents_flagged", "gauge", "Documents written to flagged.jsonl.",
            s->documents_flagged);
    one_u64(b, "poisonscan_job_start_time_seconds", "gauge", "When the job started (unix time).",
            s->started_at);
    one_u64(b, "poisonscan_job_end_time_seconds", "gauge",
            "When the report was written (unix time; 0 while the job runs).", s->finished_at);
}

enum ps_err ps_metrics_parse_listen(const char *listen, char *host, size_t host_cap, unsigned *port,
                                    struct ps_errdetail *ed)
{
    const char *colon, *h = listen;
    size_t hl;
    char *end;
    unsigned long p;

    if (listen == NULL || strlen(listen) > 300)
        goto bad;
    colon = strrchr(listen, ':');
    if (colon == NULL || colon[1] == '\0')
        goto bad;
    hl = (size_t)(colon - listen);
    if (hl > 0 && listen[0] == '[') {
        /* [IPv6]:PORT */
        if (hl < 3 || listen[hl - 1] != ']')
            goto bad;
        h = listen + 1;
        hl -= 2;
    } else if (memchr(listen, ':', hl) != NULL) {
        goto bad; /* a bare IPv6 address needs brackets */
    }
    if (hl >= host_cap)
        goto bad;
    memcpy(host, h, hl);
    host[hl] = '\0';
    p = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] < '0' || colon[1] > '9' || p > 65535)
        goto bad;
    *port = (unsigned)p;
    return PS_OK;
bad:
    ps_errdetail_set(ed, NULL, 0,
                     "--metrics '%.64s': expected ADDR:PORT, [IPV6]:PORT or :PORT (port 0: any)",
                     listen ? listen : "");
    return PS_ERR_USAGE;
}

struct ps_metrics {
    struct MHD_Daemon *daemon;
    pthread_mutex_t mu;
    struct ps_metrics_snapshot snap;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct ps_metrics *m = cls;
    struct ps_metrics_snapshot snap;
    struct ps_buf b;
    size_t len;
    char *text;

    (void)version;
    (void)upload;
    (void)con_cls;
    if (*upload_size != 0)
        return MHD_NO; /* no request of ours has a body */
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", NULL, 0);
    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    if (strcmp(url, "/metrics") == 0) {
        pthread_mutex_lock(&m->mu);
        snap = m->snap;
        pthread_mutex_unlock(&m->mu);
        ps_metrics_render(&snap, &b);
        text = ps_buf_detach(&b, &len);
        return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len);
    }
    ps_buf_adds(&b, "poisonscan coordinator: metrics at /metrics\n");
    text = ps_buf_detach(&b, &len);
    return reply(conn, strcmp(url, "/") == 0 ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND,
                 "text/plain; charset=utf-8", text, len);
}

/* libmicrohttpd passes its own format strings */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    ps_log(PS_LOG_WARN, "metrics", "%s", msg);
}

/* The socket address to listen on, from host (empty: every interface) and port. */
static enum ps_err resolve(const char *host, unsigned port, struct sockaddr_storage *sa,
                           socklen_t *sa_len, struct ps_errdetail *ed)
{
    struct addrinfo hints, *ai = NULL;
    char service[8];
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(service, sizeof(service), "%u", port);
    rc = getaddrinfo(host[0] ? host : NULL, service, &hints, &ai);
    if (rc != 0 || ai == NULL) {
        ps_errdetail_set(ed, NULL, 0, "--metrics: cannot resolve '%.64s': %s", host,
                         gai_strerror(rc));
        return PS_ERR_USAGE;
    }
    memcpy(sa, ai->ai_addr, ai->ai_addrlen);
    *sa_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return PS_OK;
}

enum ps_err ps_metrics_start(struct ps_metrics **out, const char *listen, const char *job,
                             char *bound, size_t bound_cap, struct ps_errdetail *ed)
{
    struct sockaddr_storage sa;
    socklen_t sa_len = 0;
    char host[256], shown[INET6_ADDRSTRLEN + 2];
    unsigned port;
    const union MHD_DaemonInfo *info;
    struct ps_metrics *m;
    enum ps_err err;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

    *out = NULL;
    err = ps_metrics_parse_listen(listen, host, sizeof(host), &port, ed);
    if (err == PS_OK)
        err = resolve(host, port, &sa, &sa_len, ed);
    if (err != PS_OK)
        return err;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m = ps_xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
    snprintf(m->snap.job, sizeof(m->snap.job), "%s", job);
    /* the logger first: MHD logs its own way until it has it */
    m->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, m,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_END);
    if (m->daemon == NULL) {
        ps_errdetail_set(ed, NULL, 0,
                         "--metrics: cannot listen on '%.64s' (in use, or no such "
                         "address here)",
                         listen);
        ps_metrics_stop(m);
        return PS_ERR_IO;
    }
    info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (sa.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, shown + 1, sizeof(shown) - 2);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, shown, sizeof(shown));
    if (sa.ss_family == AF_INET6) {
        shown[0] = '[';
        strcat(shown, "]");
    }
    snprintf(bound, bound_cap, "http://%s:%u/metrics", shown,
             info != NULL ? (unsigned)info->port : port);
    *out = m;
    return PS_OK;
}

void ps_metrics_publish(struct ps_metrics *m, const struct ps_metrics_snapshot *s)
{
    pthread_mutex_lock(&m->mu);
    m->snap = *s;
    pthread_mutex_unlock(&m->mu);
}

void ps_metrics_stop(struct ps_metrics *m)
{
    if (m == NULL)
        return;
    if (m->daemon != NULL)
        MHD_stop_daemon(m->daemon);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
