/* reader_internal.h - knobs of the reader that only tests and fuzz targets turn: tiny I/O
 * buffers make every line cross a buffer boundary, which is where streaming bugs live. */
#ifndef PS_COMMON_READER_INTERNAL_H
#define PS_COMMON_READER_INTERNAL_H

#include "common/reader.h"

#define PS_READER_DEFAULT_IO_SIZE ((size_t)1 << 20) /* 1 MiB reads */

/* ps_reader_open with the size of each read(2) and of each decompression step set to `io_size`
 * bytes (>= 1) instead of PS_READER_DEFAULT_IO_SIZE. */
enum ps_err ps_reader_open_io(struct ps_reader **out, const char *path, uint64_t begin,
                              uint64_t end, const struct ps_reader_opts *opts, size_t io_size,
                              struct ps_errdetail *ed);

#endif
