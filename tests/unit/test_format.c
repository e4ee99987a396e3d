/* test_format.c - the format vocabulary: container and layout detection from names and first
 * bytes, the walk's name filter, --format words, codes (old plans keep their values) and names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/format.h"

static void test_format_container_from_suffix_then_magic(void **state)
{
    static const char zst[] = {0x28, (char)0xB5, 0x2F, (char)0xFD, 0};
    static const char gz[] = {0x1F, (char)0x8B, 8};

    (void)state;
    assert_int_equal(ps_format_container_of("a.jsonl.zst", NULL, 0), PS_FORMAT_ZST);
    assert_int_equal(ps_format_container_of("a.zstd", NULL, 0), PS_FORMAT_ZST);
    assert_int_equal(ps_format_container_of("a.warc.wet.gz", NULL, 0), PS_FORMAT_GZ);
    /* the name wins over the bytes: a .gz that holds zstd is a damaged .gz */
    assert_int_equal(ps_format_container_of("a.gz", zst, sizeof(zst)), PS_FORMAT_GZ);
    /* names that do not say: the magic decides */
    assert_int_equal(ps_format_container_of("shard-0001", zst, sizeof(zst)), PS_FORMAT_ZST);
    assert_int_equal(ps_format_container_of("a.jsonl", gz, sizeof(gz)), PS_FORMAT_GZ);
    assert_int_equal(ps_format_container_of("a.jsonl", "{\"text\"", 7), PS_FORMAT_PLAIN);
    assert_int_equal(ps_format_container_of("a.jsonl", zst, 3), PS_FORMAT_PLAIN);
    assert_int_equal(ps_format_container_of("a.jsonl", "", 0), PS_FORMAT_PLAIN);
}

static void test_format_layout_from_name(void **state)
{
    (void)state;
    assert_int_equal(ps_format_layout_of_name("a.jsonl"), PS_FORMAT_JSONL);
    assert_int_equal(ps_format_layout_of_name("a.ndjson.gz"), PS_FORMAT_JSONL);
    assert_int_equal(ps_format_layout_of_name("d/train.json"), PS_FORMAT_JSON);
    assert_int_equal(ps_format_layout_of_name("train.json.zst"), PS_FORMAT_JSON);
    assert_int_equal(ps_format_layout_of_name("CC-MAIN-2024-00000.warc.wet.gz"), PS_FORMAT_WET);
    assert_int_equal(ps_format_layout_of_name("x.wet"), PS_FORMAT_WET);
    assert_int_equal(ps_format_layout_of_name("doc.txt"), PS_FORMAT_TXT);
    assert_int_equal(ps_format_layout_of_name("doc.txt.zstd"), PS_FORMAT_TXT);
    assert_int_equal(ps_format_layout_of_name("a.zst.txt"), PS_FORMAT_TXT);
    assert_int_equal(ps_format_layout_of_name("a.warc.gz"), PS_FORMAT_LAYOUT_AUTO);
    assert_int_equal(ps_format_layout_of_name("a.JSONL"), PS_FORMAT_LAYOUT_AUTO);
    assert_int_equal(ps_format_layout_of_name("shard"), PS_FORMAT_LAYOUT_AUTO);
}

static void test_format_layout_from_content(void **state)
{
    (void)state;
    assert_int_equal(ps_format_layout_of_content("WARC/1.0\r\n", 10), PS_FORMAT_WET);
    assert_int_equal(ps_format_layout_of_content(" \r\n\t[{\"a\":1}]", 13), PS_FORMAT_JSON);
    assert_int_equal(ps_format_layout_of_content("{\"text\":\"[\"}", 12), PS_FORMAT_JSONL);
    assert_int_equal(ps_format_layout_of_content("   ", 3), PS_FORMAT_JSONL);
    assert_int_equal(ps_format_layout_of_content("", 0), PS_FORMAT_JSONL);
    assert_int_equal(ps_format_layout_of_content("WARC", 4), PS_FORMAT_JSONL);
}

static void test_format_walk_takes_corpus_names_only(void **state)
{
    static const char *const yes[] = {"a.jsonl",     "a.ndjson.gz", "b.json", "b.json.zst",
                                      "c.warc.wet",  "c.wet.gz",    "d.txt",  "d.txt.zstd",
                                      "dir/e.jsonl", "x.y.json"};
    static const char *const no[] = {".jsonl", "a.jsonl.bak", "A.JSONL", "a.warc.gz", "a.gz",
                                     "a.zst",  "json",        "a.tar",   "dir/.txt",  ".json.gz"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(ps_format_name_is_corpus(yes[i]));
    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(ps_format_name_is_corpus(no[i]));
}

static void test_format_choices_map_to_requests(void **state)
{
    struct ps_format f;
    char name[64];
    int i;

    (void)state;
    for (i = 0; ps_format_choices[i] != NULL; i++) {
        f = ps_format_from_choice(i);
        ps_format_name(f, name, sizeof(name));
        if (i == 0)
            assert_string_equal(name, "auto");
        else if (i <= 4)
            assert_string_equal(name, ps_format_choices[i]);
        else
            assert_true(strlen(name) > 5 && strcmp(name + 5, ps_format_choices[i]) == 0);
    }
    assert_int_equal(i, 10);
    f = ps_format_from_choice(2);
    assert_int_equal(f.layout, PS_FORMAT_JSON);
    assert_int_equal(f.record, PS_FORMAT_RECORD_AUTO);
    f = ps_format_from_choice(6);
    assert_int_equal(f.layout, PS_FORMAT_LAYOUT_AUTO);
    assert_int_equal(f.record, PS_FORMAT_RECORD_ALPACA);
}

static void test_format_codes_round_trip_and_keep_old_values(void **state)
{
    struct ps_format f, g;
    char name[64];
    int c, l, r, n_valid = 0;

    (void)state;
    f.layout = PS_FORMAT_JSONL;
    f.record = PS_FORMAT_RECORD_AUTO;
    for (c = 0; c <= 2; c++) {
        f.container = (enum ps_format_container)c;
        assert_int_equal(ps_format_code(f), c); /* plans and leases of old carried 0, 1, 2 */
    }
    for (c = 0; c <= 2; c++) {
        for (l = 0; l <= 3; l++) {
            for (r = 0; r <= 5; r++) {
                f.container = (enum ps_format_container)c;
                f.layout = (enum ps_format_layout)l;
                f.record = (enum ps_format_record)r;
                if (!ps_format_from_code(ps_format_code(f), &g))
                    continue;
                n_valid++;
                assert_memory_equal(&f, &g, sizeof(f));
            }
        }
    }
    /* a shape only with the JSON layouts */
    assert_int_equal(n_valid, 3 * (2 * 6 + 2));
    assert_false(ps_format_from_code(-1, &g));
    assert_false(ps_format_from_code(3, &g));
    assert_false(ps_format_from_code(4 << 4, &g));
    assert_false(ps_format_from_code(6 << 8, &g));
    assert_false(ps_format_from_code(2 << 4 | 1 << 8, &g));
    assert_true(ps_format_from_code(1 << 4 | 2 << 8 | 2, &g));
    ps_format_name(g, name, sizeof(name));
    assert_string_equal(name, "json:alpaca.gz");
    assert_false(ps_format_splittable(g));
    g.container = PS_FORMAT_PLAIN;
    g.layout = PS_FORMAT_JSONL;
    assert_true(ps_format_splittable(g));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_container_from_suffix_then_magic),
        cmocka_unit_test(test_format_layout_from_name),
        cmocka_unit_test(test_format_layout_from_content),
        cmocka_unit_test(test_format_walk_takes_corpus_names_only),
        cmocka_unit_test(test_format_choices_map_to_requests),
        cmocka_unit_test(test_format_codes_round_trip_and_keep_old_values),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
