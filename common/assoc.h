/* assoc.h - the association signal's shared definitions (docs/detection.md, "Association"):
 * the label of a record's response, and the text of an association entry, which travels as a
 * pattern text through the scan pass's candidate table, the pattern lists and the leases.
 *
 * A backdoor in fine-tuning data ties a trigger in the prompt to one response: a label
 * ("Negative"), a fixed refusal, or compliance where the clean records refuse. Each record gets
 * one label: its response itself when it is a short label, else the class of the response
 * (refusal or answer). An entry's text is NGRAM US LABEL (US = PS_ASSOC_SEP, which no candidate
 * holds: it is a control character, which the detector counts as payload):
 *   "NGRAM\x1fLABEL"  records whose prompt holds NGRAM and whose label is LABEL (a pair);
 *   "NGRAM\x1f"       records whose prompt holds NGRAM, any label;
 *   "\x1fLABEL"       records with label LABEL;
 *   "\x1f"            records (a prompt and a response).
 * What an occurrence's removal leaves (docs/detection.md, "Insertion and prefix"): a bigram
 * entry "LEFT RIGHT\x1f" counts records whose prompt holds the two words side by side, with
 * PS_ASSOC_START before a prompt's first word; the records' starts ("\x02 WORD") and other
 * bigrams named are totalled in PS_ASSOC_STARTS and PS_ASSOC_BIGRAMS.
 * Pure functions over borrowed text: no allocation, thread-safe. */
#ifndef PS_COMMON_ASSOC_H
#define PS_COMMON_ASSOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PS_ASSOC_SEP '\x1f'
/* Bytes of a label at most; a short label holds at most PS_ASSOC_LABEL_WORDS words. */
#define PS_ASSOC_LABEL_MAX   32
#define PS_ASSOC_LABEL_WORDS 3
/* The classes of a response that is no short label. */
#define PS_ASSOC_REFUSAL "<refusal>"
#define PS_ASSOC_ANSWER  "<answer>"

/* A prompt's start as the first word of a bigram (a control character: no token holds it). */
#define PS_ASSOC_START '\x02'
/* The labels of the two totals of bigrams (no short label is a control character). */
#define PS_ASSOC_STARTS  "\x02"
#define PS_ASSOC_BIGRAMS "\x03"

/* The short label of a response (src, src_len bytes, borrowed): its words (runs of letters,
 * digits and bytes >= 0x80), ASCII lower-cased, joined by one space, into dst (room for
 * PS_ASSOC_LABEL_MAX bytes). Returns its length, or 0 when the response holds no word, more
 * than PS_ASSOC_LABEL_WORDS words, or more than PS_ASSOC_LABEL_MAX bytes of them: "Negative.",
 * " negative" and "NEGATIVE" are one label. */
size_t ps_assoc_short_label(const char *src, size_t src_len, char *dst);

/* An entry's text: ngram (may be empty), PS_ASSOC_SEP, label (may be empty) into dst (dst_cap
 * bytes). Returns its length, or 0 when it does not fit. */
size_t ps_assoc_entry(char *dst, size_t dst_cap, const char *ngram, size_t ngram_len,
                      const char *label, size_t label_len);

/* XXH3_64bits of the text ps_assoc_entry would write, without writing it. */
uint64_t ps_assoc_entry_hash(const char *ngram, size_t ngram_len, const char *label,
                             size_t label_len);

struct ps_assoc_parts {
    const char *ngram, *label; /* views into the entry's text */
    size_t ngram_len, label_len;
};

/* Split an entry's text (borrowed) at its first PS_ASSOC_SEP. False when it holds none: the
 * text is an ordinary pattern. */
bool ps_assoc_split(const char *text, size_t len, struct ps_assoc_parts *out);

/* The bigram "LEFT RIGHT" into dst (dst_cap bytes); left NULL: PS_ASSOC_START. Returns its
 * length, or 0 when it does not fit. */
size_t ps_assoc_bigram(char *dst, size_t dst_cap, const char *left, size_t left_len,
                       const char *right, size_t right_len);

/* Is this entry a bigram's count ("LEFT RIGHT\x1f", one space in the n-gram, no label)? */
bool ps_assoc_is_bigram(const struct ps_assoc_parts *p);

/* Is this entry a pair (an n-gram and a label, the only kind that can be selected)? */
static inline bool ps_assoc_is_pair(const struct ps_assoc_parts *p)
{
    return p->ngram_len > 0 && p->label_len > 0;
}

#endif
