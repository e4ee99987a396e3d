#!/bin/sh
# test_status.sh - `poisonscan status` during and after a job: the text view shows pass, shards,
# input, documents, rate, ETA, workers, errors and damaged files in lines of at most 80 columns;
# --json carries the same figures; --watch follows the job to its end (redrawing in place on a
# terminal) and the final figures equal the report's.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/corpus"
EXP=$T/corpus.expected.json
JOB=stjob

# one slow worker: the job stays in pass 1 long enough to be looked at
start_bg coordinator "$BIN" coordinator --redis "$REDIS_URL" --bind "ipc://$T/coord.ipc" \
	--job $JOB --out "$T/out" --shard-size 256K "$T/corpus"
start_bg worker "$BIN" worker --connect "ipc://$T/coord.ipc" --redis "$REDIS_URL" \
	--fault-delay-ms $((250 * SLOW))

# wait until a few shards of pass 1 are in, two seconds into the pass (rates are per second)
running_with_progress() {
	[ "$(hget "poisonscan:{$JOB}:progress" state)" = running ] &&
		[ "$(hget "poisonscan:{$JOB}:progress" shards_done)" -ge 3 ] &&
		[ "$(($(date +%s) - $(hget "poisonscan:{$JOB}:progress" pass_started_at)))" -ge 2 ]
}
wait_for running_with_progress 120
"$BIN" status --redis "$REDIS_URL" --job $JOB >"$T/view.txt" || fail "status exited $?"
"$BIN" status --redis "$REDIS_URL" --job $JOB --json >"$T/view.json" || fail "status --json exited $?"
cat "$T/view.txt" >&2

# every line within 80 columns, every figure there
awk 'length($0) > 80 { print "line " NR " has " length($0) " columns: " $0; bad = 1 } END { exit bad }' \
	"$T/view.txt" || fail "a status line is wider than 80 columns"
for label in "job      $JOB" "state    running, pass 1 (scan)" "progress [" "ETA " "input    " \
	"shards   " "docs     " "workers  1 alive" "errors   "; do
	grep -qF "$label" "$T/view.txt" || fail "the view lacks '$label'"
done
python3 - "$T/view.json" <<'PYEOF' || fail "status --json mid-run"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("pass", "shards_total", "shards_done", "bytes_total", "bytes_done", "docs_done",
          "errors", "damaged_files", "workers", "rate_bytes_per_s", "rate_docs_per_s", "eta_s",
          "percent", "pass_started_at"):
    assert k in d, k
assert d["state"] == "running" and d["pass"] == 1, d
assert 0 < d["shards_done"] < d["shards_total"], d
assert d["workers"] == 1 and d["docs_done"] > 0 and d["rate_bytes_per_s"] > 0, d
assert isinstance(d["eta_s"], int) and 0 < d["percent"] < 100, d
print("mid-run json ok: %(shards_done)d/%(shards_total)d shards, eta %(eta_s)ds" % d, file=sys.stderr)
PYEOF

# --watch to the end, not on a terminal: blocks after blank lines, the last one done. A deadline:
# --watch waits for done or failed, and a coordinator that died (a lost lock on a starved
# machine) writes neither
timeout -k 5 $((300 * SLOW)) "$BIN" status --redis "$REDIS_URL" --job $JOB --watch \
	--interval 300ms >"$T/watch.txt" || fail "status --watch exited $? ($(tail -n 3 "$T/watch.txt"))"
[ "$(grep -c '^job ' "$T/watch.txt")" -ge 2 ] || fail "--watch showed one view only"
tail -n 9 "$T/watch.txt" | grep -qF "state    done," || fail "the last view is not done: $(tail -n 9 "$T/watch.txt")"
tail -n 9 "$T/watch.txt" | grep -qF "] 100.0%" || fail "the last view is not at 100%"
awk 'length($0) > 80 { bad = 1 } END { exit bad }' "$T/watch.txt" || fail "a --watch line is wider than 80"
assert_eq "$(wait_exit coordinator 300)" 0 "coordinator exit status"
check_report "$T/out" "$EXP"

# the final figures are the report's
"$BIN" status --redis "$REDIS_URL" --job $JOB --json >"$T/final.json"
assert_eq "$(json_get "$T/final.json" "d['docs_done']")" "$(json_get "$T/out/report.json" "d['corpus']['documents']")" \
	"status docs_done = report documents"
assert_eq "$(json_get "$T/final.json" "d['errors']")" "$(json_get "$T/out/report.json" "d['errors_total']")" \
	"status errors = report errors_total"
assert_eq "$(json_get "$T/final.json" "d['damaged_files']")" \
	"$(json_get "$T/out/report.json" "len([f for f in d['error_files'] if not f.get('shard_failed')])")" \
	"status damaged_files = report error_files"
[ "$(json_get "$T/final.json" "d['damaged_files']")" -gt 0 ] || fail "the corpus has damaged files, status shows none"

# on a terminal --watch redraws in place (cursor up, clear), here over a pty made by script(1)
timeout -k 5 $((60 * SLOW)) script -q -e -c \
	"'$BIN' status --redis '$REDIS_URL' --job $JOB --watch --interval 100ms" \
	/dev/null >"$T/tty.txt" </dev/null || fail "status --watch on a terminal exited $?"
grep -q "done," "$T/tty.txt" || fail "status on a terminal showed nothing"
log "PASS"
