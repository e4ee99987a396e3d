/* patset.c - a filter on every 4-byte window (one multiply and one bit test per byte of text),
 * then a table from the 4-byte prefix to the patterns that start with it, compared in full.
 * A confirm set holds up to ~10^4 patterns, so the 2^18-bit filter stays under 5 % full and
 * nearly every byte costs only the filter test. */
#include "worker/patset.h"

#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define FILTER_LOG2 18

struct pattern {
    uint64_t hash;
    size_t off, len; /* in the text arena */
    uint32_t next;   /* 1 + index of the next pattern with the same prefix, 0 = none */
};

struct ps_patset {
    size_t max;
    struct pattern *pats;
    size_t n_pats, pats_cap;
    char *arena;
    size_t arena_len, arena_cap;
    struct ps_u64set all, shorts;
    uint64_t filter[(1u << FILTER_LOG2) / 64];
    /* prefix table: open addressing over 4-byte prefixes, head = 1 + pattern index, 0 = empty */
    uint32_t *bkey, *bhead;
    size_t bcap; /* power of two, at most half full */
    size_t n_buckets;
};

static uint32_t load32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t filter_bit(uint32_t key)
{
    return (key * UINT32_C(0x9E3779B1)) >> (32 - FILTER_LOG2);
}

static size_t bucket_slot(uint32_t key, size_t cap)
{
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 40) & (cap - 1);
}

void ps_patset_new(struct ps_patset **out, size_t max)
{
    struct ps_patset *s = ps_xcalloc(1, sizeof(*s));

    s->max = max;
    ps_u64set_init(&s->all, max);
    ps_u64set_init(&s->shorts, max);
    *out = s;
}

void ps_patset_free(struct ps_patset *s)
{
    if (s == NULL)
        return;
    free(s->pats);
    free(s->arena);
    free(s->bkey);
    free(s->bhead);
    ps_u64set_release(&s->all);
    ps_u64set_release(&s->shorts);
    free(s);
}

void ps_patset_clear(struct ps_patset *s)
{
    s->n_pats = 0;
    s->arena_len = 0;
    ps_u64set_clear(&s->all);
    ps_u64set_clear(&s->shorts);
    memset(s->filter, 0, sizeof(s->filter));
    if (s->bcap != 0) {
        memset(s->bkey, 0, s->bcap * sizeof(*s->bkey));
        memset(s->bhead, 0, s->bcap * sizeof(*s->bhead));
    }
    s->n_buckets = 0;
}

size_t ps_patset_len(const struct ps_patset *s)
{
    return s->all.len;
}

const struct ps_u64set *ps_patset_short(const struct ps_patset *s)
{
    return &s->shorts;
}

/* The head slot of `key`'s chain: found, or the empty slot where it goes. */
static size_t bucket_find(const struct ps_patset *s, uint32_t key)
{
    size_t i = bucket_slot(key, s->bcap);

    while (s->bhead[i] != 0 && s->bkey[i] != key)
        i = (i + 1) & (s->bcap - 1);
    return i;
}

static void buckets_grow(struct ps_patset *s)
{
    uint32_t *okey = s->bkey, *ohead = s->bhead;
    size_t ocap = s->bcap;

    s->bcap = ocap != 0 ? ocap * 2 : 256;
    s->bkey = ps_xcalloc(s->bcap, sizeof(*s->bkey));
    s->bhead = ps_xcalloc(s->bcap, sizeof(*s->bhead));
    for (size_t i = 0; i < ocap; i++) {
        if (ohead[i] != 0) {
            size_t j = bucket_find(s, okey[i]);
            s->bkey[j] = okey[i];
            s->bhead[j] = ohead[i];
        }
    }
    free(okey);
    free(ohead);
}

enum ps_err ps_patset_add(struct ps_patset *s, const char *text, size_t len)
{
    uint64_t h;
    struct pattern *p;
    uint32_t key;
    size_t slot;

    if (len == 0)
        return PS_ERR_USAGE;
    h = XXH3_64bits(text, len);
    if (ps_u64set_has(&s->all, h))
        return PS_OK;
    if (ps_u64set_add(&s->all, h, NULL) != PS_OK)
        return PS_ERR_LIMIT;
    if (len < PS_PATSET_MIN_SUBSTRING)
        return ps_u64set_add(&s->shorts, h, NULL);
    if (s->n_pats == s->pats_cap) {
        s->pats_cap = s->pats_cap != 0 ? s->pats_cap * 2 : 64;
        s->pats = ps_xrealloc(s->pats, s->pats_cap * sizeof(*s->pats));
    }
    while (s->arena_len + len > s->arena_cap) {
        s->arena_cap = s->arena_cap != 0 ? s->arena_cap * 2 : 4096;
        s->arena = ps_xrealloc(s->arena, s->arena_cap);
    }
    memcpy(s->arena + s->arena_len, text, len);
    p = &s->pats[s->n_pats];
    p->hash = h;
    p->off = s->arena_len;
    p->len = len;
    s->arena_len += len;
    key = load32((const unsigned char *)text);
    if ((s->n_buckets + 1) * 2 > s->bcap)
        buckets_grow(s);
    slot = bucket_find(s, key);
    if (s->bhead[slot] == 0)
        s->n_buckets++;
    p->next = s->bhead[slot];
    s->bkey[slot] = key;
    s->bhead[slot] = (uint32_t)(s->n_pats + 1);
    s->n_pats++;
    s->filter[filter_bit(key) / 64] |= UINT64_C(1) << (filter_bit(key) % 64);
    return PS_OK;
}

void ps_patset_scan(const struct ps_patset *s, const char *text, size_t text_len, ps_patset_fn fn,
                    void *ctx)
{
    const unsigned char *t = (const unsigned char *)text;

    if (s->n_pats == 0 || text_len < PS_PATSET_MIN_SUBSTRING)
        return;
    for (size_t i = 0; i + PS_PATSET_MIN_SUBSTRING <= text_len; i++) {
        uint32_t key = load32(t + i), b = filter_bit(key);
        size_t slot;

        if (!((s->filter[b / 64] >> (b % 64)) & 1))
            continue;
        slot = bucket_find(s, key);
        for (uint32_t k = s->bhead[slot]; k != 0; k = s->pats[k - 1].next) {
            const struct pattern *p = &s->pats[k - 1];

            if (p->len <= text_len - i &&
                memcmp(t + i + PS_PATSET_MIN_SUBSTRING, s->arena + p->off + PS_PATSET_MIN_SUBSTRING,
                       p->len - PS_PATSET_MIN_SUBSTRING) == 0)
                fn(ctx, p->hash, i, i + p->len);
        }
    }
}
