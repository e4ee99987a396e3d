/* plan_fixture.h - what the planner's test programs share: a fresh temporary tree per test,
 * writers for files in it, plan builders that fail the test with the planner's message, the
 * header's invariants checked against the files on disk, and a seeded JSONL generator. Included
 * once per test program (static functions). */
#ifndef PS_TESTS_PLAN_FIXTURE_H
#define PS_TESTS_PLAN_FIXTURE_H

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coordinator/plan.h"

/* Each test program uses some of these. */
#define FIXTURE static __attribute__((unused))

struct fixture {
    char root[256]; /* realpath of a fresh mkdtemp directory */
};

FIXTURE void rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *de;

    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0700);
        d = opendir(path);
        if (d != NULL) {
            while ((de = readdir(d)) != NULL) {
                char child[PATH_MAX];
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                    continue;
                snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
                rm_rf(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

FIXTURE int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char tmpl[] = "/tmp/ps_test_plan_XXXXXX";
    char real[PATH_MAX];

    if (fx == NULL || mkdtemp(tmpl) == NULL || realpath(tmpl, real) == NULL ||
        strlen(real) >= sizeof(fx->root))
        return -1;
    memcpy(fx->root, real, strlen(real) + 1);
    *state = fx;
    return 0;
}

FIXTURE int teardown(void **state)
{
    struct fixture *fx = *state;

    rm_rf(fx->root);
    free(fx);
    return 0;
}

/* fx->root + "/" + rel into a static-free caller buffer. */
FIXTURE void at(const struct fixture *fx, const char *rel, char *dst)
{
    snprintf(dst, PATH_MAX, "%s/%s", fx->root, rel);
}

FIXTURE void mkdir_rel(const struct fixture *fx, const char *rel)
{
    char p[PATH_MAX];

    at(fx, rel, p);
    assert_int_equal(mkdir(p, 0755), 0);
}

FIXTURE void write_rel(const struct fixture *fx, const char *rel, const char *content, size_t len)
{
    char p[PATH_MAX];
    FILE *f;

    at(fx, rel, p);
    f = fopen(p, "wb");
    assert_non_null(f);
    if (len > 0)
        assert_int_equal(fwrite(content, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

FIXTURE void write_str(const struct fixture *fx, const char *rel, const char *content)
{
    write_rel(fx, rel, content, strlen(content));
}

FIXTURE struct ps_plan *build_ok(const char *const *inputs, size_t n, uint64_t shard_size)
{
    struct ps_plan_opts o = ps_plan_opts_default();
    struct ps_errdetail ed;
    struct ps_plan *p = NULL;
    enum ps_err err;

    o.shard_size = shard_size;
    memset(&ed, 0, sizeof(ed));
    err = ps_plan_build(&p, inputs, n, &o, &ed);
    if (err != PS_OK)
        fail_msg("ps_plan_build: %s: %s", ps_strerror(err), ed.msg);
    return p;
}

FIXTURE enum ps_err build_err(const char *const *inputs, size_t n, struct ps_errdetail *ed)
{
    struct ps_plan *p = (struct ps_plan *)1;
    enum ps_err err;

    memset(ed, 0, sizeof(*ed));
    err = ps_plan_build(&p, inputs, n, NULL, ed);
    assert_null(p);
    return err;
}

/* Every structural invariant the header promises, checked against the files on disk. */
FIXTURE void check_plan_invariants(const struct ps_plan *p)
{
    size_t i, s = 0;
    uint64_t total = 0;

    for (i = 0; i < ps_plan_n_files(p); i++) {
        const char *path = ps_plan_file(p, i);
        uint64_t size = ps_plan_file_size(p, i);
        uint64_t pos = 0;
        FILE *f = fopen(path, "rb");

        assert_int_equal(path[0], '/');
        assert_non_null(f);
        while (s < ps_plan_n_shards(p) && ps_plan_shard(p, s)->file_index == i) {
            const struct ps_shard *sh = ps_plan_shard(p, s);
            assert_int_equal(sh->id, s);
            assert_ptr_equal(sh->path, path);
            assert_true(sh->begin == pos);
            assert_true(sh->end > sh->begin);
            if (sh->begin > 0 && sh->format == PS_PLAN_FORMAT_JSONL) {
                assert_int_equal(fseek(f, (long)sh->begin - 1, SEEK_SET), 0);
                assert_int_equal(fgetc(f), '\n');
            }
            total += sh->end - sh->begin;
            pos = sh->end;
            s++;
        }
        assert_true(pos == size);
        fclose(f);
    }
    assert_int_equal(s, ps_plan_n_shards(p));
    assert_true(total == ps_plan_bytes_total(p));
}

/* Lines of pseudo-random length (1..maxlen), from a printed seed. */
FIXTURE size_t gen_jsonl(char *dst, size_t cap, unsigned seed, size_t maxlen)
{
    size_t n = 0;

    srand(seed);
    while (n + maxlen + 32 < cap) {
        size_t len = 1 + (size_t)rand() % maxlen, i;
        n += (size_t)snprintf(dst + n, cap - n, "{\"text\":\"");
        for (i = 0; i < len; i++)
            dst[n++] = (char)('a' + rand() % 26);
        n += (size_t)snprintf(dst + n, cap - n, "\"}\n");
    }
    return n;
}

#endif
