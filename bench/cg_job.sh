#!/bin/sh
# cg_job.sh - the worker's instructions for a whole job, repeatable where wall time on a shared
# machine is not: a private redis-server, the coordinator run natively (leases that never time
# out), one worker under `valgrind --tool=callgrind`. Prints the worker's instruction count and
# leaves callgrind.out, report.json and flagged.jsonl in OUT_DIR for callgrind_annotate and for
# comparing two builds' reports.
# usage: bench/cg_job.sh CORPUS OUT_DIR   (build from PS_BENCH_BUILD, default build/)
# About 40 times the job's own time: a50/base (42 MB) takes two minutes.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${PS_BENCH_BUILD:-$ROOT/build}
[ $# -eq 2 ] || { echo "usage: $0 CORPUS OUT_DIR" >&2; exit 2; }
CORPUS=$1
OUT=$2
for t in redis-server redis-cli valgrind; do
	command -v "$t" >/dev/null || { echo "cg_job: $t not found" >&2; exit 2; }
done
[ -x "$BUILD/poisonscan" ] || { echo "cg_job: $BUILD/poisonscan not built" >&2; exit 2; }
rm -rf "$OUT"
mkdir -p "$OUT"
SOCK=$OUT/redis.sock
redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save "" --appendonly no \
	--dir "$OUT" >/dev/null 2>&1 &
RP=$!
trap 'kill $RP 2>/dev/null || true' EXIT INT TERM
i=0
until redis-cli -s "$SOCK" ping >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 200 ] || { echo "cg_job: redis-server did not start" >&2; exit 1; }
	sleep 0.05
done
"$BUILD/poisonscan" coordinator --redis "unix://$SOCK" --bind "ipc://$OUT/coord.ipc" --job cg \
	--out "$OUT/out" --lease-timeout 1d "$CORPUS" >"$OUT/coordinator.log" 2>&1 &
CP=$!
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$BUILD/poisonscan" worker \
	--connect "ipc://$OUT/coord.ipc" --redis "unix://$SOCK" --heartbeat 10s --liveness 100 \
	>"$OUT/worker.log" 2>&1 &
WP=$!
rc=0
wait $CP || rc=$?
kill $WP 2>/dev/null || true # the worker would wait for another job; it stops on SIGTERM
wait $WP || true
if [ $rc -gt 1 ]; then
	echo "cg_job: the coordinator exited $rc (see $OUT/coordinator.log)" >&2
	exit 1
fi
sed -n 's/.*Collected : \([0-9]*\).*/worker instructions: \1/p' "$OUT/worker.log"
