/* bench_plan.c - the time to plan 100,000 shards (coordinator/plan.c), two ways a corpus comes:
 *  - files: N small .jsonl.zst files (one shard each) in folders of 1,000, as a crawl dump is
 *    laid out; the planner walks the folders, opens and stats every file;
 *  - split: 4 big plain .jsonl files cut into N shards of --shard-size bytes (4 KiB by default,
 *    the smallest `poisonscan scan --shard-size` takes); the planner reads around every cut to
 *    find the next line start.
 * For each, the median of --runs runs of what a coordinator does with a plan before the first
 * lease: ps_plan_build, ps_plan_fingerprint, ps_plan_serialize (the plan goes to Redis) and
 * ps_plan_deserialize (a resumed job reads it back). The corpus is made once in --dir and kept
 * (its file system caches are warm: a first plan over a cold network file system reads more).
 *
 *   bench_plan [--shards N] [--shard-size BYTES] [--runs R] [--dir DIR]   (default bench-plan/) */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zstd.h>

#include "common/buf.h"
#include "coordinator/plan.h"

#define PER_DIR   1000
#define N_BIG     4
#define MAX_RUNS  15
#define LINE_SIZE 256 /* bytes of one JSON line in the big files */

struct args {
    size_t shards;
    uint64_t shard_size;
    int runs;
    const char *dir;
};

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_plan: %s: %s\n", what, why);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds of this process: on a shared machine the wall clock also counts the time the
 * neighbours had the CPU, and the CPU time is what an idle machine would take. */
static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t parse_u64(const char *flag, const char *v)
{
    char *end;
    unsigned long long n;

    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n == 0)
        die(flag, "expects a positive number");
    return n;
}

static void parse_args(int argc, char **argv, struct args *a)
{
    a->shards = 100000;
    a->shard_size = 4096;
    a->runs = 3;
    a->dir = "bench-plan";
    for (int i = 1; i < argc; i += 2) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            die(f, "needs a value (bench_plan [--shards N] [--shard-size BYTES] [--runs R] "
                   "[--dir DIR])");
        if (strcmp(f, "--shards") == 0)
            a->shards = (size_t)parse_u64(f, v);
        else if (strcmp(f, "--shard-size") == 0)
            a->shard_size = parse_u64(f, v);
        else if (strcmp(f, "--runs") == 0)
            a->runs = (int)parse_u64(f, v);
        else if (strcmp(f, "--dir") == 0)
            a->dir = v;
        else
            die(f, "unknown option");
    }
    if (a->runs > MAX_RUNS)
        die("--runs", "at most 15");
    if (a->shard_size < LINE_SIZE)
        die("--shard-size", "at least 256 (one line of the big files)");
}

static void make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die(path, strerror(errno));
}

/* A stamp file says a corpus of these parameters is complete (written last). */
static bool stamped(const char *dir, const char *what)
{
    char path[4400], text[128] = "";
    FILE *f;

    snprintf(path, sizeof(path), "%s/.complete", dir);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    if (fgets(text, sizeof(text), f) == NULL)
        text[0] = '\0';
    fclose(f);
    return strcmp(text, what) == 0;
}

static void stamp(const char *dir, const char *what)
{
    char path[4400];
    FILE *f;

    snprintf(path, sizeof(path), "%s/.complete", dir);
    f = fopen(path, "w");
    if (f == NULL || fputs(what, f) < 0 || fclose(f) != 0)
        die(path, "cannot write");
}

static void write_file(const char *path, const void *src, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (f == NULL || fwrite(src, 1, len, f) != len || fclose(f) != 0)
        die(path, strerror(errno));
}

/* N files of one zstd-compressed JSON line each, PER_DIR to a folder. */
static void make_files(const char *root, size_t n)
{
    char what[64], path[4400], line[128];
    unsigned char frame[256];

    snprintf(what, sizeof(what), "files %zu", n);
    if (stamped(root, what))
        return;
    fprintf(stderr, "bench_plan: writing %zu files in %s\n", n, root);
    make_dir(root);
    for (size_t i = 0; i < n; i++) {
        size_t len, z;
        if (i % PER_DIR == 0) {
            snprintf(path, sizeof(path), "%s/d%04zu", root, i / PER_DIR);
            make_dir(path);
        }
        len = (size_t)snprintf(line, sizeof(line), "{\"id\":\"f%zu\",\"text\":\"one line\"}\n", i);
        z = ZSTD_compress(frame, sizeof(frame), line, len, 3);
        if (ZSTD_isError(z))
            die("zstd", ZSTD_getErrorName(z));
        snprintf(path, sizeof(path), "%s/d%04zu/f%06zu.jsonl.zst", root, i / PER_DIR, i);
        write_file(path, frame, z);
    }
    stamp(root, what);
}

/* N_BIG plain files that split into n shards of shard_size bytes (lines of LINE_SIZE bytes). */
static void make_big(const char *root, size_t n, uint64_t shard_size)
{
    char what[64], path[4400], line[LINE_SIZE + 1];
    uint64_t per_file = (uint64_t)(n / N_BIG) * shard_size;

    snprintf(what, sizeof(what), "big %zu %" PRIu64, n, shard_size);
    if (stamped(root, what))
        return;
    fprintf(stderr, "bench_plan: writing %d files of %" PRIu64 " MB in %s\n", N_BIG, per_file >> 20,
            root);
    make_dir(root);
    for (int b = 0; b < N_BIG; b++) {
        FILE *f;
        snprintf(path, sizeof(path), "%s/big%d.jsonl", root, b);
        f = fopen(path, "w");
        if (f == NULL)
            die(path, strerror(errno));
        for (uint64_t off = 0, i = 0; off < per_file; off += LINE_SIZE, i++) {
            int k = snprintf(line, sizeof(line), "{\"id\":\"b%d-%" PRIu64 "\",\"text\":\"", b, i);
            memset(line + k, 'x', LINE_SIZE - 3 - (size_t)k);
            memcpy(line + LINE_SIZE - 3, "\"}\n", 3);
            if (fwrite(line, 1, LINE_SIZE, f) != LINE_SIZE)
                die(path, strerror(errno));
        }
        if (fclose(f) != 0)
            die(path, strerror(errno));
    }
    stamp(root, what);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Plan `input` runs times; print the median of each step. */
static void measure(const char *label, const char *input, uint64_t shard_size, int runs)
{
    double t_build[MAX_RUNS], t_fp[MAX_RUNS], t_ser[MAX_RUNS], t_de[MAX_RUNS], t_all[MAX_RUNS];
    double c_build[MAX_RUNS], c_all[MAX_RUNS];
    struct ps_plan_opts po = ps_plan_opts_default();
    size_t n_shards = 0, n_files = 0, text_len = 0;

    po.shard_size = shard_size;
    for (int r = 0; r < runs; r++) {
        struct ps_errdetail ed = {0};
        struct ps_plan *p = NULL, *q = NULL;
        struct ps_buf text;
        volatile uint64_t fp;
        double t0 = now_s(), c0 = cpu_s(), t1, c1, t2, t3, t4;

        if (ps_plan_build(&p, &input, 1, &po, &ed) != PS_OK)
            die(input, ed.msg);
        t1 = now_s();
        c1 = cpu_s();
        fp = ps_plan_fingerprint(p);
        (void)fp;
        t2 = now_s();
        ps_buf_init(&text, SIZE_MAX / 2);
        if (ps_plan_serialize(p, &text) != PS_OK)
            die(input, "cannot serialize the plan");
        t3 = now_s();
        if (ps_plan_deserialize(&q, text.data, text.len, &ed) != PS_OK)
            die(input, ed.msg);
        t4 = now_s();
        n_shards = ps_plan_n_shards(p);
        n_files = ps_plan_n_files(p);
        text_len = text.len;
        ps_buf_release(&text);
        ps_plan_free(p);
        ps_plan_free(q);
        t_build[r] = t1 - t0;
        t_fp[r] = t2 - t1;
        t_ser[r] = t3 - t2;
        t_de[r] = t4 - t3;
        t_all[r] = t4 - t0;
        c_build[r] = c1 - c0;
        c_all[r] = cpu_s() - c0;
    }
    printf("%s: %zu files, %zu shards, plan text %.1f MB; median of %d: build %.3f s, "
           "fingerprint %.3f s, serialize %.3f s, deserialize %.3f s, all %.3f s (CPU: build "
           "%.3f s, all %.3f s)\n",
           label, n_files, n_shards, (double)text_len / 1e6, runs, median(t_build, runs),
           median(t_fp, runs), median(t_ser, runs), median(t_de, runs), median(t_all, runs),
           median(c_build, runs), median(c_all, runs));
    printf("plan=%s files=%zu shards=%zu build_s=%.3f total_s=%.3f build_cpu_s=%.3f "
           "total_cpu_s=%.3f\n",
           label, n_files, n_shards, median(t_build, runs), median(t_all, runs),
           median(c_build, runs), median(c_all, runs));
}

int main(int argc, char **argv)
{
    struct args a;
    char files[4096], big[4096];

    parse_args(argc, argv, &a);
    if (strlen(a.dir) > 4000)
        die("--dir", "too long");
    make_dir(a.dir);
    snprintf(files, sizeof(files), "%s/files", a.dir);
    snprintf(big, sizeof(big), "%s/big", a.dir);
    make_files(files, a.shards);
    make_big(big, a.shards, a.shard_size);
    measure("files", files, a.shard_size, a.runs);
    measure("split", big, a.shard_size, a.runs);
    return 0;
}
