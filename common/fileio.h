/* fileio.h - the two file operations the outputs need: create a directory with its parents, and
 * replace a file atomically (temporary name, fsync, rename), so that a reader never sees half a
 * report or a half-written endpoint file. */
#ifndef PS_COMMON_FILEIO_H
#define PS_COMMON_FILEIO_H

#include <stddef.h>

#include "common/error.h"

/* mkdir -p `dir` (borrowed), mode 0755. PS_OK (also when it exists) or PS_ERR_IO with `ed`. */
enum ps_err ps_file_mkdirs(const char *dir, struct ps_errdetail *ed);

/* Write src[0, src_len) to `path` (borrowed) through "<path>.tmp.<pid>" + fsync + rename.
 * PS_OK or PS_ERR_IO with `ed`; on error the temporary file is removed and `path` is untouched. */
enum ps_err ps_file_write_atomic(const char *path, const void *src, size_t src_len,
                                 struct ps_errdetail *ed);

#endif
