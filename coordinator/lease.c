/* lease.c - shard states, the pending queue (a ring of shard ids) and the leases out (a dense
 * array with each shard's position in it, so that removal is a swap with the last). */
#include "coordinator/lease.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

#define NOT_OUT UINT32_MAX

struct shard {
    uint8_t state;
    uint32_t attempts;   /* dispatched so far in this pass, across coordinator restarts */
    uint32_t attempt;    /* the attempt the current lease carries */
    uint32_t out_pos;    /* index in out[] while leased, else NOT_OUT */
    uint32_t given_back; /* of the attempts, those its workers gave back (not its failures) */
    size_t worker;       /* holder while leased */
    uint64_t deadline;
};

struct ps_lease_table {
    struct shard *sh;
    size_t n;
    uint32_t *queue; /* ring of pending shard ids: each shard is queued at most once */
    size_t q_head, q_len;
    uint32_t *out; /* shard ids leased now */
    size_t n_out;
    size_t n_finished;
};

void ps_lease_table_new(struct ps_lease_table **out, size_t n_shards)
{
    struct ps_lease_table *t = ps_xcalloc(1, sizeof(*t));

    t->n = n_shards;
    t->sh = ps_xcalloc(n_shards ? n_shards : 1, sizeof(*t->sh));
    t->queue = ps_xcalloc(n_shards ? n_shards : 1, sizeof(*t->queue));
    t->out = ps_xcalloc(n_shards ? n_shards : 1, sizeof(*t->out));
    ps_lease_reset(t);
    *out = t;
}

void ps_lease_table_free(struct ps_lease_table *t)
{
    if (t == NULL)
        return;
    free(t->sh);
    free(t->queue);
    free(t->out);
    free(t);
}

void ps_lease_reset(struct ps_lease_table *t)
{
    memset(t->sh, 0, t->n * sizeof(*t->sh));
    for (size_t i = 0; i < t->n; i++)
        t->sh[i].out_pos = NOT_OUT;
    t->q_head = t->q_len = t->n_out = t->n_finished = 0;
}

static struct shard *get(const struct ps_lease_table *t, uint32_t id)
{
    if (id >= t->n)
        ps_bug("shard %u of %zu", id, t->n);
    return &t->sh[id];
}

static void remove_out(struct ps_lease_table *t, struct shard *s)
{
    uint32_t pos = s->out_pos, last;

    if (pos == NOT_OUT)
        return;
    last = t->out[--t->n_out];
    t->out[pos] = last;
    t->sh[last].out_pos = pos;
    s->out_pos = NOT_OUT;
}

void ps_lease_mark_finished(struct ps_lease_table *t, uint32_t id, enum ps_lease_state st)
{
    struct shard *s = get(t, id);

    if (s->state == PS_LEASE_PENDING && (st == PS_LEASE_DONE || st == PS_LEASE_FAILED)) {
        s->state = (uint8_t)st;
        t->n_finished++;
    }
}

void ps_lease_set_attempts(struct ps_lease_table *t, uint32_t id, uint32_t attempts)
{
    get(t, id)->attempts = attempts;
}

void ps_lease_set_given_back(struct ps_lease_table *t, uint32_t id, uint32_t given_back)
{
    get(t, id)->given_back = given_back;
}

void ps_lease_queue_pending(struct ps_lease_table *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (t->sh[i].state == PS_LEASE_PENDING)
            t->queue[(t->q_head + t->q_len++) % t->n] = i;
}

size_t ps_lease_n_shards(const struct ps_lease_table *t)
{
    return t->n;
}

size_t ps_lease_n_queued(const struct ps_lease_table *t)
{
    return t->q_len;
}

size_t ps_lease_n_out(const struct ps_lease_table *t)
{
    return t->n_out;
}

size_t ps_lease_n_finished(const struct ps_lease_table *t)
{
    return t->n_finished;
}

enum ps_lease_state ps_lease_state(const struct ps_lease_table *t, uint32_t id)
{
    return (enum ps_lease_state)get(t, id)->state;
}

uint32_t ps_lease_attempts(const struct ps_lease_table *t, uint32_t id)
{
    return get(t, id)->attempts;
}

uint32_t ps_lease_given_back(const struct ps_lease_table *t, uint32_t id)
{
    return get(t, id)->given_back;
}

uint32_t ps_lease_charged(const struct ps_lease_table *t, uint32_t id)
{
    const struct shard *s = get(t, id);

    return s->attempts > s->given_back ? s->attempts - s->given_back : 0;
}

bool ps_lease_dequeue(struct ps_lease_table *t, uint32_t *id)
{
    if (t->q_len == 0)
        return false;
    *id = t->queue[t->q_head];
    t->q_head = (t->q_head + 1) % t->n;
    t->q_len--;
    return true;
}

void ps_lease_requeue(struct ps_lease_table *t, uint32_t id)
{
    struct shard *s = get(t, id);

    remove_out(t, s);
    s->state = PS_LEASE_PENDING;
    if (t->q_len == t->n)
        ps_bug("lease queue overflow");
    t->queue[(t->q_head + t->q_len++) % t->n] = id;
}

void ps_lease_give_back(struct ps_lease_table *t, uint32_t id)
{
    struct shard *s = get(t, id);

    if (s->state != PS_LEASE_LEASED)
        ps_bug("shard %u given back while not leased", id);
    s->given_back++;
    ps_lease_requeue(t, id);
}

void ps_lease_forgive(struct ps_lease_table *t, uint32_t id)
{
    struct shard *s = get(t, id);

    if (s->state != PS_LEASE_PENDING)
        ps_bug("shard %u forgiven while not pending", id);
    s->given_back++;
}

void ps_lease_grant(struct ps_lease_table *t, uint32_t id, size_t worker, uint32_t attempt,
                    uint64_t deadline)
{
    struct shard *s = get(t, id);

    s->state = PS_LEASE_LEASED;
    s->worker = worker;
    s->attempt = attempt;
    if (attempt > s->attempts)
        s->attempts = attempt;
    s->deadline = deadline;
    if (s->out_pos == NOT_OUT) {
        s->out_pos = (uint32_t)t->n_out;
        t->out[t->n_out++] = id;
    }
}

bool ps_lease_is_current(const struct ps_lease_table *t, uint32_t id, size_t worker,
                         uint32_t attempt)
{
    const struct shard *s;

    if (id >= t->n)
        return false;
    s = &t->sh[id];
    return s->state == PS_LEASE_LEASED && s->worker == worker && s->attempt == attempt;
}

bool ps_lease_renew(struct ps_lease_table *t, uint32_t id, size_t worker, uint32_t attempt,
                    uint64_t deadline)
{
    if (!ps_lease_is_current(t, id, worker, attempt))
        return false;
    t->sh[id].deadline = deadline;
    return true;
}

void ps_lease_finish(struct ps_lease_table *t, uint32_t id, enum ps_lease_state st)
{
    struct shard *s = get(t, id);

    if (s->state == PS_LEASE_DONE || s->state == PS_LEASE_FAILED)
        return;
    remove_out(t, s);
    s->state = (uint8_t)st;
    t->n_finished++;
}

size_t ps_lease_expired(const struct ps_lease_table *t, uint64_t now, uint32_t *out, size_t cap)
{
    size_t k = 0;

    for (size_t i = 0; i < t->n_out && k < cap; i++)
        if (now > t->sh[t->out[i]].deadline)
            out[k++] = t->out[i];
    return k;
}

size_t ps_lease_held_by(const struct ps_lease_table *t, size_t worker, uint32_t *out, size_t cap)
{
    size_t k = 0;

    for (size_t i = 0; i < t->n_out && k < cap; i++)
        if (t->sh[t->out[i]].worker == worker)
            out[k++] = t->out[i];
    return k;
}
