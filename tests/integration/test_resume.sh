#!/bin/sh
# test_resume.sh - a coordinator killed with -9 mid-job resumes from Redis when restarted with the
# same job and settings, and finishes with exact counts; different settings (another fingerprint)
# are refused with exit 3, and so are other inputs and a planned file that changed since; the
# resumed job scans the shards it planned (from the plan saved in Redis), not a file that
# appeared since; a second coordinator is refused while the lock is held, and a lock that
# vanished while its holder ran is taken again by the holder; the leases out at the kill are not
# charged against --max-attempts.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/corpus"
EXP=$T/corpus.expected.json
# a fixed ipc endpoint, so the workers find the restarted coordinator at the same address
EP=ipc://$T/coord.ipc
KEY='poisonscan:{itestr}:progress'
# short heartbeats (coordinator and workers read POISONSCAN_HEARTBEAT), for speed
POISONSCAN_HEARTBEAT=$(ms 500)
export POISONSCAN_HEARTBEAT

# coordinator ARGS... : exec, so that the pid start_bg records is the coordinator itself
coordinator() {
	exec "$BIN" coordinator --redis "$REDIS_URL" --bind "$EP" --endpoint-file "$T/ep" --job itestr \
		--out "$T/out" --lease-timeout "$(secs 3)" --insecure "$@" "$T/corpus"
}

start_bg coord1 coordinator --shard-size 256K
wait_for test -s "$T/ep" 30
for i in 1 2; do
	start_bg "w$i" "$BIN" worker --connect "$EP" --redis "$REDIS_URL" --insecure --fault-delay-ms 400
done

some_done() { [ "$(hget "$KEY" shards_done)" -ge 4 ] 2>/dev/null; }
wait_for some_done 120
# the workers stop first, so that the leases out at the kill stay uncommitted
for i in 1 2; do
	kill -STOP "$(pid_of "w$i")"
done
kill -KILL "$(pid_of coord1)"
wait_exit coord1 10 >/dev/null
DONE=$(hget "$KEY" shards_done)
TOTAL=$(hget "$KEY" shards_total)
log "killed the coordinator at $DONE/$TOTAL shards"
[ "$DONE" -lt "$TOTAL" ] || fail "job finished before the kill; nothing to resume"
for i in 1 2; do
	kill -KILL "$(pid_of "w$i")" 2>/dev/null || true
done
# the leases of pass 1 out at the kill: the restarted coordinator dispatches them again without
# charging that attempt against --max-attempts (docs/protocol.md §5.2)
OUT_AT_KILL=""
if [ "$(hget "$KEY" pass)" = 1 ]; then
	for f in $(rcli hkeys 'poisonscan:{itestr}:leases'); do
		case "$(hget 'poisonscan:{itestr}:leases' "$f")" in
		*" 1") [ -n "$(hget 'poisonscan:{itestr}:commits:p1' "$f")" ] || OUT_AT_KILL="$OUT_AT_KILL $f" ;;
		esac
	done
	[ -n "$OUT_AT_KILL" ] || fail "no lease of pass 1 out at the kill"
fi
log "leases out at the kill:${OUT_AT_KILL:- none (past pass 1)}"

# another shard size is another plan: the job must not be resumed with it
assert_eq "$(run_rc "$BIN" coordinator --redis "$REDIS_URL" --bind "$EP" --endpoint-file "$T/ep2" \
	--job itestr --out "$T/out" --lease-timeout "$(secs 3)" --insecure --shard-size 128K \
	"$T/corpus")" 3 "restart with a different --shard-size exit"
[ -s "$T/run.log" ] || fail "fingerprint mismatch gave no message"
log "message: $(head -n 3 "$T/run.log")"

# a resumed job scans the shards it planned: other inputs are refused, and so is a planned file
# that changed since (named); a file that appeared since is not part of the job
mkdir "$T/extra"
printf '{"text":"another input"}\n' >"$T/extra/x.jsonl"
assert_eq "$(run_rc "$BIN" coordinator --redis "$REDIS_URL" --bind "$EP" --endpoint-file "$T/ep2" \
	--job itestr --out "$T/out" --lease-timeout "$(secs 3)" --insecure --shard-size 256K \
	"$T/corpus" "$T/extra")" 3 "restart with other inputs exit"
grep -q 'other inputs' "$T/run.log" || fail "other inputs: no reason given: $(cat "$T/run.log")"
PLANNED=$(find "$T/corpus" -type f -name '*.jsonl*' | sort | head -n 1)
cp -p "$PLANNED" "$T/planned.keep"
printf '\n' >>"$PLANNED"
assert_eq "$(run_rc "$BIN" coordinator --redis "$REDIS_URL" --bind "$EP" --endpoint-file "$T/ep2" \
	--job itestr --out "$T/out" --lease-timeout "$(secs 3)" --insecure --shard-size 256K \
	"$T/corpus")" 3 "restart after a planned file changed exit"
grep -q "$PLANNED.*changed size" "$T/run.log" || fail "changed file not named: $(cat "$T/run.log")"
cp -p "$T/planned.keep" "$PLANNED"
# a copy of a planned file under a new name: counted twice if the resumed job took it up
NAME=${PLANNED##*/}
cp "$PLANNED" "$T/corpus/zz-appeared-since.${NAME#*.}"

log "planned file changed and restored: $PLANNED; copy: $(ls "$T/corpus" | grep appeared)"
rm -f "$T/ep"
start_bg coord2 coordinator --shard-size 256K
wait_for test -s "$T/ep" 30
forgiven() { [ "$(hget 'poisonscan:{itestr}:givenback:p1' "$1")" = 1 ]; }
for f in $OUT_AT_KILL; do
	wait_for forgiven "$f" 30
done
# one coordinator per job: a second one, same settings, waits out the lock's TTL and gives up
assert_eq "$(run_rc "$BIN" coordinator --redis "$REDIS_URL" --bind "ipc://$T/coord3.ipc" \
	--job itestr --out "$T/out3" --lease-timeout "$(secs 3)" --insecure --shard-size 256K \
	"$T/corpus")" 3 "second coordinator on a running job exit"
grep -q 'another coordinator' "$T/run.log" || fail "second coordinator gave no reason"
# a lock that expired with nobody else holding it (a stalled loop, a Redis restart that lost the
# key) is taken again, not a reason to stop
rcli del 'poisonscan:{itestr}:lock' >/dev/null
wait_for grep -q 'taken again' "$T/coord2.log" 30
for i in 3 4; do
	start_bg "w$i" "$BIN" worker --connect "$EP" --redis "$REDIS_URL" --insecure
done
assert_eq "$(wait_exit coord2 300)" 0 "restarted coordinator exit status"
check_report "$T/out" "$EXP"
check_progress itestr "$T/out" "$EXP"
assert_eq "$(status_state itestr)" "done" "status --json state"
log "PASS"
