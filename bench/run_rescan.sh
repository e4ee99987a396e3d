#!/bin/sh
# run_rescan.sh - a nightly rescan (--since) against a full scan of the same grown corpus, the
# whole job through the CLI: night 1 scans all but the last 1/N of the corpus's files with
# --save-scan; the rest is added; then a rescan --since night 1 and a full scan alternate RUNS
# times (2 workers each, one private redis-server; the full scan with night 1's sketch size). Prints each run's wall time and pass-1 time
# (up to the coordinator's "pass 1 collected" line), the size of night 1's saved counts in Redis,
# and whether each rescan's report.json and flagged.jsonl equal the full scan's.
# usage: bench/run_rescan.sh CORPUS_DIR [N]   (N: the night's new share is 1/N, default 8)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$(cd "$1" && pwd)
N=${2:-8}
RUNS=${PS_BENCH_RUNS:-3}
BIN=${PS_BENCH_BUILD:-$ROOT/build}/poisonscan
[ -x "$BIN" ] || { echo "run_rescan: $BIN not built (make build)" >&2; exit 2; }
TMP=$(mktemp -d)
R=unix://$TMP/redis.sock
trap 'redis-cli -s "$TMP/redis.sock" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT INT TERM
redis-server --port 0 --unixsocket "$TMP/redis.sock" --save '' --appendonly no --daemonize yes \
	--dir "$TMP" --logfile "$TMP/redis.log"
until [ "$(redis-cli -s "$TMP/redis.sock" ping 2>/dev/null)" = PONG ]; do sleep 0.1; done

find "$SRC" -maxdepth 1 -type f | sort >"$TMP/files"
TOTAL=$(wc -l <"$TMP/files")
OLD=$((TOTAL - TOTAL / N))
mkdir "$TMP/corpus"
head -n "$OLD" "$TMP/files" | while read -r f; do cp -p "$f" "$TMP/corpus/"; done
"$BIN" scan --workers 2 --redis "$R" --job night1 --save-scan --keep 0 --out "$TMP/o-night1" \
	"$TMP/corpus" >/dev/null 2>&1 || [ $? -le 2 ]
tail -n +"$((OLD + 1))" "$TMP/files" | while read -r f; do cp -p "$f" "$TMP/corpus/"; done
BASE=0
for k in $(redis-cli -s "$TMP/redis.sock" --scan --pattern 'poisonscan:{night1*}:base:p1'); do
	BASE=$((BASE + $(redis-cli -s "$TMP/redis.sock" strlen "$k")))
done
# the rescan keeps night 1's cluster sketch; the full scan gets the same size, which its own
# sizing from the grown corpus may make larger (docs/operations.md, "Nightly rescans")
LOG2=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['settings']['scan'].get('clusters', {}).get('sketch_log2', 0))" "$TMP/o-night1/report.json")
echo "corpus $SRC: $OLD files on night 1, $((TOTAL - OLD)) added; night 1's saved counts: $BASE bytes; sketch 2^$LOG2"

# one NAME ARGS... : a whole job, its wall time and its pass-1 time
one() {
	_n=$1
	shift
	_t0=$(date +%s.%N)
	"$BIN" scan --workers 2 --redis "$R" --keep 0 --log-level info --out "$TMP/o-$_n" "$@" \
		"$TMP/corpus" >"$TMP/$_n.log" 2>&1 || [ $? -le 2 ]
	_t1=$(date +%s.%N)
	python3 - "$_n" "$_t0" "$_t1" "$TMP/$_n.log" <<'PYEOF'
import datetime, sys
name, t0, t1, log = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
p1 = next(l for l in open(log) if "pass 1 collected" in l).split("Z", 1)[0]
p1 = datetime.datetime.fromisoformat(p1).replace(tzinfo=datetime.timezone.utc).timestamp()
print("%-9s total %7.2f s   pass 1 %7.2f s" % (name, t1 - t0, p1 - t0))
PYEOF
}
i=1
while [ "$i" -le "$RUNS" ]; do
	one "rescan$i" --job "rescan$i" --since night1
	one "full$i" --job "full$i" --cluster-sketch-log2 "$LOG2"
	python3 - "$TMP/o-rescan$i" "$TMP/o-full$i" <<'PYEOF'
import json, sys
def load(d):
    r = json.load(open(d + "/report.json"))
    r.pop("job", None)
    r.pop("since", None)
    try:
        f = sorted(open(d + "/flagged.jsonl").read().splitlines())
    except FileNotFoundError:
        f = []
    return r, f
(a, fa), (b, fb) = load(sys.argv[1]), load(sys.argv[2])
diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
print("          report.json equal: %s%s, flagged.jsonl equal: %s (%d documents)"
      % (a == b, " (differs at %s)" % ", ".join(diff) if diff else "", fa == fb, len(fa)))
PYEOF
	i=$((i + 1))
done
