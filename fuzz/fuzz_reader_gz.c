/* fuzz_reader_gz.c - arbitrary bytes as a .jsonl.gz shard (gzip stream decoding, sticky stream
 * errors, record errors with offsets). The target's body is shared with the other format. */
#define SUFFIX ".jsonl.gz"
#include "fuzz/fuzz_reader.h"
