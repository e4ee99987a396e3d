/* fuzz_reader_wet.c - arbitrary bytes as a Common Crawl WET file (WARC headers with limits,
 * Content-Length, resynchronisation after malformed records). The body is shared with the other
 * layouts. */
#define SUFFIX ".warc.wet"
#include "fuzz/fuzz_reader_layout.h"
