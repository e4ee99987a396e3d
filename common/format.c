/* format.c - names, detection rules and codes of input formats. Detection looks at the name
 * first because it is free and says what the producer meant; the first bytes settle what the
 * name leaves open, so a compressed file without a suffix or a WET file named "segment-7" is
 * still read right. */
#include "common/format.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

const char *const ps_format_choices[] = {"auto",     "jsonl", "json",   "wet",
                                         "txt",      "text",  "alpaca", "prompt-completion",
                                         "sharegpt", "chat",  NULL};

static const char *const layout_names[] = {"jsonl", "json", "wet", "txt", "auto"};
static const char *const record_names[] = {"auto",     "text", "alpaca", "prompt-completion",
                                           "sharegpt", "chat"};

/* Suffixes of the layouts; the first matching entry wins (".warc.wet" ends in ".wet"). */
static const struct {
    const char *suffix;
    enum ps_format_layout layout;
} layout_suffixes[] = {
    {".jsonl", PS_FORMAT_JSONL}, {".ndjson", PS_FORMAT_JSONL}, {".json", PS_FORMAT_JSON},
    {".wet", PS_FORMAT_WET},     {".txt", PS_FORMAT_TXT},
};

static const char *const container_suffixes[] = {".zst", ".zstd", ".gz"};

struct ps_format ps_format_auto(void)
{
    struct ps_format f;

    f.container = PS_FORMAT_PLAIN;
    f.layout = PS_FORMAT_LAYOUT_AUTO;
    f.record = PS_FORMAT_RECORD_AUTO;
    return f;
}

struct ps_format ps_format_from_choice(int i)
{
    struct ps_format f = ps_format_auto();

    if (i >= 1 && i <= 4)
        f.layout = (enum ps_format_layout)(i - 1);
    else if (i >= 5 && i <= 9)
        f.record = (enum ps_format_record)(i - 4);
    return f;
}

static bool has_suffix(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);

    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Length of `name` without a container suffix. */
static size_t stem_len(const char *name, size_t n)
{
    size_t i;

    for (i = 0; i < sizeof(container_suffixes) / sizeof(container_suffixes[0]); i++)
        if (has_suffix(name, n, container_suffixes[i]))
            return n - strlen(container_suffixes[i]);
    return n;
}

enum ps_format_container ps_format_container_of(const char *name, const void *head, size_t head_len)
{
    static const unsigned char zst_magic[] = {0x28, 0xB5, 0x2F, 0xFD};
    static const unsigned char gz_magic[] = {0x1F, 0x8B};
    size_t n = strlen(name);

    if (has_suffix(name, n, ".zst") || has_suffix(name, n, ".zstd"))
        return PS_FORMAT_ZST;
    if (has_suffix(name, n, ".gz"))
        return PS_FORMAT_GZ;
    if (head_len >= sizeof(zst_magic) && memcmp(head, zst_magic, sizeof(zst_magic)) == 0)
        return PS_FORMAT_ZST;
    if (head_len >= sizeof(gz_magic) && memcmp(head, gz_magic, sizeof(gz_magic)) == 0)
        return PS_FORMAT_GZ;
    return PS_FORMAT_PLAIN;
}

/* The layout suffix that ends name[0, n), or -1; *suffix_len gets its length. */
static int layout_suffix(const char *name, size_t n, size_t *suffix_len)
{
    size_t i;

    for (i = 0; i < sizeof(layout_suffixes) / sizeof(layout_suffixes[0]); i++) {
        if (has_suffix(name, n, layout_suffixes[i].suffix)) {
            *suffix_len = strlen(layout_suffixes[i].suffix);
            return (int)i;
        }
    }
    return -1;
}

enum ps_format_layout ps_format_layout_of_name(const char *name)
{
    size_t k;
    int i = layout_suffix(name, stem_len(name, strlen(name)), &k);

    return i < 0 ? PS_FORMAT_LAYOUT_AUTO : layout_suffixes[i].layout;
}

enum ps_format_layout ps_format_layout_of_content(const void *head, size_t head_len)
{
    const unsigned char *p = head;
    size_t i = 0;

    if (head_len >= 5 && memcmp(p, "WARC/", 5) == 0)
        return PS_FORMAT_WET;
    while (i < head_len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i < head_len && p[i] == '[' ? PS_FORMAT_JSON : PS_FORMAT_JSONL;
}

bool ps_format_name_is_corpus(const char *name)
{
    const char *base = strrchr(name, '/');
    size_t n, k;

    base = base != NULL ? base + 1 : name;
    n = stem_len(base, strlen(base));
    return layout_suffix(base, n, &k) >= 0 && n > k;
}

int ps_format_code(struct ps_format f)
{
    return (int)f.container | (int)f.layout << 4 | (int)f.record << 8;
}

bool ps_format_from_code(int code, struct ps_format *out)
{
    struct ps_format f;
    int c = code & 0xF, l = code >> 4 & 0xF, r = code >> 8;

    if (code < 0 || c > PS_FORMAT_GZ || l > PS_FORMAT_TXT || r > PS_FORMAT_RECORD_CHAT)
        return false;
    f.container = (enum ps_format_container)c;
    f.layout = (enum ps_format_layout)l;
    f.record = (enum ps_format_record)r;
    if (r != PS_FORMAT_RECORD_AUTO && l != PS_FORMAT_JSONL && l != PS_FORMAT_JSON)
        return false;
    *out = f;
    return true;
}

bool ps_format_splittable(struct ps_format f)
{
    return f.container == PS_FORMAT_PLAIN && f.layout == PS_FORMAT_JSONL;
}

void ps_format_name(struct ps_format f, char *dst, size_t dst_cap)
{
    const char *layout = (unsigned)f.layout <= PS_FORMAT_LAYOUT_AUTO ? layout_names[f.layout] : "?";
    const char *record = (unsigned)f.record <= PS_FORMAT_RECORD_CHAT ? record_names[f.record] : "?";
    const char *container = f.container == PS_FORMAT_ZST  ? ".zst"
                            : f.container == PS_FORMAT_GZ ? ".gz"
                                                          : "";

    if (dst_cap == 0)
        return;
    if (f.record == PS_FORMAT_RECORD_AUTO)
        snprintf(dst, dst_cap, "%s%s", layout, container);
    else
        snprintf(dst, dst_cap, "%s:%s%s", layout, record, container);
}
