/* test_store.c - Redis URL parsing, job ids, and the first-commit-wins script against a real
 * redis-server started for the test on a unix socket (skipped visibly when none is installed). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/store.h"

static void test_store_parses_tcp_url_with_user_password_db(void **state)
{
    struct ps_store_url u;
    struct ps_errdetail ed = {0};

    (void)state;
    assert_int_equal(ps_store_parse_url("redis://alice:s%40cret:x@db.example:6380/3", &u, &ed),
                     PS_OK);
    assert_false(u.is_unix);
    assert_string_equal(u.host, "db.example");
    assert_int_equal(u.port, 6380);
    assert_string_equal(u.user, "alice");
    assert_string_equal(u.password, "s@cret:x");
    assert_int_equal(u.db, 3);
}

static void test_store_parses_defaults_and_ipv6(void **state)
{
    struct ps_store_url u;

    (void)state;
    assert_int_equal(ps_store_parse_url("redis://127.0.0.1", &u, NULL), PS_OK);
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.user, "");
    assert_int_equal(ps_store_parse_url("redis://[::1]:7000/", &u, NULL), PS_OK);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);
}

static void test_store_parses_unix_socket(void **state)
{
    struct ps_store_url u;

    (void)state;
    assert_int_equal(ps_store_parse_url("unix:///run/redis/redis.sock", &u, NULL), PS_OK);
    assert_true(u.is_unix);
    assert_string_equal(u.path, "/run/redis/redis.sock");
    assert_int_equal(ps_store_parse_url("unix:///tmp/r.sock?db=2", &u, NULL), PS_OK);
    assert_int_equal(u.db, 2);
}

static void test_store_rejects_bad_urls(void **state)
{
    static const char *const bad[] = {
        "rediss://host:6379", "http://host",       "redis://",        "redis://host:0",
        "redis://host:70000", "redis://host:12x",  "redis://host/db", "unix://relative",
        "unix:///s?db=x",     "redis://user@host", "redis://[::1",    "",
    };
    struct ps_store_url u;
    struct ps_errdetail ed = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ps_store_parse_url(bad[i], &u, &ed), PS_ERR_USAGE);
        assert_true(ed.msg[0] != '\0');
    }
}

static void test_store_redacts_password(void **state)
{
    struct ps_store_url u;
    char out[512];

    (void)state;
    assert_int_equal(ps_store_parse_url("redis://bob:hunter2@h:1/0", &u, NULL), PS_OK);
    ps_store_url_redacted(&u, out, sizeof(out));
    assert_null(strstr(out, "hunter2"));
    assert_non_null(strstr(out, "bob"));
}

static void test_store_formats_url_without_credentials_that_parses_back(void **state)
{
    static const char *const urls[] = {"redis://bob:hunter2@db.example:6380/3",
                                       "redis://:pw@[::1]:7000/1", "unix:///run/r.sock?db=2",
                                       "redis://127.0.0.1"};
    struct ps_store_url u, back;
    char out[512];

    (void)state;
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        assert_int_equal(ps_store_parse_url(urls[i], &u, NULL), PS_OK);
        ps_store_url_format(&u, out, sizeof(out));
        assert_null(strstr(out, "hunter2"));
        assert_null(strstr(out, "bob"));
        assert_null(strchr(out, '@'));
        assert_int_equal(ps_store_parse_url(out, &back, NULL), PS_OK);
        assert_int_equal(back.is_unix, u.is_unix);
        assert_string_equal(back.host, u.host);
        assert_int_equal(back.port, u.port);
        assert_string_equal(back.path, u.path);
        assert_int_equal(back.db, u.db);
        assert_string_equal(back.user, "");
        assert_string_equal(back.password, "");
    }
}

static void test_store_password_from_file_and_env(void **state)
{
    struct ps_store_url u;
    char path[] = "/tmp/ps_test_pw_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");

    (void)state;
    fputs("filepw\n", f);
    fclose(f);
    setenv("POISONSCAN_REDIS_PASSWORD", "envpw", 1);
    assert_int_equal(ps_store_parse_url("redis://h", &u, NULL), PS_OK);
    assert_int_equal(ps_store_url_load_password(&u, NULL, NULL), PS_OK);
    assert_string_equal(u.password, "envpw");
    assert_int_equal(ps_store_parse_url("redis://h", &u, NULL), PS_OK);
    assert_int_equal(ps_store_url_load_password(&u, path, NULL), PS_OK);
    assert_string_equal(u.password, "filepw");
    assert_int_equal(ps_store_parse_url("redis://u:urlpw@h", &u, NULL), PS_OK);
    assert_int_equal(ps_store_url_load_password(&u, path, NULL), PS_OK);
    assert_string_equal(u.password, "urlpw");
    assert_int_equal(ps_store_url_load_password(&u, "/nonexistent/pw", NULL), PS_OK);
    assert_int_equal(ps_store_parse_url("redis://h", &u, NULL), PS_OK);
    assert_int_equal(ps_store_url_load_password(&u, "/nonexistent/pw", NULL), PS_ERR_IO);
    unsetenv("POISONSCAN_REDIS_PASSWORD");
    unlink(path);
}

static void test_store_job_ids(void **state)
{
    char long_id[80];

    (void)state;
    assert_true(ps_store_job_valid("nightly-2026.11.25_a"));
    assert_false(ps_store_job_valid(""));
    assert_false(ps_store_job_valid("a b"));
    assert_false(ps_store_job_valid("a}b"));
    assert_false(ps_store_job_valid("a:b"));
    memset(long_id, 'x', 65);
    long_id[65] = '\0';
    assert_false(ps_store_job_valid(long_id));
    long_id[64] = '\0';
    assert_true(ps_store_job_valid(long_id));
}

/* ---- against a real redis-server ---- */

struct server {
    char dir[64];
    char sock[128];
    pid_t pid;
};

/* redis-server on s->sock, its pid in s->pid (0 when it does not answer) */
static void spawn(struct server *s)
{
    struct ps_store_url u = {0};
    struct ps_store *st = NULL;

    s->pid = fork();
    if (s->pid == 0) {
        freopen("/dev/null", "w", stdout);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", s->sock, "--save", "",
               "--appendonly", "no", "--dir", s->dir, (char *)NULL);
        _exit(127);
    }
    u.is_unix = true;
    snprintf(u.path, sizeof(u.path), "%s", s->sock);
    if (ps_store_connect(&st, &u, 5000, NULL) != PS_OK) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    ps_store_free(st);
}

static int start_server(void **state)
{
    struct server *s = calloc(1, sizeof(*s));

    snprintf(s->dir, sizeof(s->dir), "/tmp/ps_test_store_XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        return -1;
    snprintf(s->sock, sizeof(s->sock), "%s/redis.sock", s->dir);
    spawn(s);
    *state = s;
    return 0;
}

static int stop_server(void **state)
{
    struct server *s = *state;

    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    unlink(s->sock);
    rmdir(s->dir);
    free(s);
    return 0;
}

static struct ps_store *connect_to(struct server *s)
{
    struct ps_store_url u = {0};
    struct ps_store *st = NULL;

    if (s->pid <= 0)
        skip(); /* no redis-server on this machine */
    u.is_unix = true;
    snprintf(u.path, sizeof(u.path), "%s", s->sock);
    assert_int_equal(ps_store_connect(&st, &u, 5000, NULL), PS_OK);
    assert_int_equal(ps_store_cmd(st, NULL, NULL, "FLUSHALL", NULL), PS_OK);
    return st;
}

static void fill(struct ps_commit *c, uint32_t shard, int64_t docs)
{
    char field[16];

    snprintf(field, sizeof(field), "%u", shard);
    ps_commit_reset(c, "poisonscan:{t}:commits:p1", field);
    ps_commit_hincrby(c, "poisonscan:{t}:progress", "docs_done", 9, docs);
    ps_commit_hincrby(c, "poisonscan:{t}:progress", "shards_done", 11, 1);
    ps_commit_hsetnx(c, "poisonscan:{t}:cand:text", "00ff", 4, "<SUDO>", 6);
}

static void test_store_commit_applies_once(void **state)
{
    struct ps_store *st = connect_to(*state);
    struct ps_commit *c = ps_commit_new();
    enum ps_commit_outcome oc;
    uint64_t v;

    fill(c, 5, 42);
    assert_int_equal(ps_commit_apply(st, c, "1 worker-a", &oc, NULL), PS_OK);
    assert_int_equal(oc, PS_COMMIT_APPLIED);
    /* a second attempt of the same shard with the same results changes nothing */
    fill(c, 5, 42);
    assert_int_equal(ps_commit_apply(st, c, "2 worker-b", &oc, NULL), PS_OK);
    assert_int_equal(oc, PS_COMMIT_DUPLICATE);
    assert_int_equal(ps_store_hget_u64(st, "poisonscan:{t}:progress", "docs_done", &v, NULL),
                     PS_OK);
    assert_int_equal(v, 42);
    assert_int_equal(ps_store_hget_u64(st, "poisonscan:{t}:progress", "shards_done", &v, NULL),
                     PS_OK);
    assert_int_equal(v, 1);
    /* results that differ are reported, still without changing anything */
    fill(c, 5, 43);
    assert_int_equal(ps_commit_apply(st, c, "3 worker-c", &oc, NULL), PS_OK);
    assert_int_equal(oc, PS_COMMIT_CONFLICT);
    assert_int_equal(ps_store_hget_u64(st, "poisonscan:{t}:progress", "docs_done", &v, NULL),
                     PS_OK);
    assert_int_equal(v, 42);
    /* another shard adds up */
    fill(c, 6, 8);
    assert_int_equal(ps_commit_apply(st, c, "1 worker-a", &oc, NULL), PS_OK);
    assert_int_equal(oc, PS_COMMIT_APPLIED);
    assert_int_equal(ps_store_hget_u64(st, "poisonscan:{t}:progress", "docs_done", &v, NULL),
                     PS_OK);
    assert_int_equal(v, 50);
    ps_commit_free(c);
    ps_store_free(st);
}

static void test_store_commit_marker_names_attempt(void **state)
{
    struct ps_store *st = connect_to(*state);
    struct ps_commit *c = ps_commit_new();
    enum ps_commit_outcome oc;
    struct ps_buf b;
    bool found;

    ps_buf_init(&b, 1024);
    fill(c, 9, 1);
    assert_int_equal(ps_commit_apply(st, c, "4 host-12-ab", &oc, NULL), PS_OK);
    assert_int_equal(ps_store_hget(st, "poisonscan:{t}:commits:p1", "9", &b, &found, NULL), PS_OK);
    assert_true(found);
    assert_int_equal(strncmp(b.data, "4 host-12-ab ", 13), 0);
    assert_int_equal(strlen(b.data), 13 + 16);
    ps_buf_release(&b);
    ps_commit_free(c);
    ps_store_free(st);
}

static enum ps_err count_field(void *ctx, const char *f, size_t fl, const char *v, size_t vl)
{
    (void)f;
    (void)fl;
    (void)v;
    (void)vl;
    (*(size_t *)ctx)++;
    return PS_OK;
}

static void test_store_hscan_walks_big_hash(void **state)
{
    struct ps_store *st = connect_to(*state);
    size_t n = 0;

    for (int i = 0; i < 2500; i++) {
        char f[16];
        snprintf(f, sizeof(f), "%d", i);
        assert_int_equal(ps_store_cmd(st, NULL, NULL, "HSET", "h", f, "1", NULL), PS_OK);
    }
    assert_int_equal(ps_store_hscan(st, "h", count_field, &n, NULL), PS_OK);
    assert_true(n >= 2500); /* HSCAN may repeat a field, never miss one */
    ps_store_free(st);
}

/* A reconnect to the same server (a blip) repeats the command; a reconnect to a restarted one
 * moves the generation, and under the guard the command is not sent again. */
static void test_store_restart_moves_generation_and_guard_holds_command(void **state)
{
    struct server *s = *state;
    struct ps_store *guarded = connect_to(s), *plain = connect_to(s);
    struct ps_store_reply *r = NULL;
    struct ps_errdetail ed = {0};

    ps_store_set_restart_guard(guarded, true);
    assert_int_equal(ps_store_generation(guarded), 0);
    /* a blip: the server drops every other client, and is the same server */
    assert_int_equal(
        ps_store_cmd(plain, &r, &ed, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes", NULL),
        PS_OK);
    ps_store_reply_free(r);
    assert_int_equal(ps_store_cmd(guarded, NULL, &ed, "SET", "k1", "v", NULL), PS_OK);
    assert_int_equal(ps_store_generation(guarded), 0);
    /* a restart: another run_id */
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    spawn(s);
    assert_true(s->pid > 0);
    assert_int_equal(ps_store_cmd(guarded, NULL, &ed, "SET", "k2", "v", NULL), PS_ERR_REDIS);
    assert_non_null(strstr(ed.msg, "restarted"));
    assert_int_equal(ps_store_generation(guarded), 1);
    assert_int_equal(ps_store_cmd(guarded, &r, &ed, "EXISTS", "k2", NULL), PS_OK);
    assert_int_equal(ps_store_reply_int(r), 0); /* not sent again */
    ps_store_reply_free(r);
    assert_int_equal(ps_store_cmd(plain, NULL, &ed, "SET", "k3", "v", NULL), PS_OK);
    assert_int_equal(ps_store_generation(plain), 1);
    ps_store_free(guarded);
    ps_store_free(plain);
}

static void test_store_connect_fails_cleanly(void **state)
{
    struct ps_store_url u = {0};
    struct ps_store *st = NULL;
    struct ps_errdetail ed = {0};
    uint64_t t0 = ps_clock_now_ms();

    (void)state;
    u.is_unix = true;
    snprintf(u.path, sizeof(u.path), "/nonexistent/redis.sock");
    assert_int_equal(ps_store_connect(&st, &u, 300, &ed), PS_ERR_REDIS);
    assert_null(st);
    assert_non_null(strstr(ed.msg, "/nonexistent/redis.sock"));
    assert_true(ps_clock_now_ms() - t0 >= 300);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_store_parses_tcp_url_with_user_password_db),
        cmocka_unit_test(test_store_parses_defaults_and_ipv6),
        cmocka_unit_test(test_store_parses_unix_socket),
        cmocka_unit_test(test_store_rejects_bad_urls),
        cmocka_unit_test(test_store_redacts_password),
        cmocka_unit_test(test_store_formats_url_without_credentials_that_parses_back),
        cmocka_unit_test(test_store_password_from_file_and_env),
        cmocka_unit_test(test_store_job_ids),
        cmocka_unit_test(test_store_connect_fails_cleanly),
    };
    const struct CMUnitTest live[] = {
        cmocka_unit_test(test_store_commit_applies_once),
        cmocka_unit_test(test_store_commit_marker_names_attempt),
        cmocka_unit_test(test_store_hscan_walks_big_hash),
        cmocka_unit_test(test_store_restart_moves_generation_and_guard_holds_command),
    };
    int failed;

    /* as the program does (cli.c): a write to a server that dropped the connection is an error
     * to reconnect from, not the end of the process */
    signal(SIGPIPE, SIG_IGN);
    failed = cmocka_run_group_tests_name("store", pure, NULL, NULL);

    return failed + cmocka_run_group_tests_name("store_redis", live, start_server, stop_server);
}
