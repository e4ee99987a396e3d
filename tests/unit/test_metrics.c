/* test_metrics.c - /metrics: listen addresses, the exposition text (every family with HELP and
 * TYPE, counters by pass, escaped label values), and the server answering from the snapshot last
 * published (GET /metrics, 404 elsewhere, 405 for other methods). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coordinator/metrics.h"

static void listen_ok(const char *in, const char *host, unsigned port)
{
    char h[64];
    unsigned p = 99999;

    assert_int_equal(ps_metrics_parse_listen(in, h, sizeof(h), &p, NULL), PS_OK);
    assert_string_equal(h, host);
    assert_int_equal(p, port);
}

static void listen_bad(const char *in)
{
    char h[64];
    unsigned p;
    struct ps_errdetail ed = {0};

    assert_int_equal(ps_metrics_parse_listen(in, h, sizeof(h), &p, &ed), PS_ERR_USAGE);
    assert_non_null(strstr(ed.msg, "ADDR:PORT"));
}

static void test_metrics_listen_addresses(void **state)
{
    (void)state;
    listen_ok("127.0.0.1:9464", "127.0.0.1", 9464);
    listen_ok(":9464", "", 9464);
    listen_ok("[::1]:0", "::1", 0);
    listen_ok("localhost:65535", "localhost", 65535);
    listen_bad("9464");
    listen_bad("127.0.0.1:");
    listen_bad("127.0.0.1:65536");
    listen_bad("127.0.0.1:-1");
    listen_bad("127.0.0.1:12x");
    listen_bad("::1:9464");
    listen_bad("[::1:9464");
    listen_bad(NULL);
}

static struct ps_metrics_snapshot snapshot(void)
{
    struct ps_metrics_snapshot s;

    memset(&s, 0, sizeof(s));
    snprintf(s.job, sizeof(s.job), "nightly");
    snprintf(s.state, sizeof(s.state), "confirming");
    s.pass = 2;
    s.plan_shards = 64;
    s.shards_done[PS_PASS_SCAN] = 64;
    s.shards_done[PS_PASS_CONFIRM] = 10;
    s.docs_read[PS_PASS_SCAN] = 123456;
    s.bytes_per_s = 1.5e6;
    return s;
}

static void test_metrics_render_families(void **state)
{
    struct ps_metrics_snapshot s = snapshot();
    struct ps_buf b;
    size_t help = 0, type = 0;

    (void)state;
    ps_buf_init(&b, 1 << 20);
    ps_metrics_render(&s, &b);
    assert_int_equal(b.data[b.len - 1], '\n');
    for (const char *p = b.data; (p = strstr(p, "\n# ")) != NULL; p++) {
        help += strncmp(p, "\n# HELP ", 8) == 0;
        type += strncmp(p, "\n# TYPE ", 8) == 0;
    }
    help += strncmp(b.data, "# HELP ", 7) == 0;
    assert_int_equal(help, type);
    assert_true(help >= 20);
    assert_non_null(strstr(b.data, "poisonscan_info{job=\"nightly\",version=\"0.1.0\"} 1\n"));
    assert_non_null(strstr(b.data, "poisonscan_job_state{state=\"confirming\"} 1\n"));
    assert_non_null(strstr(b.data, "poisonscan_job_state{state=\"running\"} 0\n"));
    assert_non_null(strstr(b.data, "# TYPE poisonscan_shards_done_total counter\n"));
    assert_non_null(strstr(b.data, "poisonscan_shards_done_total{pass=\"confirm\"} 10\n"));
    assert_non_null(strstr(b.data, "poisonscan_documents_read_total{pass=\"scan\"} 123456\n"));
    assert_non_null(strstr(b.data, "poisonscan_documents_read_total{pass=\"list\"} 0\n"));
    assert_non_null(strstr(b.data, "poisonscan_input_bytes_per_second 1500000.0\n"));
    assert_non_null(strstr(b.data, "poisonscan_pass 2\n"));
    ps_buf_release(&b);
}

static void test_metrics_label_values_are_escaped(void **state)
{
    struct ps_metrics_snapshot s = snapshot();
    struct ps_buf b;

    (void)state;
    snprintf(s.job, sizeof(s.job), "a\"b\\c\nd");
    ps_buf_init(&b, 1 << 20);
    ps_metrics_render(&s, &b);
    assert_non_null(strstr(b.data, "poisonscan_info{job=\"a\\\"b\\\\c\\nd\","));
    ps_buf_release(&b);
}

/* One HTTP/1.0 request to 127.0.0.1:port; the response (head and body) into dst. */
static void http(unsigned port, const char *request, char *dst, size_t cap)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t n = 0;
    ssize_t r;

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    while (n + 1 < cap && (r = read(fd, dst + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    dst[n] = '\0';
    close(fd);
}

static void test_metrics_server_serves_the_last_snapshot(void **state)
{
    struct ps_metrics *m = NULL;
    struct ps_metrics_snapshot s = snapshot();
    char bound[128], *resp = malloc(1 << 16);
    unsigned port;

    (void)state;
    assert_int_equal(ps_metrics_start(&m, "127.0.0.1:0", "nightly", bound, sizeof(bound), NULL),
                     PS_OK);
    assert_int_equal(strncmp(bound, "http://127.0.0.1:", 17), 0);
    port = (unsigned)strtoul(bound + 17, NULL, 10);
    assert_true(port > 0);
    /* before the first snapshot: the job id, zeros */
    http(port, "GET /metrics HTTP/1.0\r\n\r\n", resp, 1 << 16);
    assert_non_null(strstr(resp, "HTTP/1.1 200"));
    assert_non_null(strstr(resp, "text/plain; version=0.0.4"));
    assert_non_null(strstr(resp, "poisonscan_info{job=\"nightly\""));
    assert_non_null(strstr(resp, "poisonscan_plan_shards 0\n"));
    ps_metrics_publish(m, &s);
    http(port, "GET /metrics HTTP/1.0\r\n\r\n", resp, 1 << 16);
    assert_non_null(strstr(resp, "poisonscan_plan_shards 64\n"));
    http(port, "GET /other HTTP/1.0\r\n\r\n", resp, 1 << 16);
    assert_non_null(strstr(resp, "HTTP/1.1 404"));
    http(port, "DELETE /metrics HTTP/1.0\r\n\r\n", resp, 1 << 16);
    assert_non_null(strstr(resp, "HTTP/1.1 405"));
    ps_metrics_stop(m);
    free(resp);
}

static void test_metrics_busy_port_is_an_error(void **state)
{
    struct ps_metrics *a = NULL, *b = NULL;
    char bound[128], again[160];
    struct ps_errdetail ed = {0};

    (void)state;
    assert_int_equal(ps_metrics_start(&a, "127.0.0.1:0", "j", bound, sizeof(bound), NULL), PS_OK);
    snprintf(again, sizeof(again), "127.0.0.1:%s", strrchr(bound, ':') + 1);
    *strchr(again + 10, '/') = '\0';
    assert_int_equal(ps_metrics_start(&b, again, "j", bound, sizeof(bound), &ed), PS_ERR_IO);
    assert_null(b);
    assert_non_null(strstr(ed.msg, "cannot listen"));
    ps_metrics_stop(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_listen_addresses),
        cmocka_unit_test(test_metrics_render_families),
        cmocka_unit_test(test_metrics_label_values_are_escaped),
        cmocka_unit_test(test_metrics_server_serves_the_last_snapshot),
        cmocka_unit_test(test_metrics_busy_port_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
