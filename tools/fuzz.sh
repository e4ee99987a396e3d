#!/bin/sh
# fuzz.sh - run every libFuzzer target (fuzz/fuzz_*.c) for a bounded time, outside CI: a clang
# build with ASan+UBSan in build-fuzz/, each target started from its seeds in fuzz/corpus/NAME
# (read only) with what it finds kept in build-fuzz/found/NAME. A crash is written to
# fuzz/crashes/NAME-*: fix it and copy the input into fuzz/corpus/NAME, so that `make test`
# replays it. Prints one row per target (runs, runs per second, inputs found, crashes) and exits
# 1 on any crash.
#
#   FUZZ_SECONDS  time per target (default 600)
#   FUZZ_JOBS     targets run side by side (default 2)
#   FUZZ_TARGETS  names to run (default: all), e.g. "journal wire"
set -eu
cd "$(dirname "$0")/.."
B=build-fuzz
SECONDS_EACH=${FUZZ_SECONDS:-600}

# one target (xargs runs this for each)
if [ "${1:-}" = --one ]; then
	t=$2
	mkdir -p "$B/found/$t"
	"$B/fuzz_$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
		-artifact_prefix="fuzz/crashes/$t-" "$B/found/$t" "fuzz/corpus/$t" \
		>"$B/logs/$t.log" 2>&1 || true
	exit 0
fi

JOBS=${FUZZ_JOBS:-2}
TARGETS=${FUZZ_TARGETS:-$(for f in fuzz/fuzz_*.c; do n=${f##*/fuzz_}; echo "${n%.c}"; done)}
CC=clang cmake -S . -B "$B" -DPS_FUZZ=ON -DPS_SANITIZE=address,undefined \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# shellcheck disable=SC2046 # one target name per word
cmake --build "$B" -j"$JOBS" --target $(for t in $TARGETS; do printf 'fuzz_%s ' "$t"; done)
mkdir -p "$B/logs" fuzz/crashes
for t in $TARGETS; do echo "$t"; done | FUZZ_SECONDS=$SECONDS_EACH xargs -P "$JOBS" -n 1 sh "$0" --one

status=0
printf '| target | seconds | runs | runs/s | inputs found | crashes |\n|---|---|---|---|---|---|\n'
for t in $TARGETS; do
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$B/logs/$t.log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$B/logs/$t.log" | tail -n 1)
	found=$(find "$B/found/$t" -type f | wc -l)
	crashes=$(find fuzz/crashes -name "$t-*" -type f | wc -l)
	[ "$crashes" -eq 0 ] || status=1
	printf '| %s | %s | %s | %s | %s | %s |\n' "$t" "$SECONDS_EACH" "${runs:-?}" "${rate:-?}" \
		"$found" "$crashes"
done
exit $status
