/* bench_reader.c - throughput of the worker's input path on plain ASCII JSONL: JSON line parsing
 * with field extraction, UTF-8 validation of the text, and the whole reader over a file in the
 * page cache. Usage: bench_reader [MiB of input, default 128]. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/reader.h"
#include "common/utf8.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 128, total = mib << 20, n = 0, i;
    char *data = malloc(total + 4096), tmpl[] = "/tmp/ps_bench_reader_XXXXXX", path[64];
    struct ps_json *j = ps_json_new(NULL);
    struct ps_json_field f[2] = {{"text", 4, false, false, NULL, 0},
                                 {"id", 2, false, false, NULL, 0}};
    struct ps_errdetail ed;
    struct ps_reader *r;
    unsigned seed = 1;
    size_t lines = 0, text = 0;
    double t0, t;
    FILE *fp;

    if (data == NULL || mkdtemp(tmpl) == NULL)
        return 1;
    /* ~2 KiB documents of words, like web text */
    while (n < total) {
        size_t end = n + 2048;

        n += (size_t)sprintf(data + n,
                             "{\"id\":\"doc-%zu\",\"url\":\"https://example.com/%zu\",\"text\":\"",
                             lines, lines);
        while (n < end) {
            seed = seed * 1103515245u + 12345u;
            data[n++] = (seed >> 16) % 7 == 0 ? ' ' : (char)('a' + (seed >> 16) % 26);
        }
        n += (size_t)sprintf(data + n, "\"}\n");
        lines++;
    }

    t0 = now();
    for (i = 0; i < n;) {
        const char *nl = memchr(data + i, '\n', n - i);
        size_t len = (size_t)(nl - (data + i));

        if (ps_json_parse_line(j, data + i, len, f, 2, &ed) != PS_OK)
            return 1;
        text += f[0].val_len;
        i += len + 1;
    }
    t = now() - t0;
    printf("json_parse_line: %zu lines, %.1f MB/s\n", lines, (double)n / t / 1e6);

    t0 = now();
    if (!ps_utf8_is_valid(data, n))
        return 1;
    t = now() - t0;
    printf("utf8_is_valid:   %.1f MB/s\n", (double)n / t / 1e6);

    snprintf(path, sizeof(path), "%s/bench.jsonl", tmpl);
    fp = fopen(path, "wb");
    if (fp == NULL || fwrite(data, 1, n, fp) != n || fclose(fp) != 0)
        return 1;
    if (ps_reader_open(&r, path, 0, UINT64_MAX, NULL, &ed) != PS_OK)
        return 1;
    t0 = now();
    for (;;) {
        struct ps_doc doc;
        bool has;

        if (ps_reader_next(r, &doc, &has) != PS_OK)
            return 1;
        if (!has)
            break;
        if (!ps_utf8_is_valid(doc.text, doc.text_len))
            return 1;
    }
    t = now() - t0;
    printf("reader+utf8:     %llu docs, %.1f MB/s\n", (unsigned long long)ps_reader_stats(r)->docs,
           (double)n / t / 1e6);
    ps_reader_free(r);
    unlink(path);
    rmdir(tmpl);
    ps_json_free(j);
    free(data);
    return text > 0 ? 0 : 1;
}
