/* run_corpus.c - feed every file of a fuzz corpus folder to its target once, so that every
 * crasher found by libFuzzer stays fixed under any compiler (CTest label `fuzz`). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    DIR *dir;
    struct dirent *de;
    int n_files = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    dir = opendir(argv[1]);
    if (dir == NULL) {
        fprintf(stderr, "cannot open corpus '%s'\n", argv[1]);
        return 1;
    }
    while ((de = readdir(dir)) != NULL) {
        char path[4096];
        struct stat st;
        FILE *f;
        uint8_t *buf;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        buf = malloc((size_t)st.st_size + 1);
        f = fopen(path, "rb");
        if (buf == NULL || f == NULL ||
            fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
            fprintf(stderr, "cannot read '%s'\n", path);
            return 1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t)st.st_size);
        free(buf);
        n_files++;
    }
    closedir(dir);
    if (n_files == 0) {
        fprintf(stderr, "corpus '%s' is empty\n", argv[1]);
        return 1;
    }
    printf("%d passed, 0 failed\n", n_files);
    return 0;
}
