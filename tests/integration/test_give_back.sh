#!/bin/sh
# test_give_back.sh - a worker stopped by SIGTERM gives its lease back with a goodbye, and the
# attempt it had is not charged (docs/protocol.md §5.6): with --max-attempts 1 the shard it held
# is dispatched again, committed by another worker, and the job counts every shard once, none
# failed. The given-back count is in Redis (`givenback:p1`), so a resumed coordinator knows it.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/corpus"
EXP=$T/corpus.expected.json
POISONSCAN_HEARTBEAT=$(ms 500)
export POISONSCAN_HEARTBEAT
J=gb

start_bg coord "$BIN" coordinator --redis "$REDIS_URL" --bind "ipc://$T/coord.ipc" \
	--endpoint-file "$T/coord.ep" --job $J --out "$T/out" --max-attempts 1 "$T/corpus"
wait_for test -s "$T/coord.ep" 30
EP=$(cat "$T/coord.ep")
# w-a dawdles 3 s before each commit (heartbeating), so that it is mostly inside a lease
start_bg w-a "$BIN" worker --connect "$EP" --redis "$REDIS_URL" --fault-delay-ms 3000

wait_for stop_in_lease w-a $J 120
SHARD=$(cat "$T/shard")
log "w-a is inside the lease of shard $SHARD: SIGTERM"
kill -TERM "$(pid_of w-a)"
kill -CONT "$(pid_of w-a)"
assert_eq "$(wait_exit w-a 30)" 0 "w-a exit status after SIGTERM"
wait_for grep -q "worker '.*-$(pid_of w-a)-.*' left: the worker is stopping" "$T/coord.log" 30
grep -q "shard $SHARD attempt 1 given back (the worker is stopping); dispatching again, not counted" \
	"$T/coord.log" || fail "the coordinator did not take shard $SHARD back uncharged"
# on record before it goes out again (the next dispatch round trip carries it)
on_record() { [ "$(hget "poisonscan:{$J}:givenback:p1" "$SHARD")" = 1 ]; }
wait_for on_record 30
log "ok: shard $SHARD given back, on record in givenback:p1"

start_bg w-b "$BIN" worker --connect "$EP" --redis "$REDIS_URL"
assert_eq "$(wait_exit coord 300)" 0 "coordinator exit"
assert_eq "$(wait_exit w-b 60)" 0 "w-b exit"
assert_eq "$(hget "poisonscan:{$J}:progress" shards_failed)" 0 "shards failed"
assert_eq "$(rcli hlen "poisonscan:{$J}:failed:p1")" 0 "failed:p1 entries"
# w-b committed it, under a new attempt number (never reused)
case "$(hget "poisonscan:{$J}:commits:p1" "$SHARD")" in
"2 "*-"$(pid_of w-b)"-*) ;;
*) fail "shard $SHARD: commit marker '$(hget "poisonscan:{$J}:commits:p1" "$SHARD")'" ;;
esac
check_report "$T/out" "$EXP"
check_progress $J "$T/out" "$EXP"
log "PASS"
