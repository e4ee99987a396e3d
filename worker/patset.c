/* patset.c - the pattern set, the choice of its matcher, and the reference matcher: a filter on
 * every 4-byte window (one multiply and one bit test per byte of text), then a table from the
 * 4-byte prefix to the patterns that start with it, compared in full. A confirm set holds up to
 * ~10^4 patterns, so the 2^18-bit filter stays under 5 % full and nearly every byte costs only
 * the filter test. */
#include "worker/patset_internal.h"

#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "common/cpu.h"
#include "common/hashsort.h"

#define FILTER_LOG2 PS_PATSET_FILTER_LOG2

static uint32_t load32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t filter_bit(uint32_t key)
{
    return (key * UINT32_C(0x9E3779B1)) >> (32 - FILTER_LOG2);
}

/* AUTO: the reference when POISONSCAN_SIMD asks for scalar code (CI runs the whole suite so),
 * else Hyperscan when it runs here. */
static enum ps_patset_matcher resolve(enum ps_patset_matcher m)
{
    enum ps_simd level;

    if (m != PS_PATSET_AUTO)
        return m;
    if (ps_cpu_simd_from_env(&level, NULL) == PS_OK && level == PS_SIMD_SCALAR)
        return PS_PATSET_SCALAR;
    return ps_patset_hs_supported() ? PS_PATSET_HYPERSCAN : PS_PATSET_SCALAR;
}

enum ps_err ps_patset_new_with(struct ps_patset **out, size_t max, enum ps_patset_matcher m,
                               struct ps_errdetail *ed)
{
    struct ps_patset *s;

    *out = NULL;
    m = resolve(m);
    if (m >= PS_PATSET__COUNT || (m == PS_PATSET_HYPERSCAN && !ps_patset_hs_supported())) {
        ps_errdetail_set(ed, NULL, 0, "pattern matcher '%s' does not run on this CPU",
                         ps_patset_matcher_name(m));
        return PS_ERR_UNSUPPORTED;
    }
    s = ps_xcalloc(1, sizeof(*s));
    s->max = max;
    s->matcher = m;
    ps_u64set_init(&s->all, max);
    ps_u64map_init(&s->shorts, max);
    *out = s;
    return PS_OK;
}

void ps_patset_new(struct ps_patset **out, size_t max)
{
    /* AUTO resolves to a matcher that runs here */
    if (ps_patset_new_with(out, max, PS_PATSET_AUTO, NULL) != PS_OK)
        ps_bug("no pattern matcher runs here");
}

enum ps_patset_matcher ps_patset_matcher(const struct ps_patset *s)
{
    return s->matcher;
}

const char *ps_patset_matcher_name(enum ps_patset_matcher m)
{
    static const char *const names[PS_PATSET__COUNT] = {"auto", "scalar", "hyperscan"};

    return m < PS_PATSET__COUNT ? names[m] : "unknown";
}

void ps_patset_free(struct ps_patset *s)
{
    if (s == NULL)
        return;
    ps_patset_hs_free(s->hs);
    free(s->pats);
    free(s->arena);
    free(s->heads);
    free(s->rank);
    ps_itab_release(&s->bidx);
    ps_u64set_release(&s->all);
    ps_u64map_release(&s->shorts);
    free(s);
}

void ps_patset_clear(struct ps_patset *s)
{
    ps_patset_hs_free(s->hs);
    s->hs = NULL;
    s->ranked = false;
    s->n_pats = 0;
    s->n_long = 0;
    s->arena_len = 0;
    ps_u64set_clear(&s->all);
    ps_u64set_clear(&s->shorts.keys); /* values are read only beside a key */
    memset(s->filter, 0, sizeof(s->filter));
    ps_itab_clear(&s->bidx);
    s->n_heads = 0;
}

size_t ps_patset_len(const struct ps_patset *s)
{
    return s->all.len;
}

const struct ps_u64map *ps_patset_short(const struct ps_patset *s)
{
    return &s->shorts;
}

/* The chain head of prefix `key`, or NULL. A 32-bit key is its own tag (ps_itab_tag), so the
 * first record the probe returns is the key's. */
static uint32_t *head_of(const struct ps_patset *s, uint32_t key)
{
    struct ps_itab_probe p = ps_itab_probe(&s->bidx, key);
    uint32_t i = ps_itab_next(&s->bidx, &p);

    return i != PS_ITAB_NONE ? &s->heads[i] : NULL;
}

/* Put long pattern s->pats[n_pats - 1] at the head of its prefix's chain. */
static void chain_add(struct ps_patset *s, uint32_t key)
{
    uint32_t *head = head_of(s, key);

    if (head == NULL) {
        /* one prefix a pattern at most, and a set holds ~10^4 patterns */
        s->heads = ps_itab_push(&s->bidx, key, s->heads, &s->heads_cap, sizeof(*s->heads));
        head = &s->heads[s->n_heads++];
    }
    s->pats[s->n_pats - 1].next = *head;
    *head = (uint32_t)s->n_pats;
}

enum ps_err ps_patset_add(struct ps_patset *s, const char *text, size_t len)
{
    uint64_t h;
    struct ps_patset_pattern *p;
    uint32_t key;

    if (len == 0)
        return PS_ERR_USAGE;
    h = XXH3_64bits(text, len);
    if (ps_u64set_has(&s->all, h))
        return PS_OK;
    if (ps_u64set_add(&s->all, h, NULL) != PS_OK)
        return PS_ERR_LIMIT;
    ps_patset_hs_free(s->hs); /* unsealed: the next seal compiles the new set */
    s->hs = NULL;
    s->ranked = false;
    if (s->n_pats == s->pats_cap) {
        s->pats_cap = s->pats_cap != 0 ? s->pats_cap * 2 : 64;
        s->pats = ps_xrealloc(s->pats, s->pats_cap * sizeof(*s->pats));
    }
    while (s->arena_len + len > s->arena_cap) {
        s->arena_cap = s->arena_cap != 0 ? s->arena_cap * 2 : 4096;
        s->arena = ps_xrealloc(s->arena, s->arena_cap);
    }
    memcpy(s->arena + s->arena_len, text, len);
    p = &s->pats[s->n_pats++];
    p->hash = h;
    p->off = s->arena_len;
    p->len = len;
    p->next = 0;
    p->is_short = len < PS_PATSET_MIN_SUBSTRING;
    s->arena_len += len;
    if (p->is_short)
        return ps_u64map_put(&s->shorts, h, s->n_pats - 1);
    s->n_long++;
    key = load32((const unsigned char *)text);
    chain_add(s, key);
    s->filter[filter_bit(key) / 64] |= UINT64_C(1) << (filter_bit(key) % 64);
    return PS_OK;
}

/* Each pattern's place in the order of hash (hashes are distinct: the set keeps one pattern of
 * a hash). */
static void rank_patterns(struct ps_patset *s)
{
    struct ps_hash_key *keys = ps_xmalloc(2 * (s->n_pats + 1) * sizeof(*keys));

    free(s->rank);
    s->rank = ps_xmalloc((s->n_pats + 1) * sizeof(*s->rank));
    for (size_t i = 0; i < s->n_pats; i++)
        keys[i] = (struct ps_hash_key){s->pats[i].hash, i};
    ps_hash_keys_sort(keys, keys + s->n_pats, s->n_pats);
    for (size_t r = 0; r < s->n_pats; r++)
        s->rank[keys[r].i] = (uint32_t)r;
    free(keys);
    s->ranked = true;
}

const uint32_t *ps_patset_ranks(const struct ps_patset *s)
{
    return s->ranked ? s->rank : NULL;
}

enum ps_err ps_patset_seal(struct ps_patset *s, struct ps_errdetail *ed)
{
    if (!s->ranked)
        rank_patterns(s);
    if (s->matcher != PS_PATSET_HYPERSCAN || s->hs != NULL || s->n_pats == 0)
        return PS_OK;
    return ps_patset_hs_build(s, &s->hs, ed);
}

bool ps_patset_may_occur(const struct ps_patset *s, const char *text, size_t text_len)
{
    if (s->n_pats == 0)
        return false;
    return s->hs == NULL || ps_patset_hs_may_occur(s, text, text_len);
}

void ps_patset_scan(const struct ps_patset *s, const char *text, size_t text_len, ps_patset_fn fn,
                    void *ctx)
{
    const unsigned char *t = (const unsigned char *)text;

    if (s->n_long == 0 || text_len < PS_PATSET_MIN_SUBSTRING)
        return;
    if (ps_patset_hs_scans(s, text_len) && ps_patset_hs_scan(s, text, text_len, fn, ctx))
        return;
    for (size_t i = 0; i + PS_PATSET_MIN_SUBSTRING <= text_len; i++) {
        uint32_t key = load32(t + i), b = filter_bit(key);
        const uint32_t *head;

        if (!((s->filter[b / 64] >> (b % 64)) & 1) || (head = head_of(s, key)) == NULL)
            continue;
        for (uint32_t k = *head; k != 0; k = s->pats[k - 1].next) {
            const struct ps_patset_pattern *p = &s->pats[k - 1];

            if (p->len <= text_len - i &&
                memcmp(t + i + PS_PATSET_MIN_SUBSTRING, s->arena + p->off + PS_PATSET_MIN_SUBSTRING,
                       p->len - PS_PATSET_MIN_SUBSTRING) == 0)
                fn(ctx, k - 1, p->hash, i, i + p->len);
        }
    }
}
