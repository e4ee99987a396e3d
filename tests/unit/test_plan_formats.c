/* test_plan_formats.c - the planner's side of the format layer: every file's format resolved
 * from its name and first bytes (or --format) and recorded, only plain JSON Lines split, the text
 * form carrying the new codes, and hostile trees (symlink loops, dangling links, FIFOs) listed as
 * unreadable in a walk, refused when named, never a hang. */
/* realpath() and mkdtemp() are XSI, beyond the _POSIX_C_SOURCE the build sets. */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/reader.h"
#include "coordinator/plan.h"
#include "tests/unit/plan_fixture.h"

/* The format of file i, decoded. */
static struct ps_format file_format(const struct ps_plan *p, size_t i)
{
    struct ps_format f;

    assert_true(ps_format_from_code(ps_plan_file_format(p, i), &f));
    return f;
}

static void test_plan_records_each_format_and_splits_only_plain_jsonl(void **state)
{
    struct fixture *fx = *state;
    char data[20000], f[PATH_MAX];
    const char *in[2];
    struct ps_plan *p;
    size_t n = gen_jsonl(data, sizeof(data), 3, 200), i, k;
    static const struct {
        const char *name;
        enum ps_format_container container;
        enum ps_format_layout layout;
    } want[] = {
        {"a.jsonl", PS_FORMAT_PLAIN, PS_FORMAT_JSONL},
        {"b.json", PS_FORMAT_PLAIN, PS_FORMAT_JSON},
        {"c.txt", PS_FORMAT_PLAIN, PS_FORMAT_TXT},
        {"d.warc.wet.gz", PS_FORMAT_GZ, PS_FORMAT_WET},
        {"e.txt.zst", PS_FORMAT_ZST, PS_FORMAT_TXT},
        {"segment-7", PS_FORMAT_PLAIN, PS_FORMAT_WET}, /* named explicitly: content decides */
    };

    mkdir_rel(fx, "in");
    write_rel(fx, "in/a.jsonl", data, n);
    write_rel(fx, "in/b.json", data, n); /* JSON Lines in a .json: read as lines, not split */
    write_rel(fx, "in/c.txt", data, n);
    write_rel(fx, "in/d.warc.wet.gz", "\x1f\x8bxx", 4);
    write_rel(fx, "in/e.txt.zst", "zz", 2);
    write_str(fx, "segment-7", "WARC/1.0\r\n");
    at(fx, "in", f);
    in[0] = f;
    at(fx, "segment-7", data);
    in[1] = data;
    p = build_ok(in, 2, 1024);
    assert_int_equal(ps_plan_n_files(p), 6);
    for (i = 0; i < 6; i++) {
        struct ps_format fmt = file_format(p, i);

        assert_non_null(strstr(ps_plan_file(p, i), want[i].name));
        assert_int_equal(fmt.container, want[i].container);
        assert_int_equal(fmt.layout, want[i].layout);
        assert_int_equal(fmt.record, PS_FORMAT_RECORD_AUTO);
    }
    /* a.jsonl is cut at line starts; every other file is one shard */
    for (i = 0, k = 0; i < ps_plan_n_shards(p); i++) {
        const struct ps_shard *sh = ps_plan_shard(p, i);

        if (sh->file_index == 0)
            k++;
        else
            assert_true(sh->begin == 0 && sh->end == ps_plan_file_size(p, sh->file_index));
    }
    assert_true(k >= 10);
    assert_int_equal(ps_plan_n_shards(p), k + 5);
    check_plan_invariants(p);
    ps_plan_free(p);
}

static void test_plan_forced_format_reaches_every_file(void **state)
{
    struct fixture *fx = *state;
    struct ps_plan_opts o = ps_plan_opts_default();
    struct ps_errdetail ed;
    struct ps_plan *p;
    const char *in[1];
    char data[4000];
    size_t n = gen_jsonl(data, sizeof(data), 5, 100);

    write_rel(fx, "a.jsonl", data, n);
    write_rel(fx, "b.json", data, n);
    write_rel(fx, "c.txt", "notes", 5);
    in[0] = fx->root;
    o.shard_size = 1024;
    o.format = ps_format_from_choice(6); /* alpaca: a record shape for the JSON layouts */
    assert_int_equal(ps_plan_build(&p, in, 1, &o, &ed), PS_OK);
    assert_int_equal(file_format(p, 0).record, PS_FORMAT_RECORD_ALPACA);
    assert_int_equal(file_format(p, 1).record, PS_FORMAT_RECORD_ALPACA);
    assert_int_equal(file_format(p, 2).layout, PS_FORMAT_TXT);
    assert_int_equal(file_format(p, 2).record, PS_FORMAT_RECORD_AUTO);
    /* a record shape is still JSON Lines: the plain file splits */
    assert_true(ps_plan_shard(p, 1)->file_index == 0);
    ps_plan_free(p);
    o.format = ps_format_from_choice(1); /* jsonl: the .json file becomes splittable too */
    assert_int_equal(ps_plan_build(&p, in, 1, &o, &ed), PS_OK);
    assert_int_equal(file_format(p, 1).layout, PS_FORMAT_JSONL);
    assert_int_equal(file_format(p, 2).layout, PS_FORMAT_JSONL);
    assert_true(ps_plan_n_shards(p) > 4);
    check_plan_invariants(p);
    ps_plan_free(p);
}

static void test_plan_symlink_loops_are_listed_not_hangs(void **state)
{
    struct fixture *fx = *state;
    char link[PATH_MAX], dangling[PATH_MAX];
    const char *in[1];
    struct ps_errdetail ed;
    struct ps_plan *p;

    /* a directory link back up is never followed: the walk ends */
    mkdir_rel(fx, "w");
    write_str(fx, "w/a.jsonl", "{}\n");
    at(fx, "w/up", link);
    assert_int_equal(symlink("..", link), 0);
    at(fx, "w/gone.jsonl", dangling);
    assert_int_equal(symlink("nowhere.jsonl", dangling), 0);
    at(fx, "w/self.jsonl", link);
    assert_int_equal(symlink("self.jsonl", link), 0); /* a file-named link to itself */
    /* in a walk: listed as unreadable, with the reason, and the walk goes on */
    in[0] = fx->root;
    p = build_ok(in, 1, 1 << 20);
    assert_int_equal(ps_plan_n_files(p), 1);
    assert_int_equal(ps_plan_n_unreadable(p), 2);
    assert_non_null(strstr(ps_plan_unreadable(p, 0).path, "/w/gone.jsonl"));
    assert_string_equal(ps_plan_unreadable(p, 0).reason,
                        "cannot resolve link: No such file or directory");
    assert_non_null(strstr(ps_plan_unreadable(p, 1).path, "/w/self.jsonl"));
    assert_string_equal(ps_plan_unreadable(p, 1).reason,
                        "cannot resolve link: Too many levels of symbolic links");
    ps_plan_free(p);
    /* named explicitly: an error of the build */
    in[0] = link;
    assert_int_equal(build_err(in, 1, &ed), PS_ERR_IO);
    assert_non_null(strstr(ed.msg, "Too many levels of symbolic links"));
    /* without them the walk takes a.jsonl once, through no link, and lists nothing */
    assert_int_equal(unlink(link), 0);
    assert_int_equal(unlink(dangling), 0);
    in[0] = fx->root;
    p = build_ok(in, 1, 1 << 20);
    assert_int_equal(ps_plan_n_files(p), 1);
    assert_int_equal(ps_plan_n_unreadable(p), 0);
    ps_plan_free(p);
}

static void test_plan_fifo_is_never_opened(void **state)
{
    struct fixture *fx = *state;
    char fifo[PATH_MAX];
    const char *in[1];
    struct ps_errdetail ed;
    struct ps_plan *p;

    write_str(fx, "a.jsonl", "{}\n");
    at(fx, "pipe.jsonl", fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    in[0] = fx->root; /* in a walk: listed, never opened (an open would block) */
    p = build_ok(in, 1, 1 << 20);
    assert_int_equal(ps_plan_n_files(p), 1);
    assert_int_equal(ps_plan_n_unreadable(p), 1);
    assert_string_equal(ps_plan_unreadable(p, 0).reason, "not a regular file (a FIFO)");
    ps_plan_free(p);
    in[0] = fifo; /* named: refused */
    assert_int_equal(build_err(in, 1, &ed), PS_ERR_IO);
    assert_non_null(strstr(ed.msg, "not a regular file"));
}

static void test_plan_text_form_carries_new_formats(void **state)
{
    struct fixture *fx = *state;
    struct ps_plan *p, *q;
    struct ps_errdetail ed;
    struct ps_buf a;
    const char *in[1];
    char ok[512];

    write_str(fx, "a.json", "[{\"text\":\"x\"}]");
    write_str(fx, "b.txt", "hello");
    in[0] = fx->root;
    p = build_ok(in, 1, 4);
    ps_buf_init(&a, 1 << 20);
    assert_int_equal(ps_plan_serialize(p, &a), PS_OK);
    assert_non_null(strstr(a.data, "\t16\t14\t")); /* JSON, plain: code 1 << 4 */
    assert_non_null(strstr(a.data, "\t48\t5\t"));  /* TXT, plain: code 3 << 4 */
    assert_int_equal(ps_plan_deserialize(&q, a.data, a.len, &ed), PS_OK);
    assert_int_equal(ps_plan_file_format(q, 1), 48);
    ps_plan_free(q);
    ps_buf_release(&a);
    ps_plan_free(p);
    /* a whole-file format must be one shard; an unknown code is refused */
    snprintf(ok, sizeof(ok),
             "poisonscan-plan 1\nF\t0\t16\t10\t1\t2\t/x.json\nS\t0\t0\t0\t5\nS\t1\t0\t5\t10\n");
    assert_int_equal(ps_plan_deserialize(&q, ok, strlen(ok), &ed), PS_ERR_PARSE);
    assert_non_null(strstr(ed.msg, "must be one whole shard"));
    snprintf(ok, sizeof(ok), "poisonscan-plan 1\nF\t0\t%d\t10\t1\t2\t/x.wet\nS\t0\t0\t0\t10\n",
             PS_FORMAT_WET << 4 | PS_FORMAT_RECORD_ALPACA << 8);
    assert_int_equal(ps_plan_deserialize(&q, ok, strlen(ok), &ed), PS_ERR_PARSE);
    assert_non_null(strstr(ed.msg, "unknown format"));
}

/* A folder of .txt files: one shard and, read, one document per file, its path the id. */
static void test_plan_folder_of_txt_files_is_one_document_per_file(void **state)
{
    struct fixture *fx = *state;
    static const char *const texts[] = {"First note.\n", "Second note,\nwith two lines.",
                                        "Human: hi?\n\nAssistant: hello."};
    char name[32];
    const char *in[1];
    struct ps_plan *p;
    size_t i;

    mkdir_rel(fx, "notes");
    for (i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "notes/n%zu.txt", i);
        write_str(fx, name, texts[i]);
    }
    write_str(fx, "notes/README", "not a corpus name: not taken");
    in[0] = fx->root;
    p = build_ok(in, 1, 4); /* a tiny shard size: .txt files are never split */
    assert_int_equal(ps_plan_n_files(p), 3);
    assert_int_equal(ps_plan_n_shards(p), 3);
    for (i = 0; i < 3; i++) {
        const struct ps_shard *sh = ps_plan_shard(p, i);
        struct ps_reader_opts o = ps_reader_opts_default();
        struct ps_format f;
        struct ps_errdetail ed;
        struct ps_reader *r;
        struct ps_doc doc;
        bool has;

        assert_true(ps_format_from_code(sh->format, &f));
        o.format = f; /* as a worker would from the lease */
        assert_int_equal(ps_reader_open(&r, sh->path, sh->begin, sh->end, &o, &ed), PS_OK);
        assert_int_equal(ps_reader_next(r, &doc, &has), PS_OK);
        assert_true(has);
        assert_int_equal(doc.text_len, strlen(texts[i]));
        assert_memory_equal(doc.text, texts[i], doc.text_len);
        assert_int_equal(doc.id_len, strlen(sh->path));
        assert_memory_equal(doc.id, sh->path, doc.id_len);
        assert_int_equal(doc.n_parts, i == 2 ? 2 : 1);
        assert_int_equal(ps_reader_next(r, &doc, &has), PS_OK);
        assert_false(has);
        ps_reader_free(r);
    }
    ps_plan_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plan_records_each_format_and_splits_only_plain_jsonl,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_forced_format_reaches_every_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_symlink_loops_are_listed_not_hangs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_fifo_is_never_opened, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_text_form_carries_new_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_folder_of_txt_files_is_one_document_per_file,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
