/* curve.h - CURVE key material for the coordinator-worker link: key pairs as libzmq makes them
 * (zmq_curve_keypair, Z85 text), the key files `poisonscan keygen` writes and the coordinator
 * and workers read, and the set of worker public keys a coordinator admits (its allow file).
 *
 * Key file format (docs/security.md), the same for secret key, public key and allow files:
 * text, lines end in \n or \r\n; blank lines and lines whose first non-blank character is '#'
 * are ignored (no key's Z85 text starts with '#'); every other line is `KEY [NAME]`: a
 * 40-character Z85 key, then optionally blanks and a name of 1..64 characters from
 * [A-Za-z0-9._@:+-]; blanks around both are ignored.
 * A secret key file and a public key file hold exactly one key line; an allow file one or more.
 * Limits: a file PS_CURVE_FILE_MAX bytes, a line PS_CURVE_LINE_MAX, an allow file
 * PS_CURVE_ALLOW_MAX keys. Errors name the file and the line.
 *
 * No function here logs or keeps a copy of a secret key beyond what the caller asked for. */
#ifndef PS_COMMON_CURVE_H
#define PS_COMMON_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define PS_CURVE_KEY_LEN   32         /* a key in binary */
#define PS_CURVE_Z85_LEN   40         /* a key in Z85 text */
#define PS_CURVE_Z85_CAP   41         /* ... with its NUL */
#define PS_CURVE_NAME_MAX  64         /* bytes of a key's name */
#define PS_CURVE_LINE_MAX  256        /* bytes of one line, without its line end */
#define PS_CURVE_FILE_MAX  (1u << 20) /* bytes of a key or allow file */
#define PS_CURVE_ALLOW_MAX 100000u    /* keys in an allow file */

/* A key pair in Z85 text, NUL-terminated. Plain data; wipe it with ps_curve_keypair_wipe(). */
struct ps_curve_keypair {
    char public_key[PS_CURVE_Z85_CAP];
    char secret_key[PS_CURVE_Z85_CAP];
};

/* true when libzmq was built with CURVE (zmq_has("curve")); Debian's is. */
bool ps_curve_available(void);

/* A fresh key pair from zmq_curve_keypair() (libsodium's random source). PS_ERR_UNSUPPORTED
 * when libzmq lacks CURVE. Thread-safe. */
enum ps_err ps_curve_keypair_new(struct ps_curve_keypair *out, struct ps_errdetail *ed);

/* Overwrite both keys with zeros in a way the compiler cannot drop. */
void ps_curve_keypair_wipe(struct ps_curve_keypair *kp);

/* Zero n bytes at p (borrowed) that held a secret, in a way the compiler cannot drop. */
void ps_curve_wipe(void *p, size_t n);

/* true when src[0, src_len) is a Z85 key: 40 characters of the Z85 alphabet whose every group
 * of 5 stays below 2^32. */
bool ps_curve_z85_valid(const char *src, size_t src_len);

/* Decode a valid Z85 key (40 characters, borrowed) into dst[PS_CURVE_KEY_LEN]. false if it is
 * not a valid key. */
bool ps_curve_z85_decode(uint8_t *dst, const char *z85);

/* Called for every key line of a file: `z85` and `name` are NUL-terminated views valid during
 * the call (name "" when the line has none), line_no counts from 1. A non-PS_OK return stops
 * the parse and is returned by it. */
typedef enum ps_err (*ps_curve_line_fn)(void *ctx, const char *z85, const char *name,
                                        size_t line_no, struct ps_errdetail *ed);

/* Parse key-file text src[0, src_len) (borrowed) named `file` (borrowed, for messages) and call
 * `fn` for each key line. PS_ERR_PARSE (a bad key, a bad name, a NUL or control byte, a line too
 * long) or PS_ERR_LIMIT (the text is over PS_CURVE_FILE_MAX), with file and line in `ed`. Pure;
 * thread-safe. */
enum ps_err ps_curve_parse(const char *src, size_t src_len, const char *file, ps_curve_line_fn fn,
                           void *ctx, struct ps_errdetail *ed);

/* Read the secret key file `path` (borrowed; a regular file or a pipe such as /dev/fd/3): exactly
 * one key line, its public key derived with zmq_curve_public(). On PS_OK *out holds both keys and
 * *loose_mode (may be NULL) says whether a regular file is readable by its group or others.
 * Errors: PS_ERR_IO, PS_ERR_PARSE, PS_ERR_LIMIT, PS_ERR_UNSUPPORTED; *out is wiped then. */
enum ps_err ps_curve_read_secret(const char *path, struct ps_curve_keypair *out, bool *loose_mode,
                                 struct ps_errdetail *ed);

/* A public key given as text (`arg`, borrowed): the 40 Z85 characters themselves, or else
 * "@FILE" for a public key file with exactly one key line (a valid key is taken as a key even if
 * it starts with '@', which Z85 uses). Writes the key into dst[PS_CURVE_Z85_CAP].
 * PS_ERR_USAGE (not a key), PS_ERR_IO, PS_ERR_PARSE, PS_ERR_LIMIT. */
enum ps_err ps_curve_read_public(const char *arg, char *dst, struct ps_errdetail *ed);

/* Write `kp` (borrowed) as a secret key file at `secret_path` (mode 0600 from its creation) and
 * a public key file at `public_path` (mode 0644); both hold a comment that says what they are,
 * and the public key line carries `name` (borrowed, may be NULL or ""; else 1..64 characters as
 * above). Without `force`, PS_ERR_IO when either file exists, and nothing is written; with it,
 * each file is replaced atomically (a new 0600 file renamed over the old one, so a secret never
 * lands in a file with looser permissions). PS_ERR_USAGE for a bad name. */
enum ps_err ps_curve_write_keypair(const struct ps_curve_keypair *kp, const char *secret_path,
                                   const char *public_path, const char *name, bool force,
                                   struct ps_errdetail *ed);

/* The public keys a coordinator admits, each with a name (the ZAP user id). Opaque; lookups are
 * O(log n). Not thread-safe: one thread uses one set. */
struct ps_curve_allow;

/* An empty set; free with ps_curve_allow_free(). */
struct ps_curve_allow *ps_curve_allow_new(void);

/* Add a Z85 public key (borrowed) with a name (borrowed, may be NULL or ""). A key already in
 * the set keeps its first name. PS_ERR_USAGE for a bad key or name, PS_ERR_LIMIT past
 * PS_CURVE_ALLOW_MAX keys. */
enum ps_err ps_curve_allow_add(struct ps_curve_allow *a, const char *z85, const char *name,
                               struct ps_errdetail *ed);

/* Parse allow-file text (see ps_curve_parse) into a new set: at least one key. On PS_OK *out
 * owns the set; else *out is NULL and `ed` names file and line. */
enum ps_err ps_curve_allow_parse(struct ps_curve_allow **out, const char *src, size_t src_len,
                                 const char *file, struct ps_errdetail *ed);

/* Read and parse the allow file `path` (borrowed). As ps_curve_allow_parse(), plus PS_ERR_IO. */
enum ps_err ps_curve_allow_load(struct ps_curve_allow **out, const char *path,
                                struct ps_errdetail *ed);

/* A copy of `a` (borrowed); free with ps_curve_allow_free(). */
struct ps_curve_allow *ps_curve_allow_dup(const struct ps_curve_allow *a);

/* The name of binary key `key` (PS_CURVE_KEY_LEN bytes, borrowed) if the set holds it: the name
 * from the file, or the key's Z85 text when it had none. A view valid until the set changes.
 * NULL when the key is not in the set. */
const char *ps_curve_allow_find(const struct ps_curve_allow *a, const uint8_t *key);

size_t ps_curve_allow_n(const struct ps_curve_allow *a);

/* NULL is fine. */
void ps_curve_allow_free(struct ps_curve_allow *a);

#endif
