/* fileio.c - mkdir -p and atomic replace (write, fsync, rename in the same directory). */
#include "common/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum ps_err ps_file_mkdirs(const char *dir, struct ps_errdetail *ed)
{
    char tmp[4096];

    if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp)) {
        ps_errdetail_set(ed, NULL, 0, "path too long: '%.100s...'", dir);
        return PS_ERR_IO;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            goto fail;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        goto fail;
    return PS_OK;
fail:
    ps_errdetail_set(ed, NULL, 0, "cannot create directory '%s': %s", tmp, strerror(errno));
    return PS_ERR_IO;
}

enum ps_err ps_file_write_atomic(const char *path, const void *src, size_t src_len,
                                 struct ps_errdetail *ed)
{
    char tmp[4200];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "wb");
    if (f == NULL) {
        ps_errdetail_set(ed, NULL, 0, "cannot write '%s': %s", tmp, strerror(errno));
        return PS_ERR_IO;
    }
    if ((src_len > 0 && fwrite(src, 1, src_len, f) != src_len) || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
        ps_errdetail_set(ed, NULL, 0, "cannot write '%s': %s", tmp, strerror(errno));
        fclose(f);
        unlink(tmp);
        return PS_ERR_IO;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        ps_errdetail_set(ed, NULL, 0, "cannot replace '%s': %s", path, strerror(errno));
        unlink(tmp);
        return PS_ERR_IO;
    }
    return PS_OK;
}
