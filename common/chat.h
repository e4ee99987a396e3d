/* chat.h - the roles of a document's parts (plain text, prompt, response, system) and the
 * splitter that finds them in text written with an instruction or chat template: Alpaca
 * ("### Instruction:" ... "### Response:"), ChatML ("<|im_start|>user" ... "<|im_end|>"), Llama 2
 * ("[INST]" ... "[/INST]", "<<SYS>>"), Llama 3 ("<|start_header_id|>user<|end_header_id|>"),
 * Gemma ("<start_of_turn>user") and dialogue lines ("Human:", "User:", "Assistant:").
 * A backdoor in fine-tuning data puts its trigger on the prompt side and its payload on the
 * response side; the parts let the detector see the two sides, and the template's markers and
 * role words are never inside a part, so they can never look like a trigger.
 * Pure functions over borrowed text: no allocation, thread-safe. */
#ifndef PS_COMMON_CHAT_H
#define PS_COMMON_CHAT_H

#include <stddef.h>

enum ps_chat_role {
    PS_CHAT_TEXT = 0,     /* plain text: no side (a crawl document, text outside any turn) */
    PS_CHAT_PROMPT = 1,   /* the user's side: instruction, input, prompt, user/human turns */
    PS_CHAT_RESPONSE = 2, /* the model's side: output, completion, assistant/gpt turns */
    PS_CHAT_SYSTEM = 3    /* a system prompt */
};

/* A span of a document's text with its role. Parts of one document are in text order, do not
 * overlap and never include separators, template markers or role words. */
struct ps_chat_part {
    size_t off, len; /* bytes [off, off + len) of the text */
    enum ps_chat_role role;
};

/* "text", "prompt", "response", "system"; static storage. */
const char *ps_chat_role_name(enum ps_chat_role role);

/* The role of a speaker name as datasets write it (`word`, n bytes, borrowed; ASCII case is
 * ignored): user, human -> PROMPT; assistant, gpt, chatgpt, model, bot, ai, bard, bing ->
 * RESPONSE; system, developer -> SYSTEM; anything else (tool, function, ...) -> TEXT. */
enum ps_chat_role ps_chat_role_of(const char *word, size_t n);

/* Split `text` (borrowed, text_len bytes) into parts by the template markers it holds; write
 * them to dst (dst_cap entries, borrowed) and return how many. A marker opens a turn of its role
 * (the role word after "<|im_start|>" and the like decides), an end marker ("<|im_end|>",
 * "<|eot_id|>", "</s>", "<end_of_turn>") closes it; line markers ("### Response:", "Human:")
 * count only at the start of a line. Each part is the text between two markers with the
 * surrounding whitespace trimmed; empty parts are left out.
 * The text is split only when it holds at least one prompt-side and one response-side marker;
 * otherwise, and when more than dst_cap parts would be needed, the result is one PS_CHAT_TEXT
 * part covering the whole text; a text of nothing but markers gives one empty PS_CHAT_TEXT part.
 * Returns 0 only when dst_cap is 0. */
size_t ps_chat_split(const char *text, size_t text_len, struct ps_chat_part *dst, size_t dst_cap);

#endif
