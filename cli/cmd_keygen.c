/* cmd_keygen.c - `poisonscan keygen`: a CURVE key pair for a coordinator or a worker, as two
 * files (the secret one mode 0600) and the public key line on stdout for an allow file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "common/curve.h"

static const char usage_line[] =
    "poisonscan keygen [--force] [--public-key FILE] [--name NAME] SECRET_KEY_FILE";

/* "keys/worker-07.key" -> "worker-07": the file's base name without its extension, with any
 * character a key name cannot hold turned into '_'. */
static void default_name(const char *path, char *dst, size_t dst_cap)
{
    const char *base = strrchr(path, '/');
    const char *dot;
    size_t n;

    base = base != NULL ? base + 1 : path;
    dot = strrchr(base, '.');
    n = dot != NULL && dot != base ? (size_t)(dot - base) : strlen(base);
    if (n > PS_CURVE_NAME_MAX)
        n = PS_CURVE_NAME_MAX;
    if (n >= dst_cap)
        n = dst_cap - 1;
    for (size_t i = 0; i < n; i++) {
        char c = base[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("._@:+-", c) != NULL;
        dst[i] = ok ? c : '_';
    }
    dst[n] = '\0';
}

int ps_cmd_keygen(int argc, char **argv)
{
    const char *public_path = NULL, *name = NULL;
    bool force = false;
    const struct ps_opt table[] = {
        {.flag = "force",
         .type = PS_OPT_BOOL,
         .target = &force,
         .help = "replace existing key files (each atomically, the secret one never readable by "
                 "others)"},
        {.flag = "public-key",
         .type = PS_OPT_STRING,
         .target = &public_path,
         .help = "where the public key goes (default: SECRET_KEY_FILE with .key replaced by, or "
                 "else followed by, .pub)",
         .metavar = "FILE"},
        {.flag = "name",
         .type = PS_OPT_STRING,
         .target = &name,
         .help = "the key's name in allow files and logs (default: the file's base name)",
         .metavar = "NAME"},
    };
    size_t n = sizeof(table) / sizeof(table[0]);
    struct ps_opts_result res = {0};
    struct ps_errdetail ed = {0};
    struct ps_curve_keypair kp;
    char pub_default[4096], name_default[PS_CURVE_NAME_MAX + 1];
    struct stat st;
    enum ps_err err;
    int rc = PS_EXIT_USAGE;

    if (ps_opts_parse(table, n, argc, argv, usage_line, stdout, &res, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan keygen: %s\n", ed.msg);
        goto done;
    }
    if (res.help_shown) {
        rc = 0;
        goto done;
    }
    if (res.n_positional != 1) {
        fprintf(stderr, "poisonscan keygen: give one SECRET_KEY_FILE\nusage: %s\n", usage_line);
        goto done;
    }
    if (public_path == NULL) {
        /* "w7.key" -> "w7.pub", anything else gets ".pub" appended */
        size_t len = strlen(res.positional[0]);
        bool dot_key = len > 4 && strcmp(res.positional[0] + len - 4, ".key") == 0;
        if ((size_t)snprintf(pub_default, sizeof(pub_default), "%.*s.pub",
                             (int)(dot_key ? len - 4 : len),
                             res.positional[0]) >= sizeof(pub_default)) {
            fprintf(stderr, "poisonscan keygen: path too long\n");
            goto done;
        }
        public_path = pub_default;
    }
    if (strcmp(public_path, res.positional[0]) == 0) {
        fprintf(stderr, "poisonscan keygen: the public and the secret key need two files\n");
        goto done;
    }
    if (name == NULL) {
        default_name(res.positional[0], name_default, sizeof(name_default));
        name = name_default;
    }
    if (ps_curve_keypair_new(&kp, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan keygen: %s\n", ed.msg);
        rc = PS_EXIT_INFRA;
        goto done;
    }
    err = ps_curve_write_keypair(&kp, res.positional[0], public_path, name, force, &ed);
    if (err != PS_OK) {
        fprintf(stderr, "poisonscan keygen: %s\n", ed.msg);
        /* an existing file or a bad name is the caller's to fix; anything else is the disk */
        rc =
            err == PS_ERR_USAGE ||
                    (!force && (lstat(res.positional[0], &st) == 0 || lstat(public_path, &st) == 0))
                ? PS_EXIT_USAGE
                : PS_EXIT_INFRA;
    } else {
        printf("%s%s%s\n", kp.public_key, name[0] ? " " : "", name);
        rc = 0;
    }
    ps_curve_keypair_wipe(&kp);
done:
    ps_opts_release(table, n, &res);
    return rc;
}
