/* bench_scan.c - one worker's scan loop without Redis or ZeroMQ: read, parse, run the pass-1
 * detector and the cluster sketch (as a worker does by default; --no-clusters leaves it out)
 * over shard files in one thread, and print what it did. bench/run_bench.sh sets this beside
 * `zstd -dc` of the same files. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "worker/scan.h"

int main(int argc, char **argv)
{
    struct ps_scan_opts opts = ps_scan_opts_default();
    struct ps_scan *scan;
    struct ps_errdetail ed = {0};
    uint64_t docs = 0, bytes = 0, text_bytes = 0, t0;
    int first = 1;

    /* the sketch size `poisonscan scan` picks for a corpus of a few GB */
    opts.cluster_log2 = 22;
    if (argc > 1 && strcmp(argv[1], "--no-clusters") == 0) {
        opts.cluster_log2 = 0;
        first = 2;
    }
    if (argc <= first) {
        fprintf(stderr, "usage: %s [--no-clusters] FILE...\n", argv[0]);
        return 2;
    }
    if (ps_scan_new(&scan, &opts, &ed) != PS_OK) {
        fprintf(stderr, "bench_scan: %s\n", ed.msg);
        return 1;
    }
    t0 = ps_clock_now_ms();
    for (int i = first; i < argc; i++) {
        struct ps_scan_spec spec = {0};
        spec.pass = 1;
        spec.path = argv[i];
        spec.end = UINT64_MAX;
        if (ps_scan_shard(scan, &spec, NULL, &ed) != PS_OK) {
            fprintf(stderr, "bench_scan: '%s': %s\n", argv[i], ed.msg);
            ps_scan_free(scan);
            return 1;
        }
        docs += ps_scan_stats(scan)->docs;
        bytes += ps_scan_stats(scan)->bytes;
        text_bytes += ps_scan_stats(scan)->text_bytes;
    }
    printf("docs=%" PRIu64 " bytes=%" PRIu64 " text_bytes=%" PRIu64 " seconds=%.3f\n", docs, bytes,
           text_bytes, (double)(ps_clock_now_ms() - t0) / 1000.0);
    ps_scan_free(scan);
    return 0;
}
