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

# clusters of repeated payload paragraphs name the trigger that flagged their members, and only
# flagged triggers; a clean corpus has no such cluster
python3 - "$T/acc" <<'PYEOF' || fail "clusters and triggers are not tied together"
import glob, json, os, sys
named = 0
for path in sorted(glob.glob(os.path.join(sys.argv[1], "scan", "*", "report.json"))):
    r = json.load(open(path))
    flagged = {t["pattern"] for t in r["triggers"]}
    for c in r["clusters"]:
        if "trigger" in c:
            assert c["trigger"] in flagged, (path, c["trigger"])
            assert 2 * c["members_flagged"] >= c["size"], (path, c)
            named += 1
    if os.path.basename(os.path.dirname(path)) in ("base", "clean"):
        assert not any("trigger" in c for c in r["clusters"]), path
print("%d clusters name their trigger" % named)
assert named > 0
PYEOF
log "ok: clusters name their triggers"
