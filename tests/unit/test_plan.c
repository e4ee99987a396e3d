/* test_plan.c - shard planning against real temporary trees: walk order and suffix filter,
 * manifests, line-aligned splitting of a generated JSONL file, dedup, the text form's round trip
 * and its validation, and the fingerprint's sensitivity to file changes. */
/* realpath() and mkdtemp() are XSI, beyond the _POSIX_C_SOURCE the build sets. */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "coordinator/plan.h"
#include "tests/unit/plan_fixture.h"

static void test_plan_walks_dirs_sorted_with_suffix_filter(void **state)
{
    struct fixture *fx = *state;
    /* .txt and .json became corpus names with the format layer */
    static const char *const expect[] = {"a.jsonl",           "b.ndjson",        "c.txt",
                                         "notes.json",        "sub/x.ndjson.gz", "sub/y.jsonl.zst",
                                         "sub/zz/deep.jsonl", "z.jsonl.zstd"};
    static const int formats[] = {PS_PLAN_FORMAT_JSONL, PS_PLAN_FORMAT_JSONL, PS_FORMAT_TXT << 4,
                                  PS_FORMAT_JSON << 4,  PS_PLAN_FORMAT_GZ,    PS_PLAN_FORMAT_ZST,
                                  PS_PLAN_FORMAT_JSONL, PS_PLAN_FORMAT_ZST};
    char d[PATH_MAX];
    const char *in[1];
    struct ps_plan *p;
    size_t i;

    (void)formats;
    mkdir_rel(fx, "sub");
    mkdir_rel(fx, "sub/zz");
    write_str(fx, "z.jsonl.zstd", "zz");
    write_str(fx, "b.ndjson", "{}\n");
    write_str(fx, "a.jsonl", "{}\n");
    write_str(fx, "c.txt", "{}\n");
    write_str(fx, "notes.json", "{}\n");
    write_str(fx, "A.JSONL", "{}\n");
    write_str(fx, ".hidden.jsonl", "{}\n");
    write_str(fx, "sub/y.jsonl.zst", "yy");
    write_str(fx, "sub/x.ndjson.gz", "xx");
    write_str(fx, "sub/.jsonl", "{}\n");
    write_str(fx, "sub/zz/deep.jsonl", "{}\n{}\n");
    write_str(fx, "sub/zz/deep.jsonl.bak", "{}\n");
    in[0] = fx->root;
    p = build_ok(in, 1, 1 << 20);
    assert_int_equal(ps_plan_n_files(p), 8);
    assert_int_equal(ps_plan_n_shards(p), 8);
    for (i = 0; i < 8; i++) {
        at(fx, expect[i], d);
        assert_string_equal(ps_plan_file(p, i), d);
        assert_int_equal(ps_plan_file_format(p, i), formats[i]);
        assert_int_equal(ps_plan_shard(p, i)->format, formats[i]);
    }
    check_plan_invariants(p);
    ps_plan_free(p);
}

static void test_plan_explicit_file_taken_whatever_its_name(void **state)
{
    struct fixture *fx = *state;
    char f[PATH_MAX];
    const char *in[1];
    struct ps_plan *p;

    write_str(fx, "data.txt", "{\"text\":\"a\"}\n");
    at(fx, "data.txt", f);
    in[0] = f;
    p = build_ok(in, 1, 1 << 20);
    assert_int_equal(ps_plan_n_files(p), 1);
    assert_string_equal(ps_plan_file(p, 0), f);
    assert_int_equal(ps_plan_shard(p, 0)->end, 13);
    ps_plan_free(p);
}

static void test_plan_relative_input_becomes_absolute(void **state)
{
    struct fixture *fx = *state;
    char old[PATH_MAX], f[PATH_MAX];
    const char *in[] = {"./rel.jsonl"};
    struct ps_plan *p;

    write_str(fx, "rel.jsonl", "{}\n");
    at(fx, "rel.jsonl", f);
    assert_non_null(getcwd(old, sizeof(old)));
    assert_int_equal(chdir(fx->root), 0);
    p = build_ok(in, 1, 1 << 20);
    assert_int_equal(chdir(old), 0);
    assert_string_equal(ps_plan_file(p, 0), f);
    ps_plan_free(p);
}

static void test_plan_duplicates_listed_once(void **state)
{
    struct fixture *fx = *state;
    char f[PATH_MAX], link[PATH_MAX], twisted[PATH_MAX];
    const char *in[4];
    struct ps_plan *p;

    mkdir_rel(fx, "d");
    write_str(fx, "d/a.jsonl", "{}\n");
    write_str(fx, "d/b.jsonl", "{}\n");
    at(fx, "d/a.jsonl", f);
    at(fx, "alias.jsonl", link);
    assert_int_equal(symlink(f, link), 0);
    snprintf(twisted, sizeof(twisted), "%s/d/../d/./a.jsonl", fx->root);
    in[0] = f;
    in[1] = link;
    in[2] = twisted;
    in[3] = fx->root; /* walks d again, and alias.jsonl */
    p = build_ok(in, 4, 1 << 20);
    assert_int_equal(ps_plan_n_files(p), 2);
    assert_string_equal(ps_plan_file(p, 0), f);
    at(fx, "d/b.jsonl", f);
    assert_string_equal(ps_plan_file(p, 1), f);
    ps_plan_free(p);
}

static void test_plan_does_not_follow_dir_symlinks_in_walks(void **state)
{
    struct fixture *fx = *state;
    char dir[PATH_MAX], link[PATH_MAX], target[PATH_MAX];
    const char *in[1];
    struct ps_plan *p;

    mkdir_rel(fx, "d");
    mkdir_rel(fx, "other");
    write_str(fx, "d/a.jsonl", "{}\n");
    write_str(fx, "other/o.jsonl", "{}\n");
    at(fx, "d", dir);
    at(fx, "d/loop.jsonl", link);
    assert_int_equal(symlink(dir, link), 0); /* a dir link named like data: would loop */
    at(fx, "d/up", link);
    assert_int_equal(symlink("..", link), 0);
    at(fx, "other/o.jsonl", target);
    at(fx, "d/via.jsonl", link);
    assert_int_equal(symlink(target, link), 0); /* a file link: followed */
    in[0] = dir;
    p = build_ok(in, 1, 1 << 20);
    assert_int_equal(ps_plan_n_files(p), 2);
    at(fx, "d/a.jsonl", dir);
    assert_string_equal(ps_plan_file(p, 0), dir);
    assert_string_equal(ps_plan_file(p, 1), target);
    ps_plan_free(p);
}

static void test_plan_missing_input_is_io_error_naming_it(void **state)
{
    struct fixture *fx = *state;
    char f[PATH_MAX];
    const char *in[1];
    struct ps_errdetail ed;

    at(fx, "nope.jsonl", f);
    in[0] = f;
    assert_int_equal(build_err(in, 1, &ed), PS_ERR_IO);
    assert_non_null(strstr(ed.msg, "nope.jsonl"));
}

static void test_plan_unreadable_dir_is_io_error(void **state)
{
    struct fixture *fx = *state;
    char d[PATH_MAX];
    const char *in[1];
    struct ps_errdetail ed;

    if (geteuid() == 0)
        skip(); /* root reads mode-000 directories anyway */
    mkdir_rel(fx, "locked");
    write_str(fx, "locked/a.jsonl", "{}\n");
    at(fx, "locked", d);
    assert_int_equal(chmod(d, 0), 0);
    in[0] = fx->root;
    assert_int_equal(build_err(in, 1, &ed), PS_ERR_IO);
    assert_non_null(strstr(ed.msg, "locked"));
    chmod(d, 0700);
}

static void test_plan_unreadable_file_in_a_walk_is_listed(void **state)
{
    struct fixture *fx = *state;
    char f[PATH_MAX];
    const char *in[1];
    struct ps_errdetail ed;
    struct ps_plan *p;

    if (geteuid() == 0)
        skip(); /* root opens mode-000 files anyway (test_hostile_corpus.sh drops the right) */
    write_str(fx, "a.jsonl", "{}\n");
    write_str(fx, "b.jsonl", "{}\n");
    at(fx, "b.jsonl", f);
    assert_int_equal(chmod(f, 0), 0);
    in[0] = fx->root;
    p = build_ok(in, 1, 1 << 20);
    assert_int_equal(ps_plan_n_files(p), 1);
    assert_int_equal(ps_plan_n_unreadable(p), 1);
    assert_non_null(strstr(ps_plan_unreadable(p, 0).path, "/b.jsonl"));
    assert_string_equal(ps_plan_unreadable(p, 0).reason, "cannot open: Permission denied");
    ps_plan_free(p);
    in[0] = f; /* named: an error of the build */
    assert_int_equal(build_err(in, 1, &ed), PS_ERR_IO);
    assert_non_null(strstr(ed.msg, "b.jsonl"));
    chmod(f, 0600);
}

static void test_plan_rejects_bad_usage(void **state)
{
    struct fixture *fx = *state;
    struct ps_plan_opts o = ps_plan_opts_default();
    struct ps_plan *p = NULL;
    const char *in[1];
    struct ps_errdetail ed;

    in[0] = fx->root;
    o.shard_size = 0;
    assert_int_equal(ps_plan_build(&p, in, 1, &o, &ed), PS_ERR_USAGE);
    assert_null(p);
    assert_int_equal(ps_plan_build(&p, in, 0, NULL, &ed), PS_ERR_USAGE);
    assert_null(p);
}

static void test_plan_path_with_newline_is_unsupported(void **state)
{
    struct fixture *fx = *state;
    const char *in[1];
    struct ps_errdetail ed;

    write_str(fx, "bad\nname.jsonl", "{}\n");
    in[0] = fx->root;
    assert_int_equal(build_err(in, 1, &ed), PS_ERR_UNSUPPORTED);
}

static void test_plan_manifest_comments_relative_paths_crlf(void **state)
{
    struct fixture *fx = *state;
    char m[PATH_MAX + 1], abs_b[PATH_MAX], text[3 * PATH_MAX], f[PATH_MAX];
    const char *in[1];
    struct ps_plan *p;

    mkdir_rel(fx, "lists");
    mkdir_rel(fx, "data");
    mkdir_rel(fx, "data/dir");
    write_str(fx, "data/a.jsonl", "{}\n");
    write_str(fx, "data/b.txt", "{}\n");
    write_str(fx, "data/dir/c.jsonl.gz", "gz");
    at(fx, "data/b.txt", abs_b);
    snprintf(text, sizeof(text),
             "# corpus for run 7\r\n"
             "\r\n"
             "../data/a.jsonl\r\n"
             "   # indented comment\n"
             "  %s  \n"
             "\t\n"
             "../data/dir\n"
             "../data/a.jsonl",
             abs_b);
    write_str(fx, "lists/m.txt", text);
    m[0] = '@';
    at(fx, "lists/m.txt", m + 1);
    in[0] = m;
    p = build_ok(in, 1, 1 << 20);
    assert_int_equal(ps_plan_n_files(p), 3);
    at(fx, "data/a.jsonl", f);
    assert_string_equal(ps_plan_file(p, 0), f);
    assert_string_equal(ps_plan_file(p, 1), abs_b);
    at(fx, "data/dir/c.jsonl.gz", f);
    assert_string_equal(ps_plan_file(p, 2), f);
    assert_int_equal(ps_plan_file_format(p, 2), PS_PLAN_FORMAT_GZ);
    ps_plan_free(p);
}

static void test_plan_manifest_bad_line_names_file_and_line(void **state)
{
    struct fixture *fx = *state;
    char m[PATH_MAX + 1];
    const char *in[1];
    struct ps_errdetail ed;

    write_str(fx, "a.jsonl", "{}\n");
    write_rel(fx, "m.txt", "a.jsonl\n# ok\nbad\001line\n", 21);
    m[0] = '@';
    at(fx, "m.txt", m + 1);
    in[0] = m;
    assert_int_equal(build_err(in, 1, &ed), PS_ERR_PARSE);
    assert_non_null(strstr(ed.msg, "m.txt"));
    assert_non_null(strstr(ed.msg, "line 3"));
}

static void test_plan_manifest_missing_entry_names_line(void **state)
{
    struct fixture *fx = *state;
    char m[PATH_MAX + 1];
    const char *in[1];
    struct ps_errdetail ed;

    write_str(fx, "a.jsonl", "{}\n");
    write_str(fx, "m.txt", "a.jsonl\n\nghost.jsonl\n");
    m[0] = '@';
    at(fx, "m.txt", m + 1);
    in[0] = m;
    assert_int_equal(build_err(in, 1, &ed), PS_ERR_IO);
    assert_non_null(strstr(ed.msg, "ghost.jsonl"));
    assert_non_null(strstr(ed.msg, "line 3"));
}

static void test_plan_manifest_line_too_long(void **state)
{
    struct fixture *fx = *state;
    struct ps_plan_opts o = ps_plan_opts_default();
    char m[PATH_MAX + 1];
    char line[200];
    const char *in[1];
    struct ps_plan *p = NULL;
    struct ps_errdetail ed;

    memset(line, 'a', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    write_str(fx, "m.txt", line);
    m[0] = '@';
    at(fx, "m.txt", m + 1);
    in[0] = m;
    o.max_manifest_line = 100;
    assert_int_equal(ps_plan_build(&p, in, 1, &o, &ed), PS_ERR_PARSE);
    assert_non_null(strstr(ed.msg, "line 1"));
    o.max_manifest_bytes = 50;
    assert_int_equal(ps_plan_build(&p, in, 1, &o, &ed), PS_ERR_LIMIT);
    assert_null(p);
}

struct collected {
    char paths[8][64];
    size_t lines[8];
    size_t n;
};

static enum ps_err collect(void *ctx, const char *path, size_t line_no, struct ps_errdetail *ed)
{
    struct collected *c = ctx;

    (void)ed;
    if (c->n == 8)
        return PS_ERR_LIMIT;
    snprintf(c->paths[c->n], sizeof(c->paths[0]), "%s", path);
    c->lines[c->n++] = line_no;
    return PS_OK;
}

static void test_plan_manifest_buf_joins_base_dir(void **state)
{
    static const char src[] = "x.jsonl\r\n#c\n/abs/y.jsonl\n\n  sp ace.jsonl \n";
    struct collected c;

    (void)state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(
        ps_plan_parse_manifest_buf(src, sizeof(src) - 1, "m", "/base", 4096, collect, &c, NULL),
        PS_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.paths[0], "/base/x.jsonl");
    assert_int_equal(c.lines[0], 1);
    assert_string_equal(c.paths[1], "/abs/y.jsonl");
    assert_int_equal(c.lines[1], 3);
    assert_string_equal(c.paths[2], "/base/sp ace.jsonl");
    assert_int_equal(c.lines[2], 5);
    memset(&c, 0, sizeof(c));
    assert_int_equal(
        ps_plan_parse_manifest_buf("a\nb\0c\n", 6, NULL, NULL, 4096, collect, &c, NULL),
        PS_ERR_PARSE);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.paths[0], "a");
}

/* The plan of data[0, n) as the one file `f`, cut at shard_size: every line in exactly one
 * shard, every cut the first line start at or after its nominal place. */
static void check_split(const char *f, const char *data, size_t n, uint64_t shard_size)
{
    const char *in[1] = {f};
    struct ps_plan *p = build_ok(in, 1, shard_size);
    size_t i, lines_total = 0, lines_in_shards = 0;

    for (i = 0; i < n; i++)
        lines_total += data[i] == '\n';
    check_plan_invariants(p);
    assert_true(ps_plan_n_shards(p) <= n / shard_size + 1);
    for (i = 0; i < ps_plan_n_shards(p); i++) {
        const struct ps_shard *s = ps_plan_shard(p, i);
        uint64_t b;
        if (i + 1 < ps_plan_n_shards(p)) {
            assert_true(s->end - s->begin >= shard_size);
            /* the cut is the FIRST line start at or after the nominal one */
            for (b = s->begin + shard_size; b < s->end; b++)
                assert_true(data[b - 1] != '\n');
            assert_true(data[s->end - 1] == '\n');
        }
        for (b = s->begin; b < s->end; b++)
            lines_in_shards += data[b] == '\n';
    }
    assert_int_equal(lines_in_shards, lines_total);
    assert_true(ps_plan_bytes_total(p) == n);
    ps_plan_free(p);
}

/* Shards of a chunk (64 KiB) and bigger, and shards far smaller than a chunk, whose cuts are
 * found in the chunk read for an earlier cut. */
static void test_plan_splits_plain_file_at_line_starts(void **state)
{
    static const uint64_t sizes[] = {64 * 1024, 200 * 1024, 5000, 300, 1};
    struct fixture *fx = *state;
    size_t cap = 3 * 1024 * 1024;
    char *data = malloc(cap);
    unsigned seed = (unsigned)time(NULL);
    char f[PATH_MAX];
    size_t n;

    assert_non_null(data);
    print_message("seed %u\n", seed);
    n = gen_jsonl(data, cap, seed, 3000);
    write_rel(fx, "big.jsonl", data, n);
    at(fx, "big.jsonl", f);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        check_split(f, data, n, sizes[i]);
    free(data);
}

/* The chunk held from one file's cuts says nothing about the next file's bytes. */
static void test_plan_cuts_of_the_next_file_read_that_file(void **state)
{
    struct fixture *fx = *state;
    char a[PATH_MAX], b[PATH_MAX];
    const char *in[2] = {a, b};
    struct ps_plan *p;

    /* a: lines of 10 bytes; b: lines of 7 bytes, so a's '\n' at 19 is not one of b's */
    write_str(fx, "a.jsonl", "123456789\n123456789\n123456789\n123456789\n123456789\n");
    write_str(fx, "b.jsonl",
              "abcdef\nabcdef\nabcdef\nabcdef\nabcdef\nabcdef\nabcdef\nabcdef\n"
              "abcdef\nabcdef\n");
    at(fx, "a.jsonl", a);
    at(fx, "b.jsonl", b);
    p = build_ok(in, 2, 20);
    check_plan_invariants(p);
    assert_int_equal(ps_plan_n_shards(p), 3 + 4);
    assert_int_equal(ps_plan_shard(p, 2)->end, 50);
    assert_int_equal(ps_plan_shard(p, 3)->end, 21);
    assert_int_equal(ps_plan_shard(p, 4)->end, 42);
    assert_int_equal(ps_plan_shard(p, 5)->end, 63);
    assert_int_equal(ps_plan_shard(p, 6)->end, 70);
    ps_plan_free(p);
}

static void count_idle(void *ctx)
{
    (*(size_t *)ctx)++;
}

/* The idle function runs once per PS_PLAN_IDLE_EVERY files and cuts: a file of 3000 lines cut
 * at every line is 2999 cuts and one file. */
static void test_plan_calls_idle_every_so_many_files_and_cuts(void **state)
{
    struct fixture *fx = *state;
    char *data = malloc(3000 * 10);
    char f[PATH_MAX];
    const char *in[1] = {f};
    struct ps_plan_opts o = ps_plan_opts_default();
    struct ps_errdetail ed = {0};
    struct ps_plan *p = NULL;
    size_t calls = 0;

    assert_non_null(data);
    assert_null(o.idle);
    for (size_t i = 0; i < 3000; i++)
        memcpy(data + 10 * i, "123456789\n", 10);
    write_rel(fx, "lines.jsonl", data, 3000 * 10);
    at(fx, "lines.jsonl", f);
    o.shard_size = 10;
    o.idle = count_idle;
    o.idle_ctx = &calls;
    assert_int_equal(ps_plan_build(&p, in, 1, &o, &ed), PS_OK);
    assert_int_equal(ps_plan_n_shards(p), 3000);
    assert_int_equal(calls, 3000 / PS_PLAN_IDLE_EVERY);
    ps_plan_free(p);
    free(data);
}

static void test_plan_cut_on_exact_line_start_is_kept(void **state)
{
    struct fixture *fx = *state;
    char f[PATH_MAX];
    const char *in[1];
    struct ps_plan *p;

    /* lines of 10 bytes; shard 20 -> cuts at 20, 40; file 50 bytes */
    write_str(fx, "t.jsonl", "123456789\n123456789\n123456789\n123456789\n123456789\n");
    at(fx, "t.jsonl", f);
    in[0] = f;
    p = build_ok(in, 1, 20);
    assert_int_equal(ps_plan_n_shards(p), 3);
    assert_int_equal(ps_plan_shard(p, 0)->end, 20);
    assert_int_equal(ps_plan_shard(p, 1)->end, 40);
    assert_int_equal(ps_plan_shard(p, 2)->end, 50);
    check_plan_invariants(p);
    ps_plan_free(p);
}

static void test_plan_long_line_and_missing_final_newline(void **state)
{
    struct fixture *fx = *state;
    size_t n = 300 * 1024, i;
    char *data = malloc(n);
    char f[PATH_MAX];
    const char *in[1];
    struct ps_plan *p;

    assert_non_null(data);
    /* short line, a line of ~200 KiB (longer than 3 shards and than the scan chunk),
     * short lines, and a last line without '\n' */
    memset(data, 'x', n);
    data[10] = '\n';
    data[10 + 200 * 1024] = '\n';
    for (i = 10 + 200 * 1024 + 100; i < n - 50; i += 100)
        data[i] = '\n';
    write_rel(fx, "long.jsonl", data, n);
    at(fx, "long.jsonl", f);
    in[0] = f;
    p = build_ok(in, 1, 64 * 1024);
    check_plan_invariants(p);
    assert_int_equal(ps_plan_shard(p, 0)->end, 10 + 200 * 1024 + 1);
    ps_plan_free(p);

    /* one giant line with no newline at all: a single shard */
    memset(data, 'y', n);
    write_rel(fx, "long.jsonl", data, n);
    p = build_ok(in, 1, 64 * 1024);
    assert_int_equal(ps_plan_n_shards(p), 1);
    check_plan_invariants(p);
    ps_plan_free(p);
    free(data);
}

static void test_plan_compressed_is_one_shard_and_empty_file_has_none(void **state)
{
    struct fixture *fx = *state;
    char junk[5000];
    const char *in[1];
    struct ps_plan *p;

    memset(junk, '\n', sizeof(junk));
    write_rel(fx, "a.jsonl.zst", junk, sizeof(junk));
    write_rel(fx, "b.jsonl", "", 0);
    write_rel(fx, "c.jsonl.gz", junk, sizeof(junk));
    in[0] = fx->root;
    p = build_ok(in, 1, 100);
    assert_int_equal(ps_plan_n_files(p), 3);
    assert_int_equal(ps_plan_n_shards(p), 2);
    assert_int_equal(ps_plan_shard(p, 0)->end, sizeof(junk));
    assert_int_equal(ps_plan_shard(p, 0)->file_index, 0);
    assert_int_equal(ps_plan_shard(p, 1)->file_index, 2);
    assert_int_equal(ps_plan_file_size(p, 1), 0);
    assert_true(ps_plan_bytes_total(p) == 2 * sizeof(junk));
    check_plan_invariants(p);
    ps_plan_free(p);
}

static struct ps_plan *mixed_plan(struct fixture *fx)
{
    char data[20000], link[PATH_MAX];
    const char *in[1];
    size_t n;

    n = gen_jsonl(data, sizeof(data), 7, 200);
    write_rel(fx, "a.jsonl", data, n);
    write_rel(fx, "b.jsonl", "", 0);
    write_rel(fx, "c.jsonl.zst", data, 3000);
    write_rel(fx, "d.ndjson", data, 500);
    at(fx, "e.jsonl", link); /* dangling: an unreadable entry, in the text form too */
    assert_int_equal(symlink("nowhere", link), 0);
    in[0] = fx->root;
    return build_ok(in, 1, 1024);
}

static void test_plan_serialize_round_trip(void **state)
{
    struct fixture *fx = *state;
    struct ps_plan *p = mixed_plan(fx), *q = NULL;
    struct ps_buf a, b;
    struct ps_errdetail ed;
    size_t i;

    ps_buf_init(&a, 1 << 20);
    ps_buf_init(&b, 1 << 20);
    assert_int_equal(ps_plan_serialize(p, &a), PS_OK);
    if (ps_plan_deserialize(&q, a.data, a.len, &ed) != PS_OK)
        fail_msg("deserialize: %s", ed.msg);
    assert_int_equal(ps_plan_n_files(q), ps_plan_n_files(p));
    assert_int_equal(ps_plan_n_shards(q), ps_plan_n_shards(p));
    assert_true(ps_plan_n_shards(p) > 5);
    for (i = 0; i < ps_plan_n_files(p); i++) {
        assert_string_equal(ps_plan_file(q, i), ps_plan_file(p, i));
        assert_true(ps_plan_file_size(q, i) == ps_plan_file_size(p, i));
    }
    for (i = 0; i < ps_plan_n_shards(p); i++) {
        const struct ps_shard *x = ps_plan_shard(p, i), *y = ps_plan_shard(q, i);
        assert_int_equal(x->id, y->id);
        assert_string_equal(x->path, y->path);
        assert_true(x->begin == y->begin && x->end == y->end);
        assert_int_equal(x->file_index, y->file_index);
        assert_int_equal(x->format, y->format);
    }
    assert_int_equal(ps_plan_n_unreadable(p), 1);
    assert_int_equal(ps_plan_n_unreadable(q), 1);
    assert_string_equal(ps_plan_unreadable(q, 0).path, ps_plan_unreadable(p, 0).path);
    assert_string_equal(ps_plan_unreadable(q, 0).reason, ps_plan_unreadable(p, 0).reason);
    assert_true(ps_plan_bytes_total(q) == ps_plan_bytes_total(p));
    assert_true(ps_plan_fingerprint(q) == ps_plan_fingerprint(p));
    assert_int_equal(ps_plan_serialize(q, &b), PS_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    /* without the final newline it still parses */
    ps_plan_free(q);
    assert_int_equal(ps_plan_deserialize(&q, a.data, a.len - 1, &ed), PS_OK);
    ps_plan_free(q);
    ps_buf_release(&a);
    ps_buf_release(&b);
    ps_plan_free(p);
}

/* common_dir FILES... : ps_plan_common_dir_len of a plan of these (empty) files, as the path
 * prefix it names. */
static void expect_common_dir(const char *want, size_t n, const char *const *paths)
{
    struct ps_plan *q = NULL;
    struct ps_errdetail ed;
    struct ps_buf text;
    size_t len;

    ps_buf_init(&text, PS_BUF_NO_LIMIT);
    ps_buf_adds(&text, "poisonscan-plan 1\n");
    for (size_t i = 0; i < n; i++)
        ps_buf_addf(&text, "F\t%zu\t0\t0\t5\t0\t%s\n", i, paths[i]);
    if (ps_plan_deserialize(&q, text.data, text.len, &ed) != PS_OK)
        fail_msg("deserialize: %s", ed.msg);
    len = ps_plan_common_dir_len(q);
    if (len != strlen(want) || (n > 0 && strncmp(ps_plan_file(q, 0), want, len) != 0))
        fail_msg("common folder of %zu files: %zu bytes, expected '%s'", n, len, want);
    ps_plan_free(q);
    ps_buf_release(&text);
}

/* The attributes pass writes each file's attribute file at its path under this folder. */
static void test_plan_common_dir_is_the_deepest_folder_of_every_file(void **state)
{
    static const char *const nested[] = {"/data/a/x.jsonl", "/data/a/b/y.jsonl.zst"};
    static const char *const siblings[] = {"/d/ab.jsonl", "/d/ac.jsonl"};
    static const char *const one[] = {"/d/e/f.jsonl"};
    static const char *const roots[] = {"/a/x.jsonl", "/b/y.jsonl"};
    static const char *const deeper_first[] = {"/d/e/f/g.jsonl", "/d/e/h.jsonl", "/d/e/f/i.jsonl"};

    (void)state;
    expect_common_dir("/data/a/", 2, nested);
    expect_common_dir("/d/", 2, siblings); /* a shared name prefix is not a folder */
    expect_common_dir("/d/e/", 1, one);
    expect_common_dir("/", 2, roots);
    expect_common_dir("/d/e/", 3, deeper_first);
    expect_common_dir("", 0, NULL);
}

static void deser_bad(const char *text)
{
    struct ps_plan *q = (struct ps_plan *)1;
    struct ps_errdetail ed;

    memset(&ed, 0, sizeof(ed));
    if (ps_plan_deserialize(&q, text, strlen(text), &ed) != PS_ERR_PARSE)
        fail_msg("accepted: %s", text);
    assert_null(q);
    assert_non_null(strstr(ed.msg, "line"));
}

static void test_plan_deserialize_rejects_broken_plans(void **state)
{
    struct ps_plan *q = NULL;
    static const char ok[] = "poisonscan-plan 1\n"
                             "F\t0\t0\t10\t5\t0\t/a\n"
                             "F\t1\t0\t0\t5\t0\t/e\n"
                             "F\t2\t1\t7\t-5\t0\t/c\n"
                             "S\t0\t0\t0\t4\n"
                             "S\t1\t0\t4\t10\n"
                             "S\t2\t2\t0\t7\n";

    (void)state;
    assert_int_equal(ps_plan_deserialize(&q, ok, strlen(ok), NULL), PS_OK);
    assert_int_equal(ps_plan_n_shards(q), 3);
    ps_plan_free(q);
    deser_bad("");
    deser_bad("poisonscan-plan 2\n");
    deser_bad("poisonscan-plan 1\nX\t0\n");
    deser_bad("poisonscan-plan 1\nF\t1\t0\t10\t5\t0\t/a\n");  /* index */
    deser_bad("poisonscan-plan 1\nF\t0\t3\t10\t5\t0\t/a\n");  /* format */
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\trel\n"); /* relative */
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\t\n");    /* empty path */
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\n");      /* no path */
    deser_bad("poisonscan-plan 1\nF\t0\t0\t-1\t5\t0\t/a\n");  /* negative size */
    deser_bad("poisonscan-plan 1\nF\t0\t0\t99999999999999999999\t5\t0\t/a\n");
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\t/a\tb\n");                   /* tab in path */
    deser_bad("poisonscan-plan 1\nF\t0\t0\t1\t5\t0\t/a\nF\t1\t0\t1\t5\t0\t/a\n"); /* dup */
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\t/a\n");                      /* not covered */
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\t/a\nS\t0\t0\t0\t4\n");
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\t/a\nS\t0\t0\t0\t11\n");
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\t/a\nS\t0\t0\t1\t10\n");
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\t/a\nS\t0\t0\t0\t5\nS\t1\t0\t6\t10\n");
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\t/a\nS\t0\t0\t0\t5\nS\t1\t0\t4\t10\n");
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\t/a\nS\t1\t0\t0\t10\n"); /* id */
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\t/a\nS\t0\t1\t0\t10\n"); /* file */
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\t/a\nS\t0\t0\t0\t10\t9\n");
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\t/a\nS\t0\t0\t0\t0\nS\t1\t0\t0\t10\n");
    deser_bad("poisonscan-plan 1\nF\t0\t1\t10\t5\t0\t/a.zst\nS\t0\t0\t0\t4\nS\t1\t0\t4\t10\n");
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\t/a\nS\t0\t0\t0\t10\nF\t1\t0\t0\t5\t0\t/b\n");
    deser_bad("poisonscan-plan 1\nF\t0\t0\t1\t5\t0\t/a\nF\t1\t0\t1\t5\t0\t/b\n"
              "S\t0\t1\t0\t1\nS\t1\t0\t0\t1\n"); /* out of file order */
    deser_bad("poisonscan-plan 1\r\n");
    /* unreadable entries: a reason and an absolute path, once each, before every other record */
    deser_bad("poisonscan-plan 1\nU\tcannot open: Permission denied\n");
    deser_bad("poisonscan-plan 1\nU\t\t/a\n");
    deser_bad("poisonscan-plan 1\nU\tcannot open: Permission denied\tb\n");
    deser_bad("poisonscan-plan 1\nU\tx\t/a\nU\ty\t/a\n");
    deser_bad("poisonscan-plan 1\nF\t0\t0\t10\t5\t0\t/a\nU\tx\t/u\nS\t0\t0\t0\t10\n");
}

static void test_plan_deserialize_survives_every_single_byte_mutation(void **state)
{
    struct fixture *fx = *state;
    struct ps_plan *p = mixed_plan(fx), *q;
    struct ps_buf a, b;
    size_t i;
    int v;

    ps_buf_init(&a, 1 << 20);
    ps_buf_init(&b, 1 << 20);
    assert_int_equal(ps_plan_serialize(p, &a), PS_OK);
    for (i = 0; i < a.len; i++) {
        char keep = a.data[i];
        for (v = 0; v < 3; v++) {
            a.data[i] = (char)(v == 0 ? '\t' : v == 1 ? '9' : keep ^ 1);
            q = NULL;
            if (ps_plan_deserialize(&q, a.data, a.len, NULL) == PS_OK) {
                /* whatever is accepted must serialise back to the same text */
                ps_buf_reset(&b);
                assert_int_equal(ps_plan_serialize(q, &b), PS_OK);
                assert_int_equal(b.len, a.len);
                assert_memory_equal(b.data, a.data, a.len);
                ps_plan_free(q);
            } else {
                assert_null(q);
            }
        }
        a.data[i] = keep;
    }
    ps_buf_release(&a);
    ps_buf_release(&b);
    ps_plan_free(p);
}

static void test_plan_fingerprint_stable_and_tracks_size(void **state)
{
    struct fixture *fx = *state;
    struct ps_plan *p1 = mixed_plan(fx), *p2, *p3;
    char f[PATH_MAX];
    const char *in[1];
    FILE *fp;

    in[0] = fx->root;
    p2 = build_ok(in, 1, 1024); /* same tree, same settings */
    assert_true(ps_plan_fingerprint(p1) == ps_plan_fingerprint(p2));
    ps_plan_free(p2);

    at(fx, "d.ndjson", f);
    fp = fopen(f, "ab");
    assert_non_null(fp);
    fputs("{\"text\":\"more\"}\n", fp);
    fclose(fp);
    p2 = build_ok(in, 1, 1024);
    assert_true(ps_plan_fingerprint(p1) != ps_plan_fingerprint(p2));

    /* a different shard size gives different ranges, hence a different fingerprint */
    p3 = build_ok(in, 1, 2048);
    assert_true(ps_plan_fingerprint(p2) != ps_plan_fingerprint(p3));
    ps_plan_free(p1);
    ps_plan_free(p2);
    ps_plan_free(p3);
}

/* A resumed job checks its saved plan against the disk: untouched files pass; a file that grew,
 * one rewritten to the same size and one removed are each named. */
static void test_plan_check_files_names_changed_and_vanished(void **state)
{
    struct fixture *fx = *state;
    struct ps_plan *p = mixed_plan(fx);
    const char *in[1] = {fx->root};
    struct ps_errdetail ed = {0};
    struct timespec old[2] = {{0, 0}, {1000000000, 5}};
    char f[PATH_MAX];
    FILE *fp;

    assert_int_equal(ps_plan_check_files(p, &ed), PS_OK);

    at(fx, "d.ndjson", f);
    fp = fopen(f, "ab");
    assert_non_null(fp);
    fputs("{\"text\":\"more\"}\n", fp);
    fclose(fp);
    assert_int_equal(ps_plan_check_files(p, &ed), PS_ERR_USAGE);
    assert_non_null(strstr(ed.msg, "d.ndjson"));
    assert_non_null(strstr(ed.msg, "changed size"));
    ps_plan_free(p);

    p = build_ok(in, 1, 1024);
    old[0].tv_nsec = UTIME_OMIT;
    assert_int_equal(utimensat(AT_FDCWD, f, old, 0), 0); /* same size, other mtime */
    assert_int_equal(ps_plan_check_files(p, &ed), PS_ERR_USAGE);
    assert_non_null(strstr(ed.msg, "d.ndjson"));
    assert_non_null(strstr(ed.msg, "modified"));
    ps_plan_free(p);

    p = build_ok(in, 1, 1024);
    assert_int_equal(unlink(f), 0);
    assert_int_equal(ps_plan_check_files(p, &ed), PS_ERR_USAGE);
    assert_non_null(strstr(ed.msg, "d.ndjson"));
    assert_non_null(strstr(ed.msg, "gone"));
    ps_plan_free(p);
}

/* ps_plan_map (--since): every file and shard of an earlier plan found in a plan of the grown
 * corpus, the new files around them; refused, naming the file, when one changed, is gone or is
 * cut otherwise. */
static void map_fails(const struct ps_plan *old, const struct ps_plan *cur, const char *file,
                      const char *why)
{
    uint32_t fm[16], sm[64];
    size_t n;
    struct ps_errdetail ed = {0};

    assert_int_equal(ps_plan_map(old, cur, fm, sm, &n, &ed), PS_ERR_USAGE);
    assert_non_null(strstr(ed.msg, file));
    assert_non_null(strstr(ed.msg, why));
}

static void test_plan_map_finds_an_earlier_plan_in_a_grown_one(void **state)
{
    struct fixture *fx = *state;
    struct ps_plan *p = mixed_plan(fx), *q;
    const char *in[1] = {fx->root};
    uint32_t fm[16], sm[64];
    size_t n = 0;
    struct ps_errdetail ed = {0};
    char data[3000], f[PATH_MAX];

    assert_true(ps_plan_n_files(p) <= 16 && ps_plan_n_shards(p) <= 32);
    write_rel(fx, "0.jsonl", data, gen_jsonl(data, sizeof(data), 3, 200));
    write_rel(fx, "f.jsonl.zst", data, 100);
    q = build_ok(in, 1, 1024);
    assert_int_equal(ps_plan_map(p, q, fm, sm, &n, &ed), PS_OK);
    assert_int_equal(n, ps_plan_n_shards(p));
    assert_true(ps_plan_n_shards(q) > n);
    for (size_t i = 0; i < ps_plan_n_files(p); i++)
        assert_string_equal(ps_plan_file(q, fm[i]), ps_plan_file(p, i));
    for (size_t i = 0; i < ps_plan_n_shards(p); i++) {
        const struct ps_shard *a = ps_plan_shard(p, i), *b = ps_plan_shard(q, sm[i]);
        assert_string_equal(a->path, b->path);
        assert_int_equal(a->begin, b->begin);
        assert_int_equal(a->end, b->end);
    }
    ps_plan_free(q);

    q = build_ok(in, 1, 2048); /* another shard size */
    map_fails(p, q, "a.jsonl", "cut into other shards");
    ps_plan_free(q);
    at(fx, "d.ndjson", f);
    write_rel(fx, "d.ndjson", data, 400);
    q = build_ok(in, 1, 1024);
    map_fails(p, q, "d.ndjson", "changed size");
    ps_plan_free(q);
    at(fx, "c.jsonl.zst", f);
    assert_int_equal(unlink(f), 0);
    q = build_ok(in, 1, 1024);
    map_fails(p, q, "c.jsonl.zst", "no longer part of the corpus");
    ps_plan_free(q);
    ps_plan_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plan_walks_dirs_sorted_with_suffix_filter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_explicit_file_taken_whatever_its_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_relative_input_becomes_absolute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_duplicates_listed_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_does_not_follow_dir_symlinks_in_walks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_missing_input_is_io_error_naming_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_unreadable_dir_is_io_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_unreadable_file_in_a_walk_is_listed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_rejects_bad_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_path_with_newline_is_unsupported, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_manifest_comments_relative_paths_crlf, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_manifest_bad_line_names_file_and_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_manifest_missing_entry_names_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_manifest_line_too_long, setup, teardown),
        cmocka_unit_test(test_plan_manifest_buf_joins_base_dir),
        cmocka_unit_test_setup_teardown(test_plan_splits_plain_file_at_line_starts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_cuts_of_the_next_file_read_that_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_calls_idle_every_so_many_files_and_cuts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_cut_on_exact_line_start_is_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_long_line_and_missing_final_newline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_compressed_is_one_shard_and_empty_file_has_none,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_check_files_names_changed_and_vanished, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_serialize_round_trip, setup, teardown),
        cmocka_unit_test(test_plan_common_dir_is_the_deepest_folder_of_every_file),
        cmocka_unit_test_setup_teardown(test_plan_map_finds_an_earlier_plan_in_a_grown_one, setup,
                                        teardown),
        cmocka_unit_test(test_plan_deserialize_rejects_broken_plans),
        cmocka_unit_test_setup_teardown(test_plan_deserialize_survives_every_single_byte_mutation,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_fingerprint_stable_and_tracks_size, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
