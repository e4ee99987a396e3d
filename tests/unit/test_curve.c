/* test_curve.c - CURVE key material: key pairs, the key file format (comments, names, limits,
 * errors that never quote a line), key files on disk (modes, refusal to overwrite, --force) and
 * the allow set. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "common/curve.h"

struct tmpdir {
    char path[64];
};

static void tmpdir_make(struct tmpdir *d)
{
    strcpy(d->path, "/tmp/pscurve-XXXXXX");
    assert_non_null(mkdtemp(d->path));
}

static void tmpdir_file(const struct tmpdir *d, const char *name, char *dst, size_t cap)
{
    snprintf(dst, cap, "%s/%s", d->path, name);
}

static void tmpdir_remove(struct tmpdir *d)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
    assert_int_equal(system(cmd), 0);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static void test_curve_keypair_is_z85_and_public_matches_secret(void **state)
{
    struct ps_curve_keypair a, b;
    char derived[PS_CURVE_Z85_CAP];

    (void)state;
    if (!ps_curve_available())
        skip();
    assert_int_equal(ps_curve_keypair_new(&a, NULL), PS_OK);
    assert_int_equal(ps_curve_keypair_new(&b, NULL), PS_OK);
    assert_true(ps_curve_z85_valid(a.public_key, strlen(a.public_key)));
    assert_true(ps_curve_z85_valid(a.secret_key, strlen(a.secret_key)));
    assert_int_equal(zmq_curve_public(derived, a.secret_key), 0);
    assert_string_equal(derived, a.public_key);
    assert_string_not_equal(a.secret_key, b.secret_key);
    ps_curve_keypair_wipe(&a);
    for (size_t i = 0; i < sizeof(a.secret_key); i++)
        assert_int_equal(a.secret_key[i], 0);
}

static void test_curve_z85_rejects_wrong_length_chars_and_overflow(void **state)
{
    struct ps_curve_keypair kp;
    char bad[PS_CURVE_Z85_CAP];

    (void)state;
    if (!ps_curve_available())
        skip();
    assert_int_equal(ps_curve_keypair_new(&kp, NULL), PS_OK);
    assert_false(ps_curve_z85_valid(kp.public_key, 39));
    memcpy(bad, kp.public_key, sizeof(bad));
    bad[7] = '"'; /* not in the alphabet */
    assert_false(ps_curve_z85_valid(bad, 40));
    bad[7] = ' ';
    assert_false(ps_curve_z85_valid(bad, 40));
    /* '#' is Z85 (84) but no 5-character group may start with it: 84 * 85^4 > 2^32 - 1 */
    memcpy(bad, kp.public_key, sizeof(bad));
    bad[0] = '#';
    assert_false(ps_curve_z85_valid(bad, 40));
    bad[0] = '%'; /* 82, then the largest digits: 82 * 85^4 + ... > 2^32 - 1 */
    memcpy(bad + 1, "####", 4);
    assert_false(ps_curve_z85_valid(bad, 40));
    assert_true(ps_curve_z85_valid("0000000000000000000000000000000000000000", 40));
}

struct seen {
    char keys[4][PS_CURVE_Z85_CAP];
    char names[4][PS_CURVE_NAME_MAX + 1];
    size_t lines[4];
    size_t n;
};

static enum ps_err collect(void *ctx, const char *z85, const char *name, size_t line_no,
                           struct ps_errdetail *ed)
{
    struct seen *s = ctx;

    (void)ed;
    assert_true(s->n < 4);
    snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", z85);
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
    s->lines[s->n++] = line_no;
    return PS_OK;
}

static void test_curve_parse_takes_keys_names_and_skips_comments(void **state)
{
    struct ps_curve_keypair a, b;
    struct seen s = {0};
    char text[1024];

    (void)state;
    if (!ps_curve_available())
        skip();
    assert_int_equal(ps_curve_keypair_new(&a, NULL), PS_OK);
    assert_int_equal(ps_curve_keypair_new(&b, NULL), PS_OK);
    snprintf(text, sizeof(text),
             "# workers of rack 7\n"
             "\n"
             "  %s   gpu-07.rack@site:a+b_c  \r\n"
             "\t# %s disabled with a comment\n"
             "#%s disabled without a blank\n"
             "%s",
             a.public_key, b.public_key, b.public_key, b.public_key);
    assert_int_equal(ps_curve_parse(text, strlen(text), "allow", collect, &s, NULL), PS_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.keys[0], a.public_key);
    assert_string_equal(s.names[0], "gpu-07.rack@site:a+b_c");
    assert_int_equal(s.lines[0], 3);
    assert_string_equal(s.keys[1], b.public_key);
    assert_string_equal(s.names[1], "");
    assert_int_equal(s.lines[1], 6);
}

/* Each bad line fails with its line number, and the message never quotes the line: it may be a
 * secret key. */
static void test_curve_parse_errors_name_the_line_and_never_quote_it(void **state)
{
    static const struct {
        int key_len;
        const char *rest;
    } cases[] = {
        {40, " extra words"},
        {40, " name/with/slash"},
        {40, "\001"},
        {40, "X"},
        {39, ""},
        {40, " 0123456789012345678901234567890123456789012345678901234567890123456789"},
    };
    struct ps_curve_keypair kp;
    char text[1024], longline[400];
    struct ps_errdetail ed;

    (void)state;
    if (!ps_curve_available())
        skip();
    assert_int_equal(ps_curve_keypair_new(&kp, NULL), PS_OK);
    memset(longline, 'a', sizeof(longline) - 1);
    longline[sizeof(longline) - 1] = '\0';
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct seen s = {0};
        snprintf(text, sizeof(text), "# header\n%.*s%s\n", cases[i].key_len, kp.secret_key,
                 cases[i].rest);
        memset(&ed, 0, sizeof(ed));
        assert_int_equal(ps_curve_parse(text, strlen(text), "k", collect, &s, &ed), PS_ERR_PARSE);
        assert_non_null(strstr(ed.msg, "line 2"));
        assert_null(strstr(ed.msg, kp.secret_key));
        assert_null(strstr(ed.msg, "0123456789"));
    }
    snprintf(text, sizeof(text), "%s\n", longline);
    assert_int_equal(ps_curve_parse(text, strlen(text), "k", collect, &(struct seen){0}, &ed),
                     PS_ERR_PARSE);
    assert_non_null(strstr(ed.msg, "longer than"));
    /* a NUL inside a line is a control character, not the end of the text */
    memcpy(text, kp.public_key, 40);
    text[40] = '\0';
    text[41] = 'x';
    assert_int_equal(ps_curve_parse(text, 42, "k", collect, &(struct seen){0}, &ed), PS_ERR_PARSE);
}

static void test_curve_parse_refuses_oversized_text(void **state)
{
    size_t n = PS_CURVE_FILE_MAX + 1;
    char *big = malloc(n);
    struct ps_errdetail ed;

    (void)state;
    assert_non_null(big);
    memset(big, '\n', n);
    assert_int_equal(ps_curve_parse(big, n, "big", collect, &(struct seen){0}, &ed), PS_ERR_LIMIT);
    assert_int_equal(ps_curve_parse(big, n - 1, "big", collect, &(struct seen){0}, &ed), PS_OK);
    free(big);
}

static void test_curve_keygen_files_modes_and_refusal_to_overwrite(void **state)
{
    struct tmpdir d;
    struct ps_curve_keypair kp, again, read_back;
    char sec[128], pub[128], got[PS_CURVE_Z85_CAP];
    struct stat st;
    struct ps_errdetail ed;
    bool loose = true;

    (void)state;
    if (!ps_curve_available())
        skip();
    tmpdir_make(&d);
    tmpdir_file(&d, "w7.key", sec, sizeof(sec));
    tmpdir_file(&d, "w7.pub", pub, sizeof(pub));
    umask(022);
    assert_int_equal(ps_curve_keypair_new(&kp, NULL), PS_OK);
    assert_int_equal(ps_curve_write_keypair(&kp, sec, pub, "w7", false, &ed), PS_OK);
    assert_int_equal(stat(sec, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(pub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(ps_curve_read_secret(sec, &read_back, &loose, &ed), PS_OK);
    assert_false(loose);
    assert_string_equal(read_back.secret_key, kp.secret_key);
    assert_string_equal(read_back.public_key, kp.public_key);
    assert_int_equal(ps_curve_read_public("", got, &ed), PS_ERR_USAGE);
    {
        char at[140];
        snprintf(at, sizeof(at), "@%s", pub);
        assert_int_equal(ps_curve_read_public(at, got, &ed), PS_OK);
        assert_string_equal(got, kp.public_key);
        snprintf(at, sizeof(at), "@%s", sec); /* one key, but a secret: still reads as a key */
        assert_int_equal(ps_curve_read_public(at, got, &ed), PS_OK);
    }
    assert_int_equal(ps_curve_read_public(kp.public_key, got, &ed), PS_OK);
    assert_string_equal(got, kp.public_key);
    /* '@' is Z85 too: a key that starts with it is a key, not a file name */
    assert_int_equal(ps_curve_read_public("@000000000000000000000000000000000000000", got, &ed),
                     PS_OK);
    assert_string_equal(got, "@000000000000000000000000000000000000000");

    /* without force: refused, and neither file changes */
    assert_int_equal(ps_curve_keypair_new(&again, NULL), PS_OK);
    assert_int_equal(ps_curve_write_keypair(&again, sec, pub, "w7", false, &ed), PS_ERR_IO);
    assert_non_null(strstr(ed.msg, "--force"));
    assert_int_equal(ps_curve_read_secret(sec, &read_back, NULL, &ed), PS_OK);
    assert_string_equal(read_back.secret_key, kp.secret_key);
    /* a secret file someone loosened is reported, and --force replaces it with a 0600 one */
    chmod(sec, 0644);
    assert_int_equal(ps_curve_read_secret(sec, &read_back, &loose, &ed), PS_OK);
    assert_true(loose);
    assert_int_equal(ps_curve_write_keypair(&again, sec, pub, "w7", true, &ed), PS_OK);
    assert_int_equal(stat(sec, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ps_curve_read_secret(sec, &read_back, &loose, &ed), PS_OK);
    assert_false(loose);
    assert_string_equal(read_back.secret_key, again.secret_key);
    /* a bad name writes nothing */
    unlink(sec);
    unlink(pub);
    assert_int_equal(ps_curve_write_keypair(&again, sec, pub, "has space", false, &ed),
                     PS_ERR_USAGE);
    assert_int_not_equal(stat(sec, &st), 0);
    ps_curve_keypair_wipe(&read_back);
    tmpdir_remove(&d);
}

static void test_curve_secret_file_needs_exactly_one_key(void **state)
{
    struct tmpdir d;
    struct ps_curve_keypair a, b, out;
    char path[128], text[512];
    struct ps_errdetail ed;

    (void)state;
    if (!ps_curve_available())
        skip();
    tmpdir_make(&d);
    tmpdir_file(&d, "k", path, sizeof(path));
    assert_int_equal(ps_curve_keypair_new(&a, NULL), PS_OK);
    assert_int_equal(ps_curve_keypair_new(&b, NULL), PS_OK);
    snprintf(text, sizeof(text), "%s\n%s\n", a.secret_key, b.secret_key);
    write_text(path, text, 0600);
    assert_int_equal(ps_curve_read_secret(path, &out, NULL, &ed), PS_ERR_PARSE);
    assert_non_null(strstr(ed.msg, "2 keys"));
    assert_int_equal(out.secret_key[0], '\0');
    write_text(path, "# nothing here\n", 0600);
    assert_int_equal(ps_curve_read_secret(path, &out, NULL, &ed), PS_ERR_PARSE);
    assert_non_null(strstr(ed.msg, "0 keys"));
    assert_int_equal(ps_curve_read_secret("/nonexistent/k", &out, NULL, &ed), PS_ERR_IO);
    tmpdir_remove(&d);
}

static void test_curve_allow_set_finds_listed_keys_only(void **state)
{
    struct ps_curve_keypair k[3];
    struct ps_curve_allow *a, *copy;
    uint8_t bin[PS_CURVE_KEY_LEN];
    char text[512];
    struct ps_errdetail ed;

    (void)state;
    if (!ps_curve_available())
        skip();
    for (int i = 0; i < 3; i++)
        assert_int_equal(ps_curve_keypair_new(&k[i], NULL), PS_OK);
    snprintf(text, sizeof(text), "%s alice\n%s\n%s bob-again\n", k[0].public_key, k[1].public_key,
             k[0].public_key);
    assert_int_equal(ps_curve_allow_parse(&a, text, strlen(text), "allow", &ed), PS_OK);
    assert_int_equal(ps_curve_allow_n(a), 2);
    assert_true(ps_curve_z85_decode(bin, k[0].public_key));
    assert_string_equal(ps_curve_allow_find(a, bin), "alice"); /* the first name stays */
    assert_true(ps_curve_z85_decode(bin, k[1].public_key));
    assert_string_equal(ps_curve_allow_find(a, bin), k[1].public_key); /* no name: the key */
    assert_true(ps_curve_z85_decode(bin, k[2].public_key));
    assert_null(ps_curve_allow_find(a, bin));
    /* a secret key is a key too, but not a listed one */
    assert_true(ps_curve_z85_decode(bin, k[0].secret_key));
    assert_null(ps_curve_allow_find(a, bin));

    copy = ps_curve_allow_dup(a);
    assert_int_equal(ps_curve_allow_add(copy, k[2].public_key, "carol", &ed), PS_OK);
    assert_int_equal(ps_curve_allow_add(copy, "not a key", "x", &ed), PS_ERR_USAGE);
    assert_true(ps_curve_z85_decode(bin, k[2].public_key));
    assert_string_equal(ps_curve_allow_find(copy, bin), "carol");
    assert_null(ps_curve_allow_find(a, bin));
    ps_curve_allow_free(copy);
    ps_curve_allow_free(a);

    assert_int_equal(ps_curve_allow_parse(&a, "# only comments\n", 16, "allow", &ed), PS_ERR_PARSE);
    assert_null(a);
    assert_non_null(strstr(ed.msg, "no key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curve_keypair_is_z85_and_public_matches_secret),
        cmocka_unit_test(test_curve_z85_rejects_wrong_length_chars_and_overflow),
        cmocka_unit_test(test_curve_parse_takes_keys_names_and_skips_comments),
        cmocka_unit_test(test_curve_parse_errors_name_the_line_and_never_quote_it),
        cmocka_unit_test(test_curve_parse_refuses_oversized_text),
        cmocka_unit_test(test_curve_keygen_files_modes_and_refusal_to_overwrite),
        cmocka_unit_test(test_curve_secret_file_needs_exactly_one_key),
        cmocka_unit_test(test_curve_allow_set_finds_listed_keys_only),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
