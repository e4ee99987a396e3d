/* patlist.c - the pass pattern list and its record. */
#include "coordinator/patlist.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/results.h"
#include "common/varint.h"

#define PATLIST_VERSION 2
#define MAX_PATTERNS    1000000 /* the wire's ps_wire_limits max_candidates */

static const char magic[4] = {'P', 'S', 'P', 'L'};

void ps_patlist_init(struct ps_patlist *l)
{
    memset(l, 0, sizeof(*l));
    ps_buf_init(&l->arena, PS_BUF_NO_LIMIT);
}

void ps_patlist_release(struct ps_patlist *l)
{
    free(l->hashes);
    free(l->texts);
    free(l->origin);
    free(l->sample_below);
    free(l->by_hash);
    ps_buf_release(&l->arena);
    ps_patlist_init(l);
}

void ps_patlist_add(struct ps_patlist *l, const char *text, size_t len, uint32_t origin,
                    uint64_t sample_below)
{
    /* texts[i].data holds the arena offset until ps_patlist_seal makes it a pointer */
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->hashes = ps_xrealloc(l->hashes, l->cap * sizeof(*l->hashes));
        l->texts = ps_xrealloc(l->texts, l->cap * sizeof(*l->texts));
        l->origin = ps_xrealloc(l->origin, l->cap * sizeof(*l->origin));
        l->sample_below = ps_xrealloc(l->sample_below, l->cap * sizeof(*l->sample_below));
    }
    l->hashes[l->n] = XXH3_64bits(text, len);
    l->texts[l->n].data = (uint8_t *)(uintptr_t)l->arena.len;
    l->texts[l->n].len = len;
    l->origin[l->n] = origin;
    l->sample_below[l->n] = sample_below;
    ps_buf_add(&l->arena, text, len);
    l->n++;
}

static int cmp_key(const void *a, const void *b)
{
    const struct ps_patlist_key *x = a, *y = b;

    if (x->hash != y->hash)
        return (x->hash > y->hash) - (x->hash < y->hash);
    return (x->i > y->i) - (x->i < y->i);
}

void ps_patlist_seal(struct ps_patlist *l)
{
    size_t off = 0;

    for (size_t i = 0; i < l->n; i++) {
        l->texts[i].data = (uint8_t *)l->arena.data + off;
        off += l->texts[i].len;
    }
    free(l->by_hash);
    l->by_hash = ps_xmalloc((l->n + 1) * sizeof(*l->by_hash));
    for (size_t i = 0; i < l->n; i++)
        l->by_hash[i] = (struct ps_patlist_key){l->hashes[i], i};
    qsort(l->by_hash, l->n, sizeof(*l->by_hash), cmp_key);
}

size_t ps_patlist_find(const struct ps_patlist *l, uint64_t hash)
{
    size_t lo = 0, hi = l->n;

    if (l->by_hash == NULL)
        return SIZE_MAX; /* nothing added and sealed */
    /* the first key not below hash: the lowest index among equal hashes */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (l->by_hash[mid].hash < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->n && l->by_hash[lo].hash == hash ? l->by_hash[lo].i : SIZE_MAX;
}

void ps_patlist_encode(const struct ps_patlist *l, struct ps_buf *out)
{
    size_t off = 0;

    ps_buf_add(out, magic, sizeof(magic));
    ps_varint_put(out, PATLIST_VERSION);
    ps_varint_put(out, l->n);
    ps_varint_put(out, l->leads_from);
    ps_varint_put(out, l->eligible);
    ps_varint_put(out, l->least_docs);
    for (size_t i = 0; i < l->n; i++) {
        ps_varint_put(out, l->origin[i]);
        ps_varint_put_u64le(out, l->sample_below[i]);
        ps_varint_put(out, l->texts[i].len);
        ps_buf_add(out, l->arena.data + off, l->texts[i].len);
        off += l->texts[i].len;
    }
}

enum ps_err ps_patlist_decode(struct ps_patlist *l, const void *src, size_t src_len,
                              struct ps_errdetail *ed)
{
    const unsigned char *p = src, *end = p + src_len;
    uint64_t version = 0, n = 0, leads_from = 0, eligible = 0, least_docs = 0;

    ps_patlist_release(l);
    if (src_len < sizeof(magic) || memcmp(p, magic, sizeof(magic)) != 0)
        goto bad;
    p += sizeof(magic);
    if ((p = ps_varint_get(p, end, &version)) == NULL || version != PATLIST_VERSION ||
        (p = ps_varint_get(p, end, &n)) == NULL || n > MAX_PATTERNS ||
        (p = ps_varint_get(p, end, &leads_from)) == NULL || leads_from > n ||
        (p = ps_varint_get(p, end, &eligible)) == NULL || (eligible < n && eligible != 0) ||
        (p = ps_varint_get(p, end, &least_docs)) == NULL)
        goto bad;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t origin = 0, below = 0, len = 0;
        if ((p = ps_varint_get(p, end, &origin)) == NULL || origin > UINT32_MAX ||
            (p = ps_varint_get_u64le(p, end, &below)) == NULL ||
            (p = ps_varint_get(p, end, &len)) == NULL || len == 0 || len > PS_RESULTS_TEXT ||
            len > (uint64_t)(end - p))
            goto bad;
        ps_patlist_add(l, (const char *)p, (size_t)len, (uint32_t)origin, below);
        p += len;
    }
    if (p != end)
        goto bad;
    l->leads_from = (size_t)leads_from;
    l->eligible = eligible;
    l->least_docs = least_docs;
    ps_patlist_seal(l);
    return PS_OK;
bad:
    ps_patlist_release(l);
    ps_errdetail_set(ed, NULL, 0, "pattern list record is malformed");
    return PS_ERR_PROTO;
}
