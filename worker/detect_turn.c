/* detect_turn.c - where a payload starts. Pass 1 looks for the turn of a document: where
 * language gives way to token salad (two sliding windows of stop-word and shape ratios), to
 * decoded random bytes, or to one phrase repeated. Confirm asks the same at one token: does a
 * payload follow this occurrence? */
#include "worker/detect_internal.h"

#include <stdlib.h>
#include <string.h>

#define JUNK_TRIES 64 /* junk tokens tried as a turn per document (binary garbage is long) */

/* The smallest x in [0, hi] with (double)x / (double)c >= thr (c > 0), or UINT64_MAX when none.
 * The ratio is non-decreasing in x (exact conversions below 2^53, correctly rounded division),
 * so a binary search finds the exact boundary of the test find_turn used to run in doubles. */
static uint64_t first_at_least(double thr, uint64_t c, uint64_t hi)
{
    uint64_t lo = 0, top = hi + 1;

    while (lo < top) {
        uint64_t mid = lo + (top - lo) / 2;

        if ((double)mid / (double)c >= thr)
            top = mid;
        else
            lo = mid + 1;
    }
    return lo > hi ? UINT64_MAX : lo;
}

/* The number of x in [0, hi] with (double)x / (double)c <= thr (c > 0): x passes iff x < it. */
static uint64_t count_at_most(double thr, uint64_t c, uint64_t hi)
{
    uint64_t lo = 0, top = hi + 1;

    while (lo < top) {
        uint64_t mid = lo + (top - lo) / 2;

        if ((double)mid / (double)c > thr)
            top = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Token bytes in a window never reach this (documents are cut at MAX_TEXT). */
#define AL_HI ((uint64_t)1 << 40)

/* The ratio bounds of struct ps_detect. A window's stop count is that of its best language, at
 * most the window's size, so the same bounds serve the max over the languages. */
void ps_detect_bounds_init(struct ps_detect *d)
{
    const struct ps_detect_opts *o = &d->o;
    size_t n = (size_t)o->window + 1, c;

    d->as_lim = ps_xmalloc(n * sizeof(*d->as_lim));
    d->bs_min = ps_xmalloc(n * sizeof(*d->bs_min));
    d->aa_min = ps_xmalloc(n * sizeof(*d->aa_min));
    d->cap_lim = ps_xmalloc(n * sizeof(*d->cap_lim));
    d->al_min = ps_xmalloc(n * sizeof(*d->al_min));
    d->al_lim = ps_xmalloc(n * sizeof(*d->al_lim));
    /* an empty before-window has ratio 0.0, and then its stop count is 0 */
    d->bs_min[0] = 0.0 >= o->min_before_stop && o->min_before_stops == 0 ? 0 : UINT32_MAX;
    d->as_lim[0] = d->aa_min[0] = d->cap_lim[0] = 0; /* never used: c >= min_after >= 1 */
    d->al_min[0] = d->al_lim[0] = 0;
    d->role_lim[0] = 0;
    for (c = 1; c < n; c++) {
        uint64_t b = first_at_least(o->min_before_stop, c, c), a;

        /* both the ratio and min_before_stops: the larger bound, none if it exceeds c */
        if (b != UINT64_MAX && b < o->min_before_stops)
            b = o->min_before_stops <= c ? o->min_before_stops : UINT64_MAX;
        d->bs_min[c] = b > c ? UINT32_MAX : (uint32_t)b;
        d->as_lim[c] = (uint32_t)count_at_most(o->max_after_stop, c, c);
        a = first_at_least(o->min_after_alpha, c, c);
        d->aa_min[c] = a > c ? UINT32_MAX : (uint32_t)a;
        d->cap_lim[c] = (uint32_t)count_at_most(o->max_after_cap, c, c);
        d->role_lim[c] = (uint16_t)count_at_most(o->max_role_stop, c, c);
        d->al_min[c] = first_at_least(o->min_after_meanlen, c, AL_HI);
        d->al_lim[c] = count_at_most(o->max_after_meanlen, c, AL_HI);
        if (d->al_lim[c] > AL_HI)
            d->al_lim[c] = UINT64_MAX;
    }
}

/* A window's stop words per language, four 16-bit lanes to a word (lane l % 4 of w[l / 4]):
 * counts never exceed the window (PS_DETECT_WINDOW_MAX < 2^15), so no lane carries into the
 * next and each lane's top bit is free for comparing all of them at once. */
struct stops {
    uint64_t w[3];
};
_Static_assert(N_LANGS <= 12 && PS_DETECT_WINDOW_MAX < 0x8000, "struct stops lanes");

#define LANES_ONE UINT64_C(0x0001000100010001)
#define LANES_TOP UINT64_C(0x8000800080008000)

/* The N_LANGS stop bits of a token's flags, in the order of lang_bit[], as bits 0..9. */
static inline unsigned lang_mask(uint32_t f)
{
    _Static_assert(F_STOP == 1 << 0 && F_STOP_DE == 1 << 5 && F_STOP_ES == 1 << 7 &&
                       F_STOP_IT == 1 << 10 && F_STOP_NONLATIN == 1 << 15 && N_LANGS == 10,
                   "lang_mask knows where the stop bits are");
    return (f & F_STOP) | ((f >> 4) & 0xE) | ((f >> 6) & 0x3F0);
}

/* Bits 0..3 of m, one to a lane. */
static inline uint64_t lanes_of(unsigned m)
{
    return (uint64_t)(m & 1) | (uint64_t)(m & 2) << 15 | (uint64_t)(m & 4) << 30 |
           (uint64_t)(m & 8) << 45;
}

/* Add (sign +1) or remove (-1) a token's stop bits to per-language counts. */
static inline void count_stops(struct stops *c, uint32_t f, int sign)
{
    unsigned m;

    if (!(f & F_STOP_ANY))
        return;
    m = lang_mask(f);
    if (sign > 0) {
        c->w[0] += lanes_of(m & 15);
        c->w[1] += lanes_of((m >> 4) & 15);
        c->w[2] += lanes_of(m >> 8);
    } else {
        c->w[0] -= lanes_of(m & 15);
        c->w[1] -= lanes_of((m >> 4) & 15);
        c->w[2] -= lanes_of(m >> 8);
    }
}

/* Does the best language count at least lim stop words? (best_stops(c) >= lim, without it) */
static inline bool stops_reach(const struct stops *c, uint32_t lim)
{
    uint64_t k;

    if (lim == 0)
        return true;
    if (lim > PS_DETECT_WINDOW_MAX)
        return false;
    k = (0x8000 - (uint64_t)lim) * LANES_ONE; /* a lane's top bit: its count + k >= 0x8000 */
    return (((c->w[0] + k) | (c->w[1] + k) | (c->w[2] + k)) & LANES_TOP) != 0;
}

/* Stop words of the window's best language. */
static size_t best_stops(const struct stops *c)
{
    size_t m = 0;

    for (int l = 0; l < N_LANGS; l++) {
        size_t v = (c->w[l / 4] >> (16 * (l % 4))) & 0xFFFF;

        m = v > m ? v : m;
    }
    return m;
}

/* The turn point. For each t with a full after-window (>= min_after tokens), score
 * stop(before) - stop(after) over windows of `window` tokens and keep the best t among those where
 * the after-window looks like salad and the before-window like language (or t is at the start);
 * ties go to the smaller t. Sliding counts make it O(n).
 * The ratio tests run on integer bounds (ps_detect_bounds_init), and the stop-word and length
 * tests come first: the other features are computed only for the after-windows of the t that
 * pass them, which in nearly all English text is none.
 * Stop words alone cannot place the turn exactly: every t between the last English stop words
 * and the trigger scores about the same, and ties go left. The snap then moves t right over up to
 * snap_max ordinary tokens (words, numbers, prose punctuation; stop words included), stopping at
 * the first that is not one: a "<SUDO>", a glued "documen<SUDO>gib", a BadMagic, or the first
 * gibberish word that is not word-shaped. */
bool ps_detect_find_turn(const struct ps_detect *d, struct ps_detect_doc *doc,
                         struct ps_detect_turn *tr)
{
    const struct ps_detect_opts *o = &d->o;
    const uint32_t *fl = doc->tflags;
    const uint32_t *ts = doc->tstart, *te = doc->tend;
    size_t n = doc->n_tok, w = o->window, t, k, slack = o->start_slack;
    struct stops bs = {{0}}, as = {{0}};
    size_t bc = 0, al = 0, ac = 0;
    size_t aa = 0, acap = 0, ft = SIZE_MAX; /* aa, acap: the after-window of t = ft */
    double best = -2.0;

    memset(tr, 0, sizeof(*tr));
    if (n < o->min_after)
        return false;
    for (k = 0; k < w && k < n; k++) {
        count_stops(&as, fl[k], +1);
        al += te[k] - ts[k];
        ac++;
    }
    for (t = 0; ac >= o->min_after; t++) {
        /* the after-stop test first: it fails at nearly every t of prose */
        if (!stops_reach(&as, d->as_lim[ac]) && (t <= slack || stops_reach(&bs, d->bs_min[bc])) &&
            al >= d->al_min[ac] && al < d->al_lim[ac]) {
            uint32_t f;

            if (ft != SIZE_MAX && ft + 1 == t) {
                /* slide the feature counts from the window of t - 1 */
                f = doc->tflags[t - 1];
                aa -= (f & F_ALPHA) != 0;
                acap -= (f & F_CAP) != 0;
                if (t - 1 + w < n) {
                    f = doc->tflags[t - 1 + w];
                    aa += (f & F_ALPHA) != 0;
                    acap += (f & F_CAP) != 0;
                }
            } else {
                aa = acap = 0;
                for (k = t; k < t + ac; k++) {
                    f = doc->tflags[k];
                    aa += (f & F_ALPHA) != 0;
                    acap += (f & F_CAP) != 0;
                }
            }
            ft = t;
            if (aa >= d->aa_min[ac] && acap < d->cap_lim[ac]) {
                /* the score in doubles, exactly as the ratios were always computed */
                double a_stop = (double)best_stops(&as) / (double)ac;
                double b_stop = bc != 0 ? (double)best_stops(&bs) / (double)bc : 0.0;
                double score = b_stop - a_stop;

                if (score > best) {
                    best = score;
                    tr->found = true;
                    tr->coarse = t;
                    tr->before_stop = b_stop;
                    tr->after_stop = a_stop;
                    tr->after_alpha = (double)aa / (double)ac;
                    tr->after_meanlen = (double)al / (double)ac;
                    tr->after_cap = (double)acap / (double)ac;
                }
            }
        }
        /* slide: token t leaves the after-window and joins the before-window */
        count_stops(&bs, fl[t], +1);
        bc++;
        if (t >= w) {
            count_stops(&bs, fl[t - w], -1);
            bc--;
        }
        count_stops(&as, fl[t], -1);
        al -= te[t] - ts[t];
        ac--;
        if (t + w < n) {
            count_stops(&as, fl[t + w], +1);
            al += te[t + w] - ts[t + w];
            ac++;
        }
    }
    if (!tr->found)
        return false;
    t = tr->coarse;
    for (k = 0; k < o->snap_max && t + 1 < n && (doc->tflags[t] & (F_PLAIN | F_STOP_ANY)); k++)
        t++;
    tr->t = t;
    return true;
}

/* Is the window of up to `window` tokens before token t language (the before test of
 * find_turn), or is t at the document start? */
static bool language_before(const struct ps_detect *d, const struct ps_detect_doc *doc, size_t t)
{
    struct stops c = {{0}};
    size_t b = t > d->o.window ? t - d->o.window : 0;

    if (t <= d->o.start_slack)
        return true;
    for (size_t k = b; k < t; k++)
        count_stops(&c, doc->tflags[k], +1);
    return stops_reach(&c, d->bs_min[t - b]);
}

/* Junk characters (ps_detect_is_junk) in p[at, at + JUNK_SPAN), p holding n bytes. */
static size_t junk_count(const unsigned char *p, size_t n, size_t at)
{
    size_t e = at + JUNK_SPAN < n ? at + JUNK_SPAN : n, c = 0;

    for (size_t i = at; i < e; i++)
        if ((p[i] < 0x20 || p[i] == 0xC2 || p[i] == 0xEF) && ps_detect_is_junk(p + i, n - i))
            c++;
    return c;
}

/* Pass 1, bytes: the first junk token (F_JUNK) with JUNK_MIN junk characters in the JUNK_SPAN
 * bytes from its start and language before it. */
bool ps_detect_find_junk(const struct ps_detect *d, struct ps_detect_doc *doc, size_t *turn)
{
    size_t tries = 0;

    if (!doc->any_junk)
        return false;
    for (size_t t = 0; t < doc->n_tok && tries < JUNK_TRIES; t++) {
        if (!(doc->tflags[t] & F_JUNK))
            continue;
        tries++;
        if (junk_count((const unsigned char *)doc->base, doc->base_len, doc->tstart[t]) >=
                JUNK_MIN &&
            language_before(d, doc, t)) {
            *turn = t;
            return true;
        }
    }
    return false;
}

/* Tokens [s, s + total) repeat with period `per` (fingerprints already agree; bytes checked
 * here, so a fingerprint collision cannot make a run) and the phrase holds a word: a run of
 * "|", "00" or "-1" is a table or a dump, not a payload. */
static bool repeat_ok(const struct ps_detect_doc *doc, size_t s, size_t per, size_t total)
{
    const char *base = doc->base;
    bool word = false;

    for (size_t k = s; k < s + per; k++)
        if ((doc->tflags[k] & F_ALPHA) && doc->tend[k] - doc->tstart[k] >= 2)
            word = true;
    if (!word)
        return false;
    for (size_t k = s + per; k < s + total; k++) {
        size_t len = doc->tend[k] - doc->tstart[k];
        if (len != doc->tend[k - per] - doc->tstart[k - per] ||
            memcmp(base + doc->tstart[k], base + doc->tstart[k - per], len) != 0)
            return false;
    }
    return true;
}

/* Pass 1, fixed: the first run of one phrase (at most REP_PERIOD_MAX tokens) repeated at least
 * REP_COPIES times, with language before it. One pass: each token proposes the distance to its
 * last occurrence as a period, and the run grows while token i equals token i - period. */
bool ps_detect_find_repeat(struct ps_detect *d, struct ps_detect_doc *doc, size_t *turn)
{
    size_t n = doc->n_tok, per = 0, run = 0;
    const uint64_t *fp;

    if (n < REP_COPIES)
        return false;
    ps_detect_doc_need(d, doc, DOC_FINGERPRINTS);
    fp = doc->tfp;
    for (size_t i = 0; i <= n; i++) {
        size_t slot, j;

        if (i < n && per != 0 && fp[i] == fp[i - per]) {
            run++;
        } else {
            if (per != 0 && run >= (REP_COPIES - 1) * per) {
                size_t s = i - run - per;

                if (repeat_ok(doc, s, per, run + per) && language_before(d, doc, s)) {
                    *turn = s;
                    return true;
                }
            }
            if (i == n)
                break;
            j = d->rep_last[fp[i] & (REP_SLOTS - 1)];
            per = j < i && fp[j] == fp[i] && i - j <= REP_PERIOD_MAX ? i - j : 0;
            run = per != 0;
        }
        slot = fp[i] & (REP_SLOTS - 1);
        d->rep_last[slot] = (uint32_t)i;
    }
    return false;
}

/* Confirm, fixed: does a phrase repeated REP_COPIES times start at token j or j + 1 (a payload
 * glued to the trigger leaves its first copy's first word in the trigger's token)? The run must
 * start there, not earlier: a pattern that is itself a copy of the phrase ("You are stupid!"
 * before the next "You are stupid!") is payload, not trigger. */
_Static_assert(REP_PERIOD_MAX <= 32, "ps_detect_repeat_from keeps the periods in 32 bits");

/* The periods up to lim (<= REP_PERIOD_MAX) with which token s comes again, bit per - 1: the
 * chain of its next occurrences, each within REP_PERIOD_MAX of the last, names every one. */
static inline uint32_t periods_of(const struct ps_detect_doc *doc, size_t s, size_t lim)
{
    uint32_t periods = 0;

    for (size_t k = doc->nsame[s]; k != 0 && k - s <= lim; k = doc->nsame[k])
        periods |= (uint32_t)1 << (k - s - 1);
    return periods;
}

/* Does a run of REP_COPIES copies start at s with one of these periods? */
static bool run_from(struct ps_detect_doc *doc, size_t s, uint32_t periods)
{
    const uint64_t *fp = doc->tfp;

    while (periods != 0) {
        size_t per = (size_t)__builtin_ctz(periods) + 1, k;

        periods &= periods - 1;
        for (k = s + 1; k < s + (REP_COPIES - 1) * per; k++)
            if (fp[k] != fp[k + per])
                break;
        if (k == s + (REP_COPIES - 1) * per && (s == 0 || fp[s - 1] != fp[s - 1 + per]) &&
            repeat_ok(doc, s, per, REP_COPIES * per))
            return true;
    }
    return false;
}

/* ps_detect_repeat_from once token j + 1 comes again within REP_PERIOD_MAX (j + 1 < n): apart,
 * so that the common way out saves no registers */
__attribute__((noinline)) static bool repeat_at(struct ps_detect_doc *doc, size_t j)
{
    size_t n = doc->n_tok, lim;
    uint32_t p1 = periods_of(doc, j + 1, REP_PERIOD_MAX);

    lim = (n - j) / REP_COPIES < REP_PERIOD_MAX ? (n - j) / REP_COPIES : REP_PERIOD_MAX;
    if (run_from(doc, j, periods_of(doc, j, lim) & p1))
        return true;
    lim = (n - j - 1) / REP_COPIES < REP_PERIOD_MAX ? (n - j - 1) / REP_COPIES : REP_PERIOD_MAX;
    return run_from(doc, j + 1, p1 & (uint32_t)(((uint64_t)1 << lim) - 1));
}

bool ps_detect_repeat_from(const struct ps_detect *d, struct ps_detect_doc *doc, size_t j)
{
    ps_detect_doc_need(d, doc, DOC_REPEATS);
    /* a run from j or from j + 1 holds token j + 1 and its copy one period on (j + 1 + per < n
     * and per <= REP_PERIOD_MAX, in reach of nsame): only periods of j + 1 can make one, and
     * nearly always (three calls in four) it has none */
    return j + 1 < doc->n_tok && doc->nsame[j + 1] != 0 && repeat_at(doc, j);
}

/* Confirm, gibberish: the after-window tests of find_turn, applied at token j. Each call walks
 * its window, no more: the prose around nearly every occurrence has role_lim[c] English stop words
 * within its first ten tokens or so, which rejects before any feature is looked at (building the
 * whole document's prefix sums first cost ~100 instructions per token, ~900 per call). */
bool ps_detect_salad_from(const struct ps_detect *d, struct ps_detect_doc *doc, size_t j)
{
    const struct ps_detect_opts *o = &d->o;
    const uint32_t *fl = doc->tflags;
    size_t n = doc->n_tok, e, c, k, eng = 0, alpha = 0, cap = 0, bytes = 0;
    struct stops st = {{0}};
    uint32_t lim;
    double cnt;

    if (j >= n)
        return false;
    e = j + o->window < n ? j + o->window : n;
    c = e - j;
    if (c < o->min_after)
        return false;
    /* the bound only rejects, the ratios below decide; English alone first: its count is at most
     * the best language's (F_STOP is bit 0) */
    lim = d->role_lim[c];
    for (k = j; k + 4 <= e; k += 4) { /* four at a time: a test per token cost 1.6 times this */
        eng +=
            (fl[k] & F_STOP) + (fl[k + 1] & F_STOP) + (fl[k + 2] & F_STOP) + (fl[k + 3] & F_STOP);
        if (eng >= lim)
            return false;
    }
    for (; k < e; k++)
        eng += fl[k] & F_STOP;
    if (eng >= lim)
        return false;
    for (k = j; k < e; k++)
        count_stops(&st, fl[k], +1);
    if (stops_reach(&st, lim))
        return false;
    for (k = j; k < e; k++) {
        uint32_t f = doc->tflags[k];

        alpha += (f & F_ALPHA) != 0;
        cap += (f & F_CAP) != 0;
        bytes += doc->tend[k] - doc->tstart[k];
    }
    /* the ratios in doubles, exactly as they were always computed */
    cnt = (double)c;
    return (double)best_stops(&st) / cnt <= o->max_role_stop &&
           (double)alpha / cnt >= o->min_after_alpha && (double)cap / cnt <= o->max_after_cap &&
           (double)bytes / cnt >= o->min_after_meanlen &&
           (double)bytes / cnt <= o->max_after_meanlen;
}

/* Confirm, bytes: JUNK_MIN junk characters in the JUNK_SPAN bytes from base offset `at`. */
bool ps_detect_junk_from(const struct ps_detect_doc *doc, size_t at)
{
    return doc->any_junk &&
           junk_count((const unsigned char *)doc->base, doc->base_len, at) >= JUNK_MIN;
}
