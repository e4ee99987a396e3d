#!/bin/sh
# test_clusters.sh - near-duplicate paragraphs across shards (MinHash issue): a templated attack
# of 150 documents in 5 payload variants, one per shard at most and a third of them altered, comes
# out as one cluster per variant naming exactly its members (a cluster lists up to 32 sampled
# members, docs/report.md); a cookie banner appended to 400 clean documents comes out as one
# cluster of 400 whose listed members are all banner documents, and flags nothing.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

python3 "$PS_SOURCE_DIR/tools/gen_clusters.py" --out "$T/corpus" --cache "$TEXT_CACHE" \
	>"$T/gen.out" 2>&1 || {
	cat "$T/gen.out" >&2
	fail "corpus generation failed"
}
log "$(tail -n 1 "$T/gen.out")"
# walks take .json files since the format layer: the answer key must not be scanned
mv "$T/corpus/expected.json" "$T/expected.json"

assert_eq "$(run_rc "$BIN" scan --workers 2 --out "$T/out" "$T/corpus")" 0 "scan exit (nothing flagged)"
python3 - "$T/out/report.json" "$T/expected.json" <<'PYEOF' || fail "clusters differ"
import json, sys
report = json.load(open(sys.argv[1]))
exp = json.load(open(sys.argv[2]))
clusters = [(set(c["members"]), c) for c in report["clusters"]]
ok = True
for name, ids in sorted(exp["variants"].items()):
    found = any(m == set(ids) and c["size"] == len(ids) for m, c in clusters)
    print("variant %-10s %d members: %s" % (name, len(ids), "one cluster, exact" if found else "MISSING"))
    ok &= found
banner = set(exp["banner"])
found = [c for m, c in clusters if m and m <= banner]
found = len(found) == 1 and found[0]["size"] == len(banner) == found[0]["members_total"] and \
    len(found[0]["members"]) == 32
print("banner %d members: %s" % (len(banner), "one cluster of 400, 32 listed" if found else "MISSING"))
ok &= found and not report["triggers"]
for m, c in clusters:
    ok &= len(c["members"]) == len(m) <= 32 and c["members_total"] == c["size"] >= len(m)
    ok &= c["shards"] <= 64
sys.exit(0 if ok else 1)
PYEOF
log "PASS"
