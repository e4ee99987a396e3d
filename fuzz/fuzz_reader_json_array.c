/* fuzz_reader_json_array.c - arbitrary bytes as a .json file: the streaming array grammar
 * (element boundaries, damage between elements, elements past max_line), or JSON Lines when the
 * first byte is not '['. The body is shared with the other layouts. */
#define SUFFIX ".json"
#include "fuzz/fuzz_reader_layout.h"
