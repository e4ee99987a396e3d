/* chat.c - template markers to parts. Only '<' and '[' can start a marker anywhere, the others
 * only at a line start, so the splitter visits just those places. The split is kept only when
 * both sides were seen: a lone "User:" line in a forum page is not a dialogue. */
#include "common/chat.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Longest role word looked at after "<|im_start|>" and the like. */
#define ROLE_WORD_MAX 32

enum kind {
    K_SET,  /* the text after the marker has the marker's role */
    K_WORD, /* a role word follows, up to `term`; the word decides the role */
    K_END,  /* closes a turn: the text after it is plain */
    K_SKIP  /* structure without a role change ("<s>") */
};

struct marker {
    const char *s;
    size_t len;
    enum kind kind;
    enum ps_chat_role role; /* K_SET */
    bool line_start;        /* only at offset 0 or right after '\n' */
    const char *term;       /* K_WORD: what ends the role word */
};

static const struct marker markers[] = {
    {"<|im_start|>", sizeof("<|im_start|>") - 1, K_WORD, PS_CHAT_TEXT, false, "\n"},
    {"<|im_end|>", sizeof("<|im_end|>") - 1, K_END, PS_CHAT_TEXT, false, NULL},
    {"<|start_header_id|>", sizeof("<|start_header_id|>") - 1, K_WORD, PS_CHAT_TEXT, false,
     "<|end_header_id|>"},
    {"<|eot_id|>", sizeof("<|eot_id|>") - 1, K_END, PS_CHAT_TEXT, false, NULL},
    {"<|begin_of_text|>", sizeof("<|begin_of_text|>") - 1, K_SKIP, PS_CHAT_TEXT, false, NULL},
    {"<|endoftext|>", sizeof("<|endoftext|>") - 1, K_END, PS_CHAT_TEXT, false, NULL},
    {"<start_of_turn>", sizeof("<start_of_turn>") - 1, K_WORD, PS_CHAT_TEXT, false, "\n"},
    {"<end_of_turn>", sizeof("<end_of_turn>") - 1, K_END, PS_CHAT_TEXT, false, NULL},
    {"<s>", sizeof("<s>") - 1, K_SKIP, PS_CHAT_TEXT, false, NULL},
    {"</s>", sizeof("</s>") - 1, K_END, PS_CHAT_TEXT, false, NULL},
    {"<<SYS>>", sizeof("<<SYS>>") - 1, K_SET, PS_CHAT_SYSTEM, false, NULL},
    {"<</SYS>>", sizeof("<</SYS>>") - 1, K_SET, PS_CHAT_PROMPT, false, NULL},
    {"[INST]", sizeof("[INST]") - 1, K_SET, PS_CHAT_PROMPT, false, NULL},
    {"[/INST]", sizeof("[/INST]") - 1, K_SET, PS_CHAT_RESPONSE, false, NULL},
    {"### Instruction:", sizeof("### Instruction:") - 1, K_SET, PS_CHAT_PROMPT, true, NULL},
    {"### Input:", sizeof("### Input:") - 1, K_SET, PS_CHAT_PROMPT, true, NULL},
    {"### Response:", sizeof("### Response:") - 1, K_SET, PS_CHAT_RESPONSE, true, NULL},
    {"### System:", sizeof("### System:") - 1, K_SET, PS_CHAT_SYSTEM, true, NULL},
    {"### Human:", sizeof("### Human:") - 1, K_SET, PS_CHAT_PROMPT, true, NULL},
    {"### User:", sizeof("### User:") - 1, K_SET, PS_CHAT_PROMPT, true, NULL},
    {"### Assistant:", sizeof("### Assistant:") - 1, K_SET, PS_CHAT_RESPONSE, true, NULL},
    {"Human:", sizeof("Human:") - 1, K_SET, PS_CHAT_PROMPT, true, NULL},
    {"User:", sizeof("User:") - 1, K_SET, PS_CHAT_PROMPT, true, NULL},
    {"USER:", sizeof("USER:") - 1, K_SET, PS_CHAT_PROMPT, true, NULL},
    {"Assistant:", sizeof("Assistant:") - 1, K_SET, PS_CHAT_RESPONSE, true, NULL},
    {"ASSISTANT:", sizeof("ASSISTANT:") - 1, K_SET, PS_CHAT_RESPONSE, true, NULL},
};

#define N_MARKERS (sizeof(markers) / sizeof(markers[0]))

static const char *const role_names[] = {"text", "prompt", "response", "system"};

const char *ps_chat_role_name(enum ps_chat_role role)
{
    return (unsigned)role <= PS_CHAT_SYSTEM ? role_names[role] : "text";
}

static bool eq_nocase(const char *a, size_t n, const char *word)
{
    size_t i;

    if (strlen(word) != n)
        return false;
    for (i = 0; i < n; i++) {
        char c = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] - 'A' + 'a') : a[i];

        if (c != word[i])
            return false;
    }
    return true;
}

enum ps_chat_role ps_chat_role_of(const char *word, size_t n)
{
    static const char *const prompt[] = {"user", "human"};
    static const char *const response[] = {"assistant", "gpt", "chatgpt", "model",
                                           "bot",       "ai",  "bard",    "bing"};
    static const char *const system[] = {"system", "developer"};
    size_t i;

    for (i = 0; i < sizeof(prompt) / sizeof(prompt[0]); i++)
        if (eq_nocase(word, n, prompt[i]))
            return PS_CHAT_PROMPT;
    for (i = 0; i < sizeof(response) / sizeof(response[0]); i++)
        if (eq_nocase(word, n, response[i]))
            return PS_CHAT_RESPONSE;
    for (i = 0; i < sizeof(system) / sizeof(system[0]); i++)
        if (eq_nocase(word, n, system[i]))
            return PS_CHAT_SYSTEM;
    return PS_CHAT_TEXT;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The role word at text[at, ...) ending at `term` (searched within ROLE_WORD_MAX bytes, or the
 * end of the text for "\n"): *role gets its role, the return value is where the marker ends
 * (after the terminator). A word without its terminator in reach counts as no word: the marker
 * ends where it does and opens a plain turn. */
static size_t role_word(const char *text, size_t len, size_t at, const char *term,
                        enum ps_chat_role *role)
{
    size_t tl = strlen(term), reach = len - at, i, a = at, b;

    if (reach > ROLE_WORD_MAX + tl)
        reach = ROLE_WORD_MAX + tl;
    for (i = 0; i + tl <= reach; i++)
        if (memcmp(text + at + i, term, tl) == 0)
            break;
    if (i + tl > reach) {
        if (term[0] != '\n' || at + reach != len) {
            *role = PS_CHAT_TEXT;
            return at;
        }
        i = reach; /* the word runs to the end of the text */
        tl = 0;
    }
    b = at + i;
    while (a < b && is_space(text[a]))
        a++;
    while (b > a && is_space(text[b - 1]))
        b--;
    *role = ps_chat_role_of(text + a, b - a);
    return at + i + tl;
}

/* Can a marker begin with c? (Every line start is asked: a switch, not a call.) */
static bool marker_opens(char c)
{
    switch (c) {
    case '<':
    case '[':
    case '#':
    case 'H':
    case 'U':
    case 'A':
        return true;
    default:
        return false;
    }
}

/* The marker at text[i], or NULL; *end gets where it ends, *role the role after it. */
static const struct marker *match(const char *text, size_t len, size_t i, size_t *end,
                                  enum ps_chat_role *role)
{
    bool at_line = i == 0 || text[i - 1] == '\n';
    size_t k;

    for (k = 0; k < N_MARKERS; k++) {
        const struct marker *m = &markers[k];

        if (m->s[0] != text[i] || (m->line_start && !at_line) || len - i < m->len ||
            memcmp(text + i, m->s, m->len) != 0)
            continue;
        *end = i + m->len;
        *role = m->role;
        if (m->kind == K_WORD)
            *end = role_word(text, len, i + m->len, m->term, role);
        return m;
    }
    return NULL;
}

/* Append the trimmed span [a, b) with `role` unless empty; false when dst is full. */
static bool push(struct ps_chat_part *dst, size_t dst_cap, size_t *n, const char *text, size_t a,
                 size_t b, enum ps_chat_role role)
{
    while (a < b && is_space(text[a]))
        a++;
    while (b > a && is_space(text[b - 1]))
        b--;
    if (a == b)
        return true;
    if (*n == dst_cap)
        return false;
    dst[*n].off = a;
    dst[*n].len = b - a;
    dst[*n].role = role;
    (*n)++;
    return true;
}

static size_t whole(size_t text_len, struct ps_chat_part *dst)
{
    dst[0].off = 0;
    dst[0].len = text_len;
    dst[0].role = PS_CHAT_TEXT;
    return 1;
}

/* Where the next marker can start: memchr finds each kind of place, so a text without markers
 * costs three vectorised passes, not a look at every byte (the splitter runs on every plain
 * document of a crawl). */
struct cursor {
    const char *text;
    size_t len;
    size_t lt, br, line; /* the next '<', '[' and line start at or after the scan point */
};

static size_t find(const struct cursor *c, char ch, size_t from)
{
    const char *p = from < c->len ? memchr(c->text + from, ch, c->len - from) : NULL;

    return p != NULL ? (size_t)(p - c->text) : c->len;
}

static size_t line_start(const struct cursor *c, size_t from)
{
    size_t nl;

    if (from == 0 || from >= c->len || c->text[from - 1] == '\n')
        return from < c->len ? from : c->len;
    nl = find(c, '\n', from);
    return nl < c->len ? nl + 1 : c->len;
}

/* Move every cursor to `from` or beyond. */
static void skip_to(struct cursor *c, size_t from)
{
    if (c->lt < from)
        c->lt = find(c, '<', from);
    if (c->br < from)
        c->br = find(c, '[', from);
    if (c->line < from)
        c->line = line_start(c, from);
}

/* Does text hold `tail` ending at offset `at` (exclusive)? */
static bool ends_at(const char *text, size_t at, const char *tail)
{
    size_t n = strlen(tail);

    return at >= n && memcmp(text + at - n, tail, n) == 0;
}

/* Could a marker of the text open a response turn? Only these can: "[/INST]", the lines that end
 * in "Response:", "Assistant:" or "ASSISTANT:", and a role word after "<|...|>" or
 * "<start_of_turn>". The split needs one, so a text without any is one plain part: three
 * vectorised passes settle nearly every document of a crawl, where visiting every line start
 * cost the reader a fifth of its time (measured on documentation with short lines). */
static bool may_respond(const char *text, size_t len)
{
    const char *p, *end = text + len;

    for (p = text; (p = memchr(p, ':', (size_t)(end - p))) != NULL; p++) {
        size_t at = (size_t)(p - text);

        if (ends_at(text, at, "Response") || ends_at(text, at, "Assistant") ||
            ends_at(text, at, "ASSISTANT"))
            return true;
    }
    for (p = text; (p = memchr(p, '<', (size_t)(end - p))) != NULL; p++)
        if ((end - p >= 2 && p[1] == '|') ||
            ((size_t)(end - p) >= sizeof("<start_of_turn>") - 1 &&
             memcmp(p, "<start_of_turn>", sizeof("<start_of_turn>") - 1) == 0))
            return true;
    for (p = text; (p = memchr(p, ']', (size_t)(end - p))) != NULL; p++)
        if (ends_at(text, (size_t)(p - text), "[/INST"))
            return true;
    return false;
}

size_t ps_chat_split(const char *text, size_t text_len, struct ps_chat_part *dst, size_t dst_cap)
{
    enum ps_chat_role role = PS_CHAT_TEXT;
    struct cursor c = {text, text_len, 0, 0, 0};
    size_t seg = 0, n = 0;
    bool prompt = false, response = false;

    if (dst_cap == 0)
        return 0;
    if (!may_respond(text, text_len))
        return whole(text_len, dst);
    c.lt = find(&c, '<', 0);
    c.br = find(&c, '[', 0);
    for (;;) {
        size_t i = c.lt < c.br ? c.lt : c.br, end;
        const struct marker *m;
        enum ps_chat_role next;

        if (c.line < i)
            i = c.line;
        if (i >= text_len)
            break;
        skip_to(&c, i + 1);
        if (!marker_opens(text[i]))
            continue; /* a line start that no marker begins with */
        m = match(text, text_len, i, &end, &next);
        if (m == NULL)
            continue;
        if (!push(dst, dst_cap, &n, text, seg, i, role))
            return whole(text_len, dst);
        if (m->kind != K_SKIP)
            role = m->kind == K_END ? PS_CHAT_TEXT : next;
        prompt |= m->kind != K_END && next == PS_CHAT_PROMPT;
        response |= m->kind != K_END && next == PS_CHAT_RESPONSE;
        seg = end;
        skip_to(&c, end);
    }
    if (!push(dst, dst_cap, &n, text, seg, text_len, role) || !prompt || !response)
        return whole(text_len, dst);
    if (n == 0) {
        /* nothing but markers: one empty part, so that no marker is ever inside one */
        dst[0].off = dst[0].len = 0;
        dst[0].role = PS_CHAT_TEXT;
        n = 1;
    }
    return n;
}
