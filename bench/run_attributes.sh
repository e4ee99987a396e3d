#!/bin/sh
# run_attributes.sh - what --attributes adds to a job, the whole job through the CLI: the same
# embedded scan (WORKERS workers, default 1) with and without --attributes alternate RUNS times
# (PS_BENCH_RUNS, default 3) over CORPUS_DIR. Prints each run's wall time, the attributes pass's
# own time (from the coordinator's switch to pass 5 to the job's end, in its JSON log), zstd -dc
# of the corpus's .zst files once (the decompression limit), and the attribute files' size.
# usage: bench/run_attributes.sh CORPUS_DIR [WORKERS]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$(cd "$1" && pwd)
WORKERS=${2:-1}
RUNS=${PS_BENCH_RUNS:-3}
BIN=${PS_BENCH_BUILD:-$ROOT/build}/poisonscan
[ -x "$BIN" ] || { echo "run_attributes: $BIN not built (make build)" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

# wall SECONDS of a command (its exit: 0..2 is a finished scan)
wall() {
	_s=$(date +%s.%N)
	"$@" >/dev/null 2>"$TMP/log" || [ $? -le 2 ]
	_e=$(date +%s.%N)
	echo "$_e - $_s" | bc
}
pass5() {
	python3 - "$TMP/log" <<'PY'
import datetime, json, sys
t = {}
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    when = datetime.datetime.fromisoformat(d["time"].rstrip("Z"))
    if d["msg"].startswith("pass 5 (attributes)"):
        t["start"] = when
    elif d["msg"].startswith("job ") and " done: " in d["msg"]:
        t["end"] = when
print("%.2f" % (t["end"] - t["start"]).total_seconds())
PY
}

echo "corpus $SRC, $WORKERS worker(s), $RUNS runs"
for i in $(seq "$RUNS"); do
	rm -rf "$TMP/o" "$TMP/a" "$TMP/attrs"
	plain=$(wall "$BIN" scan --workers "$WORKERS" --out "$TMP/o" "$SRC")
	attrs=$(wall "$BIN" scan --workers "$WORKERS" --out "$TMP/a" --attributes "$TMP/attrs" \
		--log-level info --log-format json "$SRC")
	echo "run $i: without ${plain} s, with --attributes ${attrs} s (attributes pass $(pass5) s)"
done
if ls "$SRC"/*.zst >/dev/null 2>&1; then
	echo "zstd -dc of the .zst files: $(wall sh -c "zstd -dc '$SRC'/*.zst") s"
fi
echo "attribute files: $(du -sb "$TMP/attrs" | cut -f1) bytes on disk, $(find "$TMP/attrs" -type f | wc -l) files"
