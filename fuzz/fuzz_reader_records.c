/* fuzz_reader_records.c - arbitrary bytes as JSON Lines whose records are read as the shape the
 * third byte names (auto, text, Alpaca, prompt/completion, ShareGPT, chat), with a few parts at
 * most: nested conversations and message contents under small limits. The body is shared with
 * the other layouts. */
#define SUFFIX ".jsonl"
#include "fuzz/fuzz_reader_layout.h"
