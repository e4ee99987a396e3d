/* reader_record.c - one JSON object (a JSONL line, a JSON array element) to one document: a
 * text field as it is (a view into the line, no copy), or an instruction record's fields joined
 * by '\n' into the reader's text buffer with a part per field. Role names and keys never enter
 * the text: they become the parts' roles. */
#include "common/reader_internal.h"

#include <string.h>

static const char *const shape_keys[PS_READER_F_COUNT] = {
    NULL,     NULL,         "instruction",   "input",    "output",
    "prompt", "completion", "conversations", "messages",
};

void ps_reader_record_init(struct ps_reader *r)
{
    size_t i;

    memset(r->fields, 0, sizeof(r->fields));
    for (i = 0; i < PS_READER_F_COUNT; i++) {
        const char *key = i == PS_READER_F_TEXT ? r->text_field
                          : i == PS_READER_F_ID ? r->id_field
                                                : shape_keys[i];

        r->fields[i].key = key;
        r->fields[i].key_len = strlen(key);
    }
    /* a forced text field reads exactly the two fields it always did */
    r->n_fields = r->fmt.record == PS_FORMAT_RECORD_TEXT ? 2 : PS_READER_F_COUNT;
}

/* Which shape a record has when none is forced: the text field first (the old behaviour), then
 * the first shape whose defining field is present; none is the text shape's "missing" error. */
static enum ps_format_record detect_shape(const struct ps_reader *r)
{
    if (r->fields[PS_READER_F_TEXT].found)
        return PS_FORMAT_RECORD_TEXT;
    if (r->fields[PS_READER_F_MESSAGES].found)
        return PS_FORMAT_RECORD_CHAT;
    if (r->fields[PS_READER_F_CONVERSATIONS].found)
        return PS_FORMAT_RECORD_SHAREGPT;
    if (r->fields[PS_READER_F_INSTRUCTION].found)
        return PS_FORMAT_RECORD_ALPACA;
    if (r->fields[PS_READER_F_PROMPT].found)
        return PS_FORMAT_RECORD_PROMPT_COMPLETION;
    return PS_FORMAT_RECORD_TEXT;
}

/* Building a record's text: parts land in r->parts, the text in r->text. */
struct build {
    struct ps_reader *r;
    size_t n_parts;
    uint64_t start; /* the record's stream offset, for errors */
};

/* Append `s` (n bytes) as a part of `role`; empty values add nothing. */
static enum ps_err add_part(struct build *b, enum ps_chat_role role, const char *s, size_t n)
{
    struct ps_reader *r = b->r;

    if (n == 0)
        return PS_OK;
    if (b->n_parts == r->max_parts)
        return ps_reader_record_error(r, PS_ERR_LIMIT, b->start,
                                      "record has more than %zu parts (max_parts)", r->max_parts);
    if ((r->text.len > 0 && ps_buf_append(&r->text, "\n", 1) != PS_OK) ||
        ps_buf_append(&r->text, s, n) != PS_OK)
        return ps_reader_record_error(r, PS_ERR_LIMIT, b->start,
                                      "record text is longer than max_line (%zu)", r->max_line);
    r->parts[b->n_parts].off = r->text.len - n;
    r->parts[b->n_parts].len = n;
    r->parts[b->n_parts].role = role;
    b->n_parts++;
    return PS_OK;
}

/* A top-level string field that must be there (`required`) or may be absent or null. */
static enum ps_err string_part(struct build *b, int field, enum ps_chat_role role, bool required,
                               const char *shape)
{
    const struct ps_json_field *f = &b->r->fields[field];

    if (f->found && f->is_string)
        return add_part(b, role, f->val, f->val_len);
    if (!required &&
        (!f->found || (f->val != NULL && f->val_len == 4 && memcmp(f->val, "null", 4) == 0)))
        return PS_OK;
    return ps_reader_record_error(b->r, PS_ERR_PARSE, b->start, "%s record without a string \"%s\"",
                                  shape, shape_keys[field]);
}

/* A message's "content" (field 1 of the nested parse): a string, null, or an array of
 * {"type": ..., "text": "..."} parts. */
static enum ps_err content_parts(struct build *b, const struct ps_json_field *content,
                                 enum ps_chat_role role, const char *obj, size_t k, uint64_t at)
{
    struct ps_json_field f[1];
    struct ps_errdetail jed;
    const char *arr, *elem;
    size_t arr_len, pos = 0, n;

    if (!content->found || (content->val != NULL && !content->is_string && content->val_len == 4 &&
                            memcmp(content->val, "null", 4) == 0))
        return PS_OK;
    if (content->is_string)
        return add_part(b, role, content->val, content->val_len);
    /* a view into the record, so the nested parses below leave it alone */
    if (!ps_json_container(b->r->nested, 1, &arr, &arr_len) || arr[0] != '[')
        return ps_reader_record_error(b->r, PS_ERR_PARSE, at,
                                      "messages[%zu]: \"content\" is not a string, null or an "
                                      "array",
                                      k);
    memset(f, 0, sizeof(f));
    f[0].key = "text";
    f[0].key_len = 4;
    while (ps_json_array_next(arr, arr_len, &pos, &elem, &n)) {
        enum ps_err err;

        if (ps_json_parse_line(b->r->nested, elem, n, f, 1, &jed) != PS_OK)
            return ps_reader_record_error(b->r, PS_ERR_PARSE,
                                          b->start + (uint64_t)(elem - obj) + jed.offset,
                                          "messages[%zu].content: %s", k, jed.msg);
        if (!f[0].found || !f[0].is_string)
            continue; /* an image or audio part: no text */
        err = add_part(b, role, f[0].val, f[0].val_len);
        if (err != PS_OK)
            return err;
    }
    return PS_OK;
}

/* ShareGPT "conversations" ({from, value}) or chat "messages" ({role, content}). */
static enum ps_err turns(struct build *b, int field, const char *obj)
{
    bool chat = field == PS_READER_F_MESSAGES;
    const char *name = shape_keys[field], *who = chat ? "role" : "from";
    struct ps_json_field f[2];
    const char *list, *elem;
    size_t list_len, pos = 0, n, k;

    if (!ps_json_container(b->r->json, (size_t)field, &list, &list_len) || list[0] != '[')
        return ps_reader_record_error(b->r, PS_ERR_PARSE, b->start, "\"%s\" is not an array", name);
    memset(f, 0, sizeof(f));
    f[0].key = who;
    f[0].key_len = 4;
    f[1].key = chat ? "content" : "value";
    f[1].key_len = strlen(f[1].key);
    for (k = 0; ps_json_array_next(list, list_len, &pos, &elem, &n); k++) {
        uint64_t at = b->start + (uint64_t)(elem - obj);
        struct ps_errdetail jed;
        enum ps_chat_role role;
        enum ps_err err;

        if (ps_json_parse_line(b->r->nested, elem, n, f, 2, &jed) != PS_OK)
            return ps_reader_record_error(b->r, PS_ERR_PARSE, at + jed.offset, "%s[%zu]: %s", name,
                                          k, jed.msg);
        if (!f[0].found || !f[0].is_string)
            return ps_reader_record_error(b->r, PS_ERR_PARSE, at, "%s[%zu] without a string \"%s\"",
                                          name, k, who);
        role = ps_chat_role_of(f[0].val, f[0].val_len);
        if (chat) {
            err = content_parts(b, &f[1], role, obj, k, at);
        } else if (!f[1].found || !f[1].is_string) {
            err = ps_reader_record_error(b->r, PS_ERR_PARSE, at,
                                         "%s[%zu] without a string \"value\"", name, k);
        } else {
            err = add_part(b, role, f[1].val, f[1].val_len);
        }
        if (err != PS_OK)
            return err;
    }
    return PS_OK;
}

/* The fields of an instruction record joined into r->text. */
static enum ps_err build_text(struct ps_reader *r, enum ps_format_record shape, const char *obj,
                              uint64_t start, struct ps_doc *doc)
{
    struct build b = {r, 0, start};
    enum ps_err err;

    ps_buf_reset(&r->text);
    switch (shape) {
    case PS_FORMAT_RECORD_ALPACA:
        err = string_part(&b, PS_READER_F_INSTRUCTION, PS_CHAT_PROMPT, true, "alpaca");
        if (err == PS_OK)
            err = string_part(&b, PS_READER_F_INPUT, PS_CHAT_PROMPT, false, "alpaca");
        if (err == PS_OK)
            err = string_part(&b, PS_READER_F_OUTPUT, PS_CHAT_RESPONSE, true, "alpaca");
        break;
    case PS_FORMAT_RECORD_PROMPT_COMPLETION:
        err = string_part(&b, PS_READER_F_PROMPT, PS_CHAT_PROMPT, true, "prompt/completion");
        if (err == PS_OK)
            err = string_part(&b, PS_READER_F_COMPLETION, PS_CHAT_RESPONSE, true,
                              "prompt/completion");
        break;
    case PS_FORMAT_RECORD_SHAREGPT:
        err = r->fields[PS_READER_F_CONVERSATIONS].found
                  ? turns(&b, PS_READER_F_CONVERSATIONS, obj)
                  : ps_reader_record_error(r, PS_ERR_PARSE, start,
                                           "sharegpt record without \"conversations\"");
        break;
    default:
        err = r->fields[PS_READER_F_MESSAGES].found
                  ? turns(&b, PS_READER_F_MESSAGES, obj)
                  : ps_reader_record_error(r, PS_ERR_PARSE, start,
                                           "chat record without \"messages\"");
        break;
    }
    if (err != PS_OK)
        return err;
    if (b.n_parts == 0) {
        r->parts[0].off = r->parts[0].len = 0;
        r->parts[0].role = PS_CHAT_TEXT;
        b.n_parts = 1;
    }
    doc->text = r->text.data != NULL ? r->text.data : "";
    doc->text_len = r->text.len;
    doc->parts = r->parts;
    doc->n_parts = b.n_parts;
    return PS_OK;
}

enum ps_err ps_reader_record(struct ps_reader *r, const char *obj, size_t obj_len, uint64_t start,
                             struct ps_doc *doc, bool *has_doc)
{
    const struct ps_json_field *text = &r->fields[PS_READER_F_TEXT],
                               *id = &r->fields[PS_READER_F_ID];
    enum ps_format_record shape = r->fmt.record;
    struct ps_errdetail jed;
    enum ps_err err;

    err = ps_json_parse_line(r->json, obj, obj_len, r->fields, r->n_fields, &jed);
    if (err != PS_OK)
        return ps_reader_record_error(r, PS_ERR_PARSE, start + jed.offset, "%s", jed.msg);
    if (shape == PS_FORMAT_RECORD_AUTO)
        shape = detect_shape(r);
    if (shape == PS_FORMAT_RECORD_TEXT) {
        if (!text->found)
            return ps_reader_record_error(r, PS_ERR_PARSE, start, "missing text field \"%s\"",
                                          r->text_field);
        if (!text->is_string)
            return ps_reader_record_error(r, PS_ERR_PARSE, start,
                                          "text field \"%s\" is not a string", r->text_field);
        doc->text = text->val;
        doc->text_len = text->val_len;
        ps_reader_text_parts(r, doc);
    } else {
        err = build_text(r, shape, obj, start, doc);
        if (err != PS_OK)
            return err;
    }
    if (id->found && id->val != NULL &&
        (id->is_string || id->val_len != 4 || memcmp(id->val, "null", 4) != 0)) {
        doc->id = id->val;
        doc->id_len = id->val_len;
        doc->id_literal = !id->is_string;
    } else {
        ps_reader_default_id(r, doc, start);
    }
    doc->offset = start;
    doc->line_len = obj_len;
    ps_reader_count_doc(r, doc);
    *has_doc = true;
    return PS_OK;
}
