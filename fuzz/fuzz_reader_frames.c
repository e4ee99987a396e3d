/* fuzz_reader_frames.c - arbitrary bytes as a zstd-compressed JSON file: the frame books and
 * integrity events (checked against the contract of reader.h for every input) under decoding
 * errors, truncation and frames that end inside records. The body is shared with the other
 * layouts. */
#define SUFFIX ".json.zst"
#include "fuzz/fuzz_reader_layout.h"
