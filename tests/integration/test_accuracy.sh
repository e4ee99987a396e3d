#!/bin/sh
# test_accuracy.sh - the detection issue's targets on a small version of the accuracy benchmark
# (tools/gen_accuracy.py --small: 10 MB of real text over 64 shards, every payload family with
# every trigger form at 50 and 100 documents, every hard negative): each trigger found, document
# recall >= 0.99 and overall precision >= 0.99 at 100 documents, found at 50, and no trigger
# flagged in the clean base with every hard negative. A regression in any family, trigger form
# or negative fails here; `make bench-accuracy` is the full-size version.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

python3 "$PS_SOURCE_DIR/tools/gen_accuracy.py" --small --out "$T/acc" --cache "$TEXT_CACHE" \
	>"$T/gen.out" 2>&1 || {
	cat "$T/gen.out" >&2
	fail "accuracy corpus generation failed"
}
log "$(grep -c '^accuracy corpus' "$T/gen.out") corpora generated"
if ! python3 "$PS_SOURCE_DIR/bench/run_accuracy.py" "$T/acc" --build "$(dirname "$BIN")" \
	--check >"$T/acc.out" 2>&1; then
	cat "$T/acc.out" >&2
	fail "detection targets not met on the small accuracy benchmark"
fi
grep -E '^- .*: (met|\*\*not met\*\*)$' "$T/acc.out" >&2
log "ok: every target met"
