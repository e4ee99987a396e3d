#!/bin/sh
# run_bench.sh - worker throughput against `zstd -dc` on the same shards, median of 3 interleaved
# runs each; prints a table and records it in docs/performance.md ("## Worker throughput").
# usage: bench/run_bench.sh [BENCH_DIR]   (default bench-data/, made by `make bench`)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$ROOT/bench-data}
BUILD=${PS_BENCH_BUILD:-$ROOT/build}
SCAN=$BUILD/bench_scan
RUNS=${PS_BENCH_RUNS:-3}
PERF_MD=${PS_PERF_MD:-$ROOT/docs/performance.md}

[ -f "$DIR/expected.json" ] || { echo "run_bench: no corpus in $DIR (make bench makes it)" >&2; exit 2; }
[ -x "$SCAN" ] || { echo "run_bench: $SCAN not built (make build)" >&2; exit 2; }
FILES=$(find "$DIR" -maxdepth 1 -name '*.jsonl.zst' | sort)
[ -n "$FILES" ] || { echo "run_bench: no .jsonl.zst in $DIR" >&2; exit 2; }
BYTES=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes"])' "$DIR/expected.json")
NFILES=$(echo "$FILES" | wc -l)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

now() { date +%s.%N; }

i=1
while [ "$i" -le "$RUNS" ]; do
	t0=$(now)
	# shellcheck disable=SC2086 # file list
	zstd -q -dc $FILES >/dev/null
	t1=$(now)
	echo "$t0 $t1" | awk '{ printf "%.6f\n", $2 - $1 }' >>"$TMP/zstd"
	# shellcheck disable=SC2086 # file list
	"$SCAN" $FILES >"$TMP/scan.out"
	line=$(grep '^docs=' "$TMP/scan.out" | tail -n 1)
	[ -n "$line" ] || { echo "run_bench: bench_scan printed no result line" >&2; cat "$TMP/scan.out" >&2; exit 1; }
	echo "$line" >>"$TMP/scan"
	echo "run $i: zstd -dc $(tail -n 1 "$TMP/zstd") s; bench_scan $line" >&2
	i=$((i + 1))
done

python3 - "$TMP/zstd" "$TMP/scan" "$BYTES" "$NFILES" "$PERF_MD" "$(zstd --version | head -n 1)" \
	"$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)" "${POISONSCAN_SIMD:-auto}" <<'PYEOF'
import datetime, re, statistics, sys

zfile, sfile, total, nfiles, md, zver, cpu, simd = sys.argv[1:9]
total = int(total)
zt = [float(x) for x in open(zfile).read().split()]
runs = []
for line in open(sfile):
    kv = dict(p.split("=", 1) for p in line.split())
    runs.append({k: float(v) for k, v in kv.items()})
zmed = statistics.median(zt)
smed = statistics.median(r["seconds"] for r in runs)
r0 = runs[0]
zstd_mbs = total / zmed / 1e6
text_mbs = statistics.median(r["text_bytes"] / r["seconds"] for r in runs) / 1e6
in_mbs = statistics.median(r["bytes"] / r["seconds"] for r in runs) / 1e6
rows = [
    ("zstd -dc (1 thread), MB/s of decompressed JSONL", "%.0f" % zstd_mbs),
    ("worker, MB/s of text per core", "%.0f" % text_mbs),
    ("worker, MB/s of input (decompressed JSONL) per core", "%.0f" % in_mbs),
    ("ratio worker input / zstd -dc", "%.2f" % (in_mbs / zstd_mbs)),
]
w = max(len(r[0]) for r in rows)
table = ["| measure | value |", "| --- | ---: |"] + ["| %s | %s |" % r for r in rows]
for name, val in rows:
    print("%-*s  %s" % (w, name, val))
info = ("%s; corpus: %d shards, %.2f GB of JSONL, %d documents, %.2f GB of text; "
        "median of %d interleaved runs (zstd %s s, worker %s s); %s; POISONSCAN_SIMD=%s; CPU: %s; %s"
        % (datetime.date.today().isoformat(), int(nfiles), total / 1e9, int(r0["docs"]),
           r0["text_bytes"] / 1e9, len(zt), " ".join("%.2f" % x for x in zt),
           " ".join("%.2f" % r["seconds"] for r in runs), zver, simd, cpu or "unknown",
           "worker = build/bench_scan, one thread, no Redis"))
if int(r0["bytes"]) != total:
    info += "; NOTE: bench_scan counted %d input bytes, the corpus has %d" % (r0["bytes"], total)
section = "## Worker throughput (make bench)\n\n" + info + ".\n\n" + "\n".join(table) + "\n"
try:
    text = open(md, encoding="utf-8").read()
except FileNotFoundError:
    text = "# Performance\n"
# replace our own section if present (up to the next "## " heading), else append it
pat = re.compile(r"^## Worker throughput \(make bench\)\n.*?(?=^## |\Z)", re.S | re.M)
if pat.search(text):
    text = pat.sub(lambda m: section + "\n", text, count=1).rstrip("\n") + "\n"
else:
    text = text.rstrip("\n") + "\n\n" + section
open(md, "w", encoding="utf-8").write(text)
print("recorded in %s" % md)
PYEOF
