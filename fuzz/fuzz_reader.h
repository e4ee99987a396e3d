/* fuzz_reader.h - the body of the reader fuzz targets: arbitrary bytes as a shard of the format
 * that SUFFIX names, read with limits from its first two bytes (max_line 1..256, I/O size
 * 1..256): no crash, no hang, and the counters agree with what ps_reader_next returned.
 * Included by fuzz_reader_zst.c and fuzz_reader_gz.c, which only define SUFFIX. */
#ifndef SUFFIX
#    error "define SUFFIX before including fuzz_reader.h"
#endif

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/reader.h"
#include "common/reader_internal.h"
#include "common/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[] = "/tmp/ps_fuzz_reader_XXXXXX", path[64];
    struct ps_reader_opts o = ps_reader_opts_default();
    struct ps_reader *r;
    struct ps_errdetail ed;
    const struct ps_reader_stats *st;
    uint64_t docs = 0, errors = 0, text_bytes = 0, last_offset = 0;
    size_t io_size;
    int fd, calls;

    if (size < 2)
        return 0;
    o.max_line = 1 + (size_t)data[0];
    o.zstd_window_log_max = 10; /* the smallest window zstd allows: bounds decoder memory */
    o.max_depth = 8;
    io_size = 1 + (size_t)data[1];
    if (mkdtemp(dir) == NULL)
        return 0;
    snprintf(path, sizeof(path), "%s/shard" SUFFIX, dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data + 2, size - 2) != (ssize_t)(size - 2))
        abort();
    close(fd);
    if (ps_reader_open_io(&r, path, 0, UINT64_MAX, &o, io_size, &ed) != PS_OK)
        abort();
    for (calls = 0; calls < 1000000; calls++) {
        struct ps_doc doc;
        bool has = false;
        enum ps_err err = ps_reader_next(r, &doc, &has);

        if (err == PS_ERR_PARSE || err == PS_ERR_LIMIT) {
            if (has || ps_reader_last_error(r)->file != path)
                abort();
            errors++;
            continue;
        }
        if (err != PS_OK) {
            bool again = true;

            if (err != PS_ERR_ZSTD && err != PS_ERR_GZIP && err != PS_ERR_IO)
                abort();
            if (ps_reader_next(r, &doc, &again) != err || again)
                abort();
            errors++;
            break;
        }
        if (!has)
            break;
        if (!ps_utf8_is_valid(doc.text, doc.text_len) || doc.line_len > o.max_line ||
            (docs > 0 && doc.offset <= last_offset) || doc.id == NULL)
            abort();
        last_offset = doc.offset;
        docs++;
        text_bytes += doc.text_len;
    }
    st = ps_reader_stats(r);
    if (st->docs != docs || st->errors != errors || st->text_bytes != text_bytes)
        abort();
    ps_reader_free(r);
    unlink(path);
    rmdir(dir);
    return 0;
}
