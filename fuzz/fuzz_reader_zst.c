/* fuzz_reader_zst.c - arbitrary bytes as a .jsonl.zst shard (zstd stream decoding, sticky stream
 * errors, record errors with offsets). The target's body is shared with the other format. */
#define SUFFIX ".jsonl.zst"
#include "fuzz/fuzz_reader.h"
