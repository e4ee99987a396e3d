/* bench_minhash.c - MinHash throughput per SIMD level, k and method on real text in memory, one
 * thread: the kernel alone (signatures from precomputed shingle hashes) and end to end
 * (normalize + shingle + XXH3 + MinHash). Median of 5 runs. Prints a markdown table.
 *   bench_minhash [--max-mb N] [FILE...]   (default: /usr/share licences, copyrights, man pages)
 *   bench_minhash --accuracy   (Jaccard estimate error of classic and OPH on exact-Jaccard sets) */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "common/cpu.h"
#include "common/minhash.h"
#include "common/minhash_internal.h"

#define RUNS 5

struct corpus {
    char **docs; /* owned */
    size_t *lens;
    size_t n, cap;
    size_t bytes, max_bytes;
};

static double now(void)
{
    struct timespec ts;

    /* CPU time of this thread: equals wall time on an idle machine, and is not inflated when
     * other processes take the CPU away (this machine has 2 vCPUs shared with builds) */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void add_doc(struct corpus *c, char *text, size_t len)
{
    if (len == 0 || c->bytes >= c->max_bytes) {
        free(text);
        return;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->docs = realloc(c->docs, c->cap * sizeof(*c->docs));
        c->lens = realloc(c->lens, c->cap * sizeof(*c->lens));
        if (c->docs == NULL || c->lens == NULL)
            abort();
    }
    c->docs[c->n] = text;
    c->lens[c->n++] = len;
    c->bytes += len;
}

/* Read a file, through zlib when it is gzip (gzread passes plain files through). */
static void load_file(struct corpus *c, const char *path)
{
    gzFile gz = gzopen(path, "rb");
    size_t cap = 1 << 16, len = 0;
    char *buf;
    int n;

    if (gz == NULL)
        return;
    buf = malloc(cap);
    while (buf != NULL && (n = gzread(gz, buf + len, (unsigned)(cap - len))) > 0) {
        len += (size_t)n;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    gzclose(gz);
    if (buf == NULL)
        abort();
    add_doc(c, buf, len);
}

static void load_dir(struct corpus *c, const char *dir, const char *leaf)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    while (d != NULL && (de = readdir(d)) != NULL && c->bytes < c->max_bytes) {
        char path[1024];

        if (de->d_name[0] == '.')
            continue;
        if (leaf != NULL)
            snprintf(path, sizeof(path), "%s/%s/%s", dir, de->d_name, leaf);
        else
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        load_file(c, path);
    }
    if (d != NULL)
        closedir(d);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof(*v), cmp_double);
    return v[RUNS / 2];
}

/* Mean absolute error and standard deviation of (estimate - J) over pairs of random hash sets
 * of exactly known Jaccard J: |A u B| = u, |A n B| = J u, the rest split between A and B. */
static int accuracy(void)
{
    const unsigned ks[] = {64, 128, 256};
    const double js[] = {0.5, 0.8, 0.9, 0.95};
    const size_t us[] = {100, 1000};
    const int trials = 2000;
    uint64_t *a = malloc(1000 * sizeof(*a)), *b = malloc(1000 * sizeof(*b)), s = 12345;
    uint32_t *sa = malloc(256 * 4), *sb = malloc(256 * 4);

    printf("| set size (union) | k | J | classic mean abs err | classic std | OPH mean abs err | "
           "OPH std | theory std sqrt(J(1-J)/k) |\n|---|---|---|---|---|---|---|---|\n");
    for (size_t ui = 0; ui < 2; ui++) {
        for (size_t ki = 0; ki < 3; ki++) {
            for (size_t ji = 0; ji < 4; ji++) {
                double mae[2] = {0, 0}, var[2] = {0, 0};

                for (int method = 0; method < 2; method++) {
                    struct ps_minhash_opts o = ps_minhash_opts_default();
                    struct ps_minhash *m;

                    o.k = ks[ki];
                    o.method = (enum ps_minhash_method)method;
                    if (ps_minhash_new(&m, &o, NULL) != PS_OK)
                        return 1;
                    for (int t = 0; t < trials; t++) {
                        size_t u = us[ui], inter = (size_t)(js[ji] * (double)u + 0.5), na = 0,
                               nb = 0;
                        double d;

                        for (size_t i = 0; i < inter; i++)
                            a[na++] = b[nb++] = ps_minhash_splitmix64(&s);
                        for (size_t i = inter; i < u; i++) {
                            if (i % 2)
                                a[na++] = ps_minhash_splitmix64(&s);
                            else
                                b[nb++] = ps_minhash_splitmix64(&s);
                        }
                        ps_minhash_from_hashes(m, a, na, sa);
                        ps_minhash_from_hashes(m, b, nb, sb);
                        d = ps_minhash_jaccard(sa, sb, o.k) - (double)inter / (double)u;
                        mae[method] += d < 0 ? -d : d;
                        var[method] += d * d;
                    }
                    ps_minhash_free(m);
                }
                printf("| %zu | %u | %.2f | %.4f | %.4f | %.4f | %.4f | %.4f |\n", us[ui], ks[ki],
                       js[ji], mae[0] / trials, sqrt(var[0] / trials), mae[1] / trials,
                       sqrt(var[1] / trials), sqrt(js[ji] * (1 - js[ji]) / ks[ki]));
            }
        }
    }
    free(a);
    free(b);
    free(sa);
    free(sb);
    return 0;
}

int main(int argc, char **argv)
{
    struct corpus c = {0};
    const unsigned ks[] = {64, 128, 256};
    uint64_t *all_hashes = NULL;
    size_t *hoff, n_hashes = 0;
    uint32_t *sig = malloc(256 * sizeof(*sig));
    double base_kernel[2][3] = {{0}};
    int argi = 1;

    if (argc > 1 && strcmp(argv[1], "--accuracy") == 0)
        return accuracy();
    c.max_bytes = (size_t)16 << 20;
    if (argi + 1 < argc && strcmp(argv[argi], "--max-mb") == 0) {
        c.max_bytes = (size_t)strtoul(argv[argi + 1], NULL, 10) << 20;
        argi += 2;
    }
    for (; argi < argc; argi++)
        load_file(&c, argv[argi]);
    if (c.n == 0) {
        load_dir(&c, "/usr/share/common-licenses", NULL);
        load_dir(&c, "/usr/share/doc", "copyright");
        load_dir(&c, "/usr/share/man/man1", NULL);
        load_dir(&c, "/usr/share/man/man3", NULL);
        load_dir(&c, "/usr/share/man/man8", NULL);
    }
    if (c.n == 0) {
        fprintf(stderr, "bench_minhash: no text found; pass files on the command line\n");
        return 1;
    }

    /* shingle hashes of the whole corpus once, for the kernel-alone runs */
    hoff = malloc((c.n + 1) * sizeof(*hoff));
    {
        struct ps_minhash *m;

        if (ps_minhash_new(&m, NULL, NULL) != PS_OK)
            return 1;
        for (size_t d = 0; d < c.n; d++) {
            const uint64_t *h;
            size_t n;

            if (ps_minhash_shingle_hashes(m, c.docs[d], c.lens[d], &h, &n) != PS_OK)
                return 1;
            all_hashes = realloc(all_hashes, (n_hashes + n + 1) * sizeof(*all_hashes));
            memcpy(all_hashes + n_hashes, h, n * sizeof(*h));
            hoff[d] = n_hashes;
            n_hashes += n;
        }
        hoff[c.n] = n_hashes;
        ps_minhash_free(m);
    }
    printf("corpus: %zu documents, %.2f MB of text (MB = 10^6 bytes), %zu word 5-gram shingles "
           "(%.2f bytes per shingle); best SIMD level here: %s\n\n",
           c.n, (double)c.bytes / 1e6, n_hashes, (double)c.bytes / (double)n_hashes,
           ps_simd_name(ps_cpu_best_simd()));
    printf("| method | k | SIMD | kernel M shingles/s | kernel ns/shingle | kernel text MB/s | "
           "kernel vs scalar | end-to-end text MB/s | end-to-end M shingles/s |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    for (int method = 0; method < 2; method++) {
        for (size_t ki = 0; ki < 3; ki++) {
            for (int level = PS_SIMD_SCALAR; level < PS_SIMD__COUNT; level++) {
                struct ps_minhash_opts o = ps_minhash_opts_default();
                struct ps_minhash *m;
                double tk[RUNS], te[RUNS], k_s, e_s;

                o.k = ks[ki];
                o.method = (enum ps_minhash_method)method;
                o.simd = (enum ps_simd)level;
                if (!ps_cpu_simd_supported(o.simd)) {
                    printf("| %s | %u | %s | skipped: not supported by this CPU |||||||\n",
                           method ? "OPH" : "classic", o.k, ps_simd_name(o.simd));
                    continue;
                }
                if (ps_minhash_new(&m, &o, NULL) != PS_OK)
                    return 1;
                for (int r = 0; r < RUNS; r++) {
                    double t0 = now();

                    for (size_t d = 0; d < c.n; d++)
                        ps_minhash_from_hashes(m, all_hashes + hoff[d], hoff[d + 1] - hoff[d], sig);
                    tk[r] = now() - t0;
                    t0 = now();
                    for (size_t d = 0; d < c.n; d++)
                        if (ps_minhash_text(m, c.docs[d], c.lens[d], sig, NULL) != PS_OK)
                            return 1;
                    te[r] = now() - t0;
                }
                k_s = median(tk);
                e_s = median(te);
                if (level == PS_SIMD_SCALAR)
                    base_kernel[method][ki] = k_s;
                printf("| %s | %u | %s | %.1f | %.2f | %.0f | %.2fx | %.0f | %.1f |\n",
                       method ? "OPH" : "classic", o.k, ps_simd_name(o.simd),
                       (double)n_hashes / k_s / 1e6, k_s / (double)n_hashes * 1e9,
                       (double)c.bytes / k_s / 1e6, base_kernel[method][ki] / k_s,
                       (double)c.bytes / e_s / 1e6, (double)n_hashes / e_s / 1e6);
                fflush(stdout);
                ps_minhash_free(m);
            }
        }
    }
    for (size_t d = 0; d < c.n; d++)
        free(c.docs[d]);
    free(c.docs);
    free(c.lens);
    free(all_hashes);
    free(hoff);
    free(sig);
    return 0;
}
