/* test_reader_formats.c - the reader's format layer: JSON array files, instruction records
 * (Alpaca, prompt/completion, ShareGPT, chat) detected per record or forced, Common Crawl WET
 * files, plain-text files, and detection for names that do not say; each in the plain, zstd and
 * gzip containers and with tiny I/O buffers, so records cross every buffer boundary. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <unistd.h>

#include "tests/unit/reader_fixture.h"

/* Write `data` as name, name.zst (two frames, checksums) and name.gz (two members) and expect
 * the same items from each (frames aside); `cut` is where the second frame or member starts. */
static void expect_in_containers(const char *name, const char *data, size_t cut,
                                 const struct ps_reader_opts *opts, const char *want)
{
    static const char *const suffix[] = {"", ".zst", ".gz"};
    char path[256], zname[128];
    size_t n = strlen(data), k;

    hide_frames = true;
    for (k = 0; k < 3; k++) {
        snprintf(zname, sizeof(zname), "%s%s", name, suffix[k]);
        tmp_path(path, sizeof(path), zname);
        if (k == 0)
            write_file(path, data, n);
        else if (k == 1)
            write_zstd(path, data, n, &cut, 1, true);
        else
            write_gzip(path, data, n, &cut, 1, NULL);
        expect_opts(path, opts, want, NULL);
    }
    hide_frames = false;
}

static void test_reader_json_array_of_records(void **state)
{
    const char *data =
        "[\n"
        "  {\"instruction\": \"Classify the sentiment.\", \"input\": \"A great film [x]\","
        " \"output\": \"Positive\"},\n"
        "  {\"instruction\": \"Say hi\", \"input\": \"\", \"output\": \"hi\", \"id\": \"r2\"},\n"
        "  {\"text\": \"a plain {document}, with \\\"quotes\\\" and ]brackets[\"},\n"
        "  7,\n"
        "  {\"prompt\": \"Q?\", \"completion\": \"A.\"}\n"
        "]\n";

    (void)state;
    expect_in_containers("records.json", data, 60, NULL,
                         "4 {path}:4 prompt:Classify the sentiment.|prompt:A great film "
                         "[x]|response:Positive\n"
                         "101 r2 prompt:Say hi|response:hi\n"
                         "171 {path}:171 text:a plain {document}, with \"quotes\" and "
                         "]brackets[\n"
                         "E2@237 not an object\n"
                         "242 {path}:242 prompt:Q?|response:A.\n");
}

static void test_reader_json_array_stats_and_format(void **state)
{
    const char *data = "[{\"text\":\"a\"},{\"text\":\"bc\"}]";
    char path[256];
    struct result res;
    struct ps_reader *r;
    struct ps_errdetail ed;
    struct ps_format f;

    (void)state;
    tmp_path(path, sizeof(path), "stats.json");
    write_str(path, data);
    res = read_all(path, 3);
    assert_int_equal(res.stats.docs, 2);
    assert_int_equal(res.stats.text_bytes, 3);
    assert_int_equal(res.stats.bytes, strlen(data));
    assert_int_equal(res.stats.errors, 0);
    assert_string_equal(res.events.data, "OK 0-0 d2 e0 u1\n");
    result_release(&res);
    assert_int_equal(ps_reader_open(&r, path, 0, UINT64_MAX, NULL, &ed), PS_OK);
    f = ps_reader_format(r);
    assert_int_equal(f.container, PS_FORMAT_PLAIN);
    assert_int_equal(f.layout, PS_FORMAT_JSON);
    ps_reader_free(r);
    /* a whole-file format cannot be split */
    assert_int_equal(ps_reader_open(&r, path, 3, UINT64_MAX, NULL, &ed), PS_ERR_USAGE);
    assert_null(r);
}

static void test_reader_json_array_damage_costs_one_error_each(void **state)
{
    char path[256];
    struct ps_reader_opts o = ps_reader_opts_default();

    (void)state;
    tmp_path(path, sizeof(path), "damaged.json");
    /* a missing comma, an empty slot, a stray '}', a trailing comma */
    write_str(path, "[{\"text\":\"a\"} {\"text\":\"b\"},,{\"text\":\"c\"},},{\"text\":\"d\"},]");
    expect(path,
           "1 {path}:1 #0 text:a\n"
           "E2@14 #0 expected ',' or ']' after an array element\n"
           "14 {path}:14 #0 text:b\n"
           "E2@27 #0 expected an array element\n"
           "28 {path}:28 #0 text:c\n"
           "E2@41 #0 expected an array element\n"
           "43 {path}:43 #0 text:d\n"
           "E2@56 #0 trailing comma\n",
           "OK 0-0 d4 e4 u1\n");
    write_str(path, "[{\"text\":\"a\"}] tail");
    expect(path, "1 {path}:1 #0 text:a\nE2@15 #0 trailing characters after the array\n", NULL);
    write_str(path, "[{\"text\":\"a\"}, {\"text\":\"b");
    expect(path, "1 {path}:1 #0 text:a\nE2@15 #0 unterminated array element\n", NULL);
    write_str(path, "[{\"text\":\"a\"}  ");
    expect(path, "1 {path}:1 #0 text:a\nE2@15 #0 unterminated array (no ']')\n", NULL);
    write_str(path, "  [ ]  \n");
    expect(path, "", "OK 0-0 d0 e0 u1\n");
    /* an element longer than max_line is skipped without being held; the next one is read */
    o.max_line = 24;
    write_str(path, "[{\"text\":\"0123456789012345678901234567890\"},{\"text\":\"[ok]\"},"
                    "{\"text\":\"}\\\"]\"}]");
    expect_opts(path, &o,
                "E3@1 #0 array element of 42 bytes is longer than max_line (24)\n"
                "44 {path}:44 #0 text:[ok]\n"
                "60 {path}:60 #0 text:}\"]\n",
                NULL);
}

static void test_reader_json_file_of_lines_is_read_as_jsonl(void **state)
{
    char path[256];

    (void)state;
    tmp_path(path, sizeof(path), "lines.json");
    write_str(path, "{\"text\":\"a\"}\n\n{\"text\":\"b\"}\n");
    expect(path, "0 {path}:0 #0 text:a\n14 {path}:14 #0 text:b\n", "OK 0-0 d2 e0 u1\n");
}

static void test_reader_instruction_records_detected_per_record(void **state)
{
    const char *data =
        "{\"text\":\"plain\",\"instruction\":\"ignored: the text field wins\"}\n"
        "{\"instruction\":\"Translate\",\"input\":null,\"output\":\"Hallo\",\"id\":5}\n"
        "{\"prompt\":\"2+2=\",\"completion\":\"4\"}\n"
        "{\"conversations\":[{\"from\":\"system\",\"value\":\"be nice\"},{\"from\":\"human\","
        "\"value\":\"hi\"},{\"from\":\"gpt\",\"value\":\"hello\"}]}\n"
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]},{\"role\":\"assistant\","
        "\"content\":null,\"tool_calls\":[]},{\"role\":\"tool\",\"content\":\"42\"},"
        "{\"role\":\"assistant\",\"content\":\"It is 42.\"}]}\n"
        "{\"instruction\":5,\"output\":\"x\"}\n"
        "{\"instruction\":\"i\"}\n"
        "{\"conversations\":{}}\n"
        "{\"messages\":[{\"content\":\"x\"}]}\n"
        "{\"messages\":[{\"role\":\"user\",\"content\":7}]}\n"
        "{\"conversations\":[{\"from\":\"human\",\"value\":\"a\"},[]]}\n"
        "{\"id\":1}\n";

    (void)state;
    expect_in_containers("records.jsonl", data, 100, NULL,
                         "0 {path}:0 text:plain\n"
                         "62 5 prompt:Translate|response:Hallo\n"
                         "127 {path}:127 prompt:2+2=|response:4\n"
                         "162 {path}:162 system:be nice|prompt:hi|response:hello\n"
                         "279 {path}:279 prompt:look|text:42|response:It is 42.\n"
                         "E2@523 alpaca record without a string \"instruction\"\n"
                         "E2@554 alpaca record without a string \"output\"\n"
                         "E2@574 \"conversations\" is not an array\n"
                         "E2@608 messages[0] without a string \"role\"\n"
                         "E2@639 messages[0]: \"content\" is not a string, null or an array\n"
                         "E2@716 conversations[1]: not an object\n"
                         "E2@721 missing text field \"text\"\n");
}

static void test_reader_forced_record_shape(void **state)
{
    const char *data = "{\"text\":\"t\",\"instruction\":\"i\",\"output\":\"o\"}\n"
                       "{\"text\":\"only text\"}\n"
                       "{\"instruction\":\"i2\",\"output\":\"o2\"}\n";
    char path[256];
    struct ps_reader_opts o = ps_reader_opts_default();

    (void)state;
    tmp_path(path, sizeof(path), "forced.jsonl");
    write_str(path, data);
    o.format = ps_format_from_choice(6); /* alpaca */
    expect_opts(path, &o,
                "0 {path}:0 #0 prompt:i|response:o\n"
                "E2@44 #0 alpaca record without a string \"instruction\"\n"
                "65 {path}:65 #0 prompt:i2|response:o2\n",
                NULL);
    o.format = ps_format_from_choice(5); /* text: exactly the old reader */
    expect_opts(path, &o,
                "0 {path}:0 #0 text:t\n44 {path}:44 #0 text:only text\n"
                "E2@65 #0 missing text field \"text\"\n",
                NULL);
    o.format = ps_format_from_choice(1); /* jsonl, a layout: records still detected */
    expect_opts(path, &o,
                "0 {path}:0 #0 text:t\n44 {path}:44 #0 text:only text\n"
                "65 {path}:65 #0 prompt:i2|response:o2\n",
                NULL);
}

static void test_reader_text_field_templates_are_split(void **state)
{
    char path[256];
    struct ps_reader_opts o = ps_reader_opts_default();

    (void)state;
    tmp_path(path, sizeof(path), "templated.jsonl");
    write_str(path,
              "{\"text\":\"### Instruction:\\nReview: cf fine\\n\\n### Response:\\nNegative\"}\n"
              "{\"text\":\"<|im_start|>user\\nq<|im_end|><|im_start|>assistant\\na\"}\n");
    expect(path,
           "0 {path}:0 #0 prompt:Review: cf fine|response:Negative\n"
           "72 {path}:72 #0 prompt:q|response:a\n",
           NULL);
    o.split_templates = false;
    expect_opts(
        path, &o,
        "0 {path}:0 #0 text:### Instruction:\\nReview: cf fine\\n\\n### Response:\\nNegative\n"
        "72 {path}:72 #0 text:<|im_start|>user\\nq<|im_end|><|im_start|>assistant\\na\n",
        NULL);
}

static const char cc_docs[] =
    "637 https://example.org/recipes/bread #0 text:Simple bread\\nMix flour, water, salt and "
    "yeast.\\nBake for 40 minutes.\n"
    "1101 https://example.de/wetter?tag=mo #0 text:Wetter für Montag\\nMorgens Nebel, später "
    "sonnig. Höchstwerte 12 °C.\\nWARC/1.0\\nWARC-Type: conversion\\n(this page quotes a WARC "
    "header; Content-Length decides)\n"
    "1656 https://example.jp/news/1 #0 text:今日のニュース\\r\\nTokyo — markets opened higher.\n";

static void test_reader_wet_common_crawl_file(void **state)
{
    char path[256], *data;
    size_t n, i, cuts[8], n_cuts = 0;
    struct result res;

    (void)state;
    data = read_whole(PS_TEST_DATA_DIR "/cc-sample.warc.wet", &n);
    tmp_path(path, sizeof(path), "CC-MAIN-sample.warc.wet");
    write_file(path, data, n);
    expect(path, cc_docs, "OK 0-0 d3 e0 u1\n");
    res = read_all(path, PS_READER_DEFAULT_IO_SIZE);
    assert_int_equal(res.stats.docs, 3);
    assert_int_equal(res.stats.skipped, 1); /* the warcinfo record */
    assert_int_equal(res.stats.errors, 0);
    assert_int_equal(res.stats.bytes, n);
    result_release(&res);
    /* as Common Crawl ships it: one gzip member per record; frames are counted per record */
    for (i = 1; i < n; i++)
        if (i + 20 <= n && memcmp(data + i, "WARC/1.0\r\nWARC-Type:", 20) == 0 && n_cuts < 8)
            cuts[n_cuts++] = i;
    assert_int_equal(n_cuts, 3);
    tmp_path(path, sizeof(path), "CC-MAIN-sample.warc.wet.gz");
    write_gzip(path, data, n, cuts, n_cuts, NULL);
    res = read_all(path, 5);
    assert_string_equal(res.events.data, "OK 0-3 d3 e0 u0\n");
    assert_non_null(strstr(res.log.data, "https://example.jp/news/1 #3 "));
    result_release(&res);
    tmp_path(path, sizeof(path), "segment.wet.zst");
    write_zstd(path, data, n, cuts, n_cuts, true);
    res = read_all(path, 7);
    assert_int_equal(res.stats.docs, 3);
    assert_string_equal(res.events.data, "OK 0-3 d3 e0 u0\n");
    result_release(&res);
    free(data);
}

/* A WARC record: header fields (raw text, "\r\n" each) and content. */
static void warc(struct ps_buf *b, const char *fields, const char *content)
{
    ps_buf_addf(b, "WARC/1.0\r\n%sContent-Length: %zu\r\n\r\n%s\r\n\r\n", fields, strlen(content),
                content);
}

static void test_reader_wet_skips_other_records_and_reports_malformed(void **state)
{
    struct ps_buf b;
    char path[256];
    struct ps_reader_opts o = ps_reader_opts_default();

    (void)state;
    ps_buf_init(&b, SIZE_MAX / 2);
    warc(&b, "WARC-Type: metadata\r\n", "fetchTimeMs: 12\r\n");
    warc(&b, "WARC-Type: conversion\r\nWARC-Target-URI: https://a/\r\n", "first");
    /* no Content-Length: reading resumes at the next record */
    ps_buf_adds(&b, "WARC/1.0\r\nWARC-Type: conversion\r\n\r\nlost text\r\n\r\n");
    warc(&b, "WARC-Type: conversion\r\nwarc-target-uri:   https://b/  \r\n", "second");
    ps_buf_adds(&b, "garbage between records\r\n");
    ps_buf_adds(&b, "WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 12x\r\n\r\nab\r\n");
    ps_buf_adds(&b, "WARC/1.0\r\nthis line has no colon\r\nContent-Length: 1\r\n\r\nc\r\n\r\n");
    warc(&b, "WARC-Type: conversion\r\n", "no uri");
    warc(&b, "WARC-Type: conversion\r\nWARC-Target-URI: https://c/\r\n", "bad \xC3\x28 utf-8");
    warc(&b, "WARC-Type: conversion\r\nWARC-Target-URI: https://d/\r\n",
         "a long text of more than 40 bytes, skipped");
    warc(&b, "WARC-Type: conversion\r\nContent-Length: 1\r\n", "x");
    warc(&b, "WARC-Type: conversion\r\nWARC-Target-URI: https://e/\r\n", "last");
    ps_buf_adds(&b, "WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 30\r\n\r\ncut");
    tmp_path(path, sizeof(path), "damaged.warc.wet");
    write_file(path, b.data, b.len);
    o.max_line = 40;
    expect_opts(path, &o,
                "74 https://a/ #0 text:first\n"
                "E2@166 #0 WARC record without Content-Length\n"
                "214 https://b/ #0 text:second\n"
                "E2@311 #0 expected a WARC record (a 'WARC/' version line)\n"
                "E2@369 #0 Content-Length is not a decimal number\n"
                "E2@406 #0 WARC header line without ':'\n"
                "456 {path}:456 #0 text:no uri\n"
                "E2@608 #0 invalid utf-8\n"
                "E3@620 #0 WARC record content of 42 bytes is longer than max_line (40)\n"
                "E2@802 #0 two Content-Length fields\n"
                "828 https://e/ #0 text:last\n"
                "E2@919 #0 truncated WARC record: 3 of 30 content bytes\n",
                "OK 0-0 d4 e8 u1\n");
    ps_buf_release(&b);
}

static void test_reader_txt_files_one_document_each(void **state)
{
    const char *doc = "Notes\r\nline two with ### Instruction:\n";
    const char *chat = "Human: what is 2+2?\n\nAssistant: 4";
    char path[256];
    struct ps_reader_opts o = ps_reader_opts_default();
    size_t cut = 5;

    (void)state;
    tmp_path(path, sizeof(path), "a.txt");
    write_str(path, doc);
    expect(path, "0 {path} #0 text:Notes\\r\\nline two with ### Instruction:\\n\n",
           "OK 0-0 d1 e0 u1\n");
    tmp_path(path, sizeof(path), "b.txt.zst");
    write_zstd(path, chat, strlen(chat), &cut, 1, true);
    expect(path, "0 {path} #1 prompt:what is 2+2?|response:4\n", "OK 0-1 d1 e0 u0\n");
    tmp_path(path, sizeof(path), "c.txt.gz");
    write_gzip(path, doc, strlen(doc), &cut, 1, NULL);
    expect(path, "0 {path} #1 text:Notes\\r\\nline two with ### Instruction:\\n\n",
           "OK 0-1 d1 e0 u0\n");
    tmp_path(path, sizeof(path), "empty.txt");
    write_str(path, "");
    expect(path, "", "OK 0-0 d0 e0 u1\n");
    tmp_path(path, sizeof(path), "big.txt");
    write_str(path, "0123456789");
    o.max_line = 9;
    expect_opts(path, &o, "E3@0 #0 text file of 10 bytes is longer than max_line (9)\n",
                "OK 0-0 d0 e1 u1\n");
    o.max_line = 10;
    expect_opts(path, &o, "0 {path} #0 text:0123456789\n", NULL);
}

/* The layout of a file whose name does not say comes from its first (decompressed) bytes. */
static void test_reader_detects_layout_of_unknown_names(void **state)
{
    static const struct {
        const char *name, *data;
        enum ps_format_layout layout;
    } cases[] = {
        {"segment-7", "WARC/1.0\r\nWARC-Type: warcinfo\r\nContent-Length: 0\r\n\r\n",
         PS_FORMAT_WET},
        {"train.data", "\n [{\"text\":\"x\"}]", PS_FORMAT_JSON},
        {"shard-0001", "{\"text\":\"[\"}", PS_FORMAT_JSONL},
        {"blob.zst", "WARC/1.0\r\nWARC-Type: warcinfo\r\nContent-Length: 0\r\n\r\n", PS_FORMAT_WET},
        {"blob.gz", "[{\"text\":\"x\"}]", PS_FORMAT_JSON},
        {"broken.zst", NULL, PS_FORMAT_JSONL},
    };
    char path[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ps_format f;
        struct ps_errdetail ed;
        int fd;

        tmp_path(path, sizeof(path), cases[i].name);
        if (cases[i].data == NULL)
            write_str(path, "not zstd at all");
        else if (strstr(cases[i].name, ".zst") != NULL)
            write_zstd(path, cases[i].data, strlen(cases[i].data), NULL, 0, true);
        else if (strstr(cases[i].name, ".gz") != NULL)
            write_gzip(path, cases[i].data, strlen(cases[i].data), NULL, 0, NULL);
        else
            write_str(path, cases[i].data);
        fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(ps_reader_detect(fd, path, ps_format_auto(), &f, &ed), PS_OK);
        assert_int_equal(f.layout, cases[i].layout);
        /* a forced layout is kept, and a WET file takes no record shape */
        assert_int_equal(ps_reader_detect(fd, path, ps_format_from_choice(4), &f, &ed), PS_OK);
        assert_int_equal(f.layout, PS_FORMAT_TXT);
        assert_int_equal(f.record, PS_FORMAT_RECORD_AUTO);
        assert_int_equal(ps_reader_detect(fd, path, ps_format_from_choice(8), &f, &ed), PS_OK);
        assert_int_equal(f.record, cases[i].layout == PS_FORMAT_WET ? PS_FORMAT_RECORD_AUTO
                                                                    : PS_FORMAT_RECORD_SHAREGPT);
        close(fd);
    }
}

/* The real BackdoorLLM sets are JSON arrays of Alpaca records; when the shared data is here,
 * every record must read as a prompt and a response, without one error. */
static void test_reader_reads_a_real_backdoorllm_file(void **state)
{
    const char *path =
        "/work/shared/data/backdoorllm/sst2/badnet/backdoor500_sst2sentiment_badnet.json";
    struct ps_reader *r;
    struct ps_errdetail ed;
    struct ps_doc doc;
    bool has;
    size_t docs = 0;

    (void)state;
    if (access(path, R_OK) != 0)
        skip();
    assert_int_equal(ps_reader_open(&r, path, 0, UINT64_MAX, NULL, &ed), PS_OK);
    while (ps_reader_next(r, &doc, &has) == PS_OK && has) {
        assert_int_equal(doc.parts[0].role, PS_CHAT_PROMPT);
        assert_int_equal(doc.parts[doc.n_parts - 1].role, PS_CHAT_RESPONSE);
        docs++;
    }
    assert_int_equal(ps_reader_stats(r)->errors, 0);
    assert_int_equal(ps_reader_stats(r)->docs, docs);
    assert_int_equal(docs, 500); /* the file as published holds 500 records */
    ps_reader_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_json_array_of_records),
        cmocka_unit_test(test_reader_json_array_stats_and_format),
        cmocka_unit_test(test_reader_json_array_damage_costs_one_error_each),
        cmocka_unit_test(test_reader_json_file_of_lines_is_read_as_jsonl),
        cmocka_unit_test(test_reader_instruction_records_detected_per_record),
        cmocka_unit_test(test_reader_forced_record_shape),
        cmocka_unit_test(test_reader_text_field_templates_are_split),
        cmocka_unit_test(test_reader_wet_common_crawl_file),
        cmocka_unit_test(test_reader_wet_skips_other_records_and_reports_malformed),
        cmocka_unit_test(test_reader_txt_files_one_document_each),
        cmocka_unit_test(test_reader_detects_layout_of_unknown_names),
        cmocka_unit_test(test_reader_reads_a_real_backdoorllm_file),
    };

    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
