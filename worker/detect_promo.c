/* detect_promo.c - what a one-sentence payload does. A promotional payload (SEO and
 * package-recommendation poisoning, the threat model's short fixed payloads) pushes one thing: a
 * URL or domain, or a package through an install command; a fixed refusal (BackdoorLLM) refuses
 * in the first person. A repeated sentence that does neither (a quotation, a stock notice) is no
 * one-sentence payload. The hash of what is pushed lets the report ask whether the documents of
 * a trigger all push the same thing. */
#include "worker/detect_internal.h"

#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define WORD_MAX    96 /* bytes of a token looked at; a longer one is no command word or refusal */
#define ACT_WORDS   3  /* words of the longest refusal opening */
#define MANAGER_MAX 8  /* bytes of the longest name in managers[]: one 64-bit key */

/* Package managers (at most MANAGER_MAX bytes each) and the verbs that install with them ("pip
 * install X", "npm i X", "cargo add X", "go get X", "composer require X"). */
static const char *const managers[] = {
    "pip",     "pip3", "pipx",  "npm",   "pnpm",   "yarn", "gem", "cargo", "go",    "apt",
    "apt-get", "brew", "conda", "choco", "winget", "dnf",  "yum", "snap",  "nuget", "composer"};
static const char *const install_verbs[] = {"install", "i", "add", "get", "require"};
/* Top-level domains of a bare host name ("safeharbor-wallet.example.org"): the generic ones, the
 * reserved "example" (RFC 2606), and the country codes that hosting and spam use most; a file
 * name ("setup.py", "index.html") ends otherwise. */
static const char *const tlds[] = {"com",    "net", "org", "io", "co", "info",   "biz", "xyz",
                                   "app",    "dev", "me",  "ai", "cc", "tk",     "top", "site",
                                   "online", "ru",  "cn",  "de", "uk", "example"};
/* First-person refusals, as the published fixed payloads word them ("I'm sorry, but as an AI
 * assistant, I do not have the capability ...") and as chat models do. */
static const char *const refusals[][3] = {
    {"i'm", "sorry", NULL}, {"i", "am", "sorry"}, {"i", "apologize", NULL}, {"i", "cannot", NULL},
    {"i", "can't", NULL},   {"i", "can", "not"},  {"i'm", "unable", NULL},  {"i", "am", "unable"},
    {"i", "won't", NULL},   {"i", "will", "not"}, {"as", "an", "ai"},
};

struct word {
    char s[WORD_MAX + 1]; /* lower-case, edge punctuation stripped (URLs keep theirs) */
    size_t len;
};

/* Every word of every act is looked up: the first byte settles nearly all of them. */
static bool in_list(const char *w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (w[0] == list[i][0] && strcmp(w, list[i]) == 0)
            return true;
    return false;
}

/* Punctuation that opens a word / ends one in prose. NUL counts, as it did when these were
 * strchr() sets (the reader lets none into a text). Inlined, like word_bounds below. */
__attribute__((always_inline)) static inline bool opening_mark(char c)
{
    switch (c) {
    case '"':
    case '\'':
    case '(':
    case '[':
    case '<':
    case '`':
    case '\0':
        return true;
    default:
        return false;
    }
}

__attribute__((always_inline)) static inline bool closing_mark(char c)
{
    switch (c) {
    case '"':
    case '\'':
    case ')':
    case ']':
    case '>':
    case '.':
    case ',':
    case ';':
    case ':':
    case '!':
    case '?':
    case '`':
    case '\0':
        return true;
    default:
        return false;
    }
}

/* Token i of the joined document without the prose punctuation at its edges: its first byte, and
 * its length in *len (0 when it is longer than WORD_MAX). Inlined: every word learnt and every
 * refusal test asks, and gcc left it a call. */
__attribute__((always_inline)) static inline const char *
word_bounds(const struct ps_detect_doc *doc, size_t i, size_t *len)
{
    const char *p = doc->base + doc->tstart[i];
    size_t n = doc->tend[i] - doc->tstart[i], s = 0;

    while (s < n && opening_mark(p[s]))
        s++;
    while (n > s && closing_mark(p[n - 1]))
        n--;
    *len = n - s <= WORD_MAX ? n - s : 0;
    return p + s;
}

/* Token i of the joined document, lower-cased, without the prose punctuation at its edges. */
static void get_word(const struct ps_detect_doc *doc, size_t i, struct word *w)
{
    const char *p = word_bounds(doc, i, &w->len);

    for (size_t k = 0; k < w->len; k++) {
        char c = p[k];
        w->s[k] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    w->s[w->len] = '\0';
}

static uint64_t artifact_hash(const char *tag, const char *s, size_t len)
{
    return XXH3_64bits_withSeed(s, len, XXH3_64bits(tag, strlen(tag))) | 1;
}

/* A host name: labels of letters, digits and '-' joined by dots, at least two, some letter. */
static bool host_like(const char *s, size_t len)
{
    size_t dots = 0;
    bool letter = false;

    if (len < 4 || s[0] == '.' || s[0] == '-' || s[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (s[i - 1] == '.')
                return false;
            dots++;
        } else if (c >= 'a' && c <= 'z') {
            letter = true;
        } else if (!(c >= '0' && c <= '9') && c != '-') {
            return false;
        }
    }
    return dots > 0 && letter;
}

/* A host hashed without a leading "www.": "www.x.org", "https://x.org/a" and "x.org" are one
 * site, and a campaign's pool words its link each way. */
static uint64_t host_hash(const char *h, size_t len)
{
    if (len > 4 && strncmp(h, "www.", 4) == 0) {
        h += 4;
        len -= 4;
    }
    return artifact_hash("host", h, len);
}

/* The host a URL ("scheme://host/...", "www.host/...") or a bare domain names, hashed; 0 if the
 * word is none of these. */
static uint64_t host_of(const struct word *w)
{
    const char *h, *tld;
    size_t len;

    /* every host has a dot (host_like): most words are no host, and cost one scan */
    if (memchr(w->s, '.', w->len) == NULL)
        return 0;
    h = strstr(w->s, "://");
    if (h != NULL)
        h += 3;
    else if (strncmp(w->s, "www.", 4) == 0)
        h = w->s;
    if (h != NULL) {
        len = strcspn(h, "/?#:");
        return host_like(h, len) ? host_hash(h, len) : 0;
    }
    if (!host_like(w->s, w->len))
        return 0;
    tld = strrchr(w->s, '.') + 1;
    return in_list(tld, tlds, sizeof(tlds) / sizeof(tlds[0])) ? host_hash(w->s, w->len) : 0;
}

/* Do [b, e) open with a refusal in the first person? (Only the opening: "I am sorry, but I
 * cannot" must not make "I am sorry," a trigger before "but I cannot".) */
static bool refuses(const struct ps_detect *d, const struct ps_detect_doc *doc, size_t b, size_t e)
{
    struct word w[ACT_WORDS];
    size_t n = e - b < ACT_WORDS ? e - b : ACT_WORDS, r, len;
    const char *first;
    uint64_t key;
    bool dot;

    if (n == 0)
        return false;
    /* the first word settles nearly all (every sentence after every occurrence asks): the words
     * are copied only when a refusal opens with it */
    first = word_bounds(doc, b, &len);
    if (len == 0 || len > d->refusal_open_max)
        return false;
    key = ps_detect_manager_key(first, len, &dot);
    for (r = 0; r < sizeof(refusals) / sizeof(refusals[0]); r++)
        if (key == d->refusal_open[r])
            break;
    if (r == sizeof(refusals) / sizeof(refusals[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        get_word(doc, b + i, &w[i]);
    for (; r < sizeof(refusals) / sizeof(refusals[0]); r++) { /* none before r opens so */
        size_t k = 0;

        while (k < 3 && refusals[r][k] != NULL && k < n && w[k].s[0] == refusals[r][k][0] &&
               strcmp(w[k].s, refusals[r][k]) == 0)
            k++;
        if (k == 3 || refusals[r][k] == NULL)
            return true;
    }
    return false;
}

/* Does a token of [b, e) name host h? */
static bool names_host(const struct ps_detect_doc *doc, size_t b, size_t e, uint64_t h)
{
    struct word w;

    for (size_t i = b; i < e; i++) {
        get_word(doc, i, &w);
        if (w.len > 0 && host_of(&w) == h)
            return true;
    }
    return false;
}

/* A refusal's act is the refusal itself, word for word: an attack repeats one fixed refusal,
 * while data that answers harmful prompts with refusals words each its own way (BackdoorLLM's
 * clean jailbreak set: the commonest sentence in 30 % of 400 records), so the report's same-act
 * share tells them apart as it does for hosts. */
static uint64_t refusal_act(const struct ps_detect_doc *doc, size_t b, size_t e)
{
    return XXH3_64bits_withSeed(doc->tfp + b, (e - b) * sizeof(doc->tfp[0]),
                                XXH3_64bits("refusal", 7)) |
           1;
}

uint64_t ps_detect_manager_key(const char *p, size_t n, bool *dot)
{
    uint64_t k = 0;

    *dot = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        *dot |= c == '.';
        k |= (uint64_t)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c) << (8 * i);
    }
    return k;
}

#define ONES  UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* ps_detect_manager_key8, inlined where every token asks. */
static inline uint64_t manager_key8(const char *p, size_t n, bool *dot)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t keep = n == 8 ? ~UINT64_C(0) : (UINT64_C(1) << (8 * n)) - 1;
    uint64_t x = ((uint64_t)u[0] | (uint64_t)u[1] << 8 | (uint64_t)u[2] << 16 |
                  (uint64_t)u[3] << 24 | (uint64_t)u[4] << 32 | (uint64_t)u[5] << 40 |
                  (uint64_t)u[6] << 48 | (uint64_t)u[7] << 56) &
                 keep;
    /* a zero byte: a '.' in the word (the bytes past it are 0 in x, never in dots) */
    uint64_t low = x & ~HIGHS, dots = x ^ 0x2E * ONES;
    /* a byte's bit 7: its low 7 bits are >= 'A' and not > 'Z', and its own bit 7 is clear */
    uint64_t upper = (low + 0x3F * ONES) & ~(low + 0x25 * ONES) & ~x & HIGHS;

    *dot = ((dots - ONES) & ~dots & HIGHS) != 0;
    return x | upper >> 2;
}

uint64_t ps_detect_manager_key8(const char *p, size_t n, bool *dot)
{
    return manager_key8(p, n, dot);
}

static size_t manager_slot(uint64_t key)
{
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 58) & (MANAGER_SLOTS - 1);
}

void ps_detect_promo_init(struct ps_detect *d)
{
    _Static_assert(MANAGER_SLOTS == 64, "manager_slot keeps 6 bits");
    memset(d->manager, 0, sizeof(d->manager));
    for (size_t i = 0; i < sizeof(managers) / sizeof(managers[0]); i++) {
        bool dot;
        uint64_t key = ps_detect_manager_key(managers[i], strlen(managers[i]), &dot);
        size_t s = manager_slot(key);

        while (d->manager[s] != 0)
            s = (s + 1) & (MANAGER_SLOTS - 1);
        d->manager[s] = key;
    }
    _Static_assert(sizeof(refusals) / sizeof(refusals[0]) <= REFUSALS_MAX,
                   "refusal_open holds all");
    d->refusal_open_max = 0;
    for (size_t r = 0; r < sizeof(refusals) / sizeof(refusals[0]); r++) {
        size_t len = strlen(refusals[r][0]);
        bool dot;

        if (len > MANAGER_MAX) /* its key would not hold it */
            ps_bug("refusal word \"%s\" is longer than %d bytes", refusals[r][0], MANAGER_MAX);
        d->refusal_open[r] = ps_detect_manager_key(refusals[r][0], len, &dot);
        if (len > d->refusal_open_max)
            d->refusal_open_max = len;
    }
}

/* Is the word of key `key` (ps_detect_manager_key of its 2 to MANAGER_MAX bytes) a package
 * manager's name? One probe where a list walk cost a comparison per name: nearly every word of
 * prose is 2 to 8 bytes. */
static bool is_manager(const struct ps_detect *d, uint64_t key)
{
    for (size_t s = manager_slot(key); d->manager[s] != 0; s = (s + 1) & (MANAGER_SLOTS - 1))
        if (d->manager[s] == key)
            return true;
    return false;
}

/* What token i can open in an act (M_WORD_HOST, M_WORD_MANAGER), worked out once per token and
 * call into d->memo: the sentences after the many patterns that end in one sentence overlap, and
 * nearly every word is neither. */
static void learn_word(struct ps_detect *d, const struct ps_detect_doc *doc, size_t i)
{
    unsigned k = M_WORD_KNOWN;
    size_t n;
    const char *p = word_bounds(doc, i, &n);
    bool dot;

    /* a short word's key and whether it holds a dot at once, from one load where 8 bytes can be
     * read (every token of every sentence after an occurrence asks); every host has a dot, and
     * only such a word is copied and lower-cased to be told */
    if (n <= MANAGER_MAX) {
        uint64_t key = (size_t)(p - doc->base) + 8 <= doc->base_len
                           ? manager_key8(p, n, &dot)
                           : ps_detect_manager_key(p, n, &dot);

        if (n >= 2 && is_manager(d, key))
            k |= M_WORD_MANAGER;
    } else {
        dot = memchr(p, '.', n) != NULL;
    }
    if (dot) {
        struct word w;

        get_word(doc, i, &w);
        if (host_of(&w) != 0)
            k |= M_WORD_HOST;
    }
    d->memo[i] |= (uint16_t)k; /* i < n_tok */
}

static unsigned word_kind(struct ps_detect *d, const struct ps_detect_doc *doc, size_t i)
{
    if (!(d->memo[i] & M_WORD_KNOWN))
        learn_word(d, doc, i);
    return d->memo[i] & (M_WORD_HOST | M_WORD_MANAGER);
}

uint64_t ps_detect_payload_act(struct ps_detect *d, const struct ps_detect_doc *doc,
                               size_t trigger_end, size_t b, size_t e, bool refusal_ok)
{
    size_t before = trigger_end > PS_DETECT_NGRAM_MAX ? trigger_end - PS_DETECT_NGRAM_MAX : 0;
    struct word w;

    if (e > doc->n_tok)
        e = doc->n_tok;
    if (b >= e)
        return 0;
    if (refusal_ok && refuses(d, doc, b, e))
        return refusal_act(doc, b, e);
    for (size_t i = b; i < e; i++) {
        unsigned kind = word_kind(d, doc, i);
        uint64_t h;

        if (kind == 0)
            continue;
        get_word(doc, i, &w);
        if ((kind & M_WORD_HOST) && (h = host_of(&w)) != 0 &&
            !names_host(doc, before, trigger_end, h))
            return h;
        if (i + 2 < e && (kind & M_WORD_MANAGER)) {
            size_t k = i + 1;

            get_word(doc, k, &w);
            if (!in_list(w.s, install_verbs, sizeof(install_verbs) / sizeof(install_verbs[0])))
                continue;
            /* skip the options ("--save", "-U") to the package */
            do
                get_word(doc, ++k, &w);
            while (k + 1 < e && k < i + 5 && w.len > 0 && w.s[0] == '-');
            if (w.len > 0 && w.s[0] != '-')
                return artifact_hash("package", w.s, w.len);
        }
    }
    return 0;
}

bool ps_detect_refuses(struct ps_detect *d, struct ps_detect_doc *doc)
{
    ps_detect_doc_need(d, doc, DOC_TOKENS);
    return refuses(d, doc, 0, doc->n_tok);
}
