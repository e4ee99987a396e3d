#!/bin/sh
# test_worker_churn.sh - workers come and go and the endpoint drops out, and the job still counts
# every shard exactly once (docs/reliability.md). One coordinator on tcp://127.0.0.1, its workers
# reaching it through a TCP relay (relay.py):
#  - a worker that joins late, after some shards are done, and gets work;
#  - a worker that leaves early: SIGTERM while it holds a lease; it says goodbye, which gives the
#    lease back (the coordinator dispatches the shard again at once, "the worker is stopping")
#    and exits 0;
#  - the endpoint briefly unreachable: the relay is killed until every worker has found the
#    coordinator silent, then started again on its old port; the workers reconnect as new
#    incarnations (docs/protocol.md §5.5) and finish the job.
# report.json equals an undisturbed run's, the Redis counts equal the corpus's, and every shard of
# every pass has one commit marker.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/corpus"
EXP=$T/corpus.expected.json
POISONSCAN_HEARTBEAT=$(ms 500)
export POISONSCAN_HEARTBEAT
RELAY=$PS_SOURCE_DIR/tests/integration/relay.py

# --- the undisturbed run ----------------------------------------------------------------------
start_bg coord-calm "$BIN" coordinator --redis "$REDIS_URL" --bind "ipc://$T/calm.ipc" \
	--endpoint-file "$T/calm.ep" --job calm --out "$T/out-calm" "$T/corpus"
wait_for test -s "$T/calm.ep" 30
start_bg w-calm "$BIN" worker --connect "$(cat "$T/calm.ep")" --redis "$REDIS_URL"
assert_eq "$(wait_exit coord-calm 300)" 0 "undisturbed coordinator exit"
assert_eq "$(wait_exit w-calm 60)" 0 "undisturbed worker exit"
check_report "$T/out-calm" "$EXP"

# --- the disturbed run ------------------------------------------------------------------------
J=churn
P="poisonscan:{$J}:progress"
# The outage ends the lease of each worker the coordinator finds silent, and a shard dispatched
# again meanwhile to the other, not yet found silent, is lost with it too: on a busy machine that
# can use up the default --max-attempts 3 (the SIGTERM's give-back is not charged). What this test
# asks is that every shard is counted once, not where the attempts run out.
start_bg coord "$BIN" coordinator --redis "$REDIS_URL" --bind 'tcp://127.0.0.1:*' \
	--endpoint-file "$T/coord.ep" --job $J --out "$T/out-$J" --insecure --max-attempts 10 \
	"$T/corpus"
wait_for test -s "$T/coord.ep" 30
TARGET=$(sed 's|^tcp://||' "$T/coord.ep")
start_bg relay1 python3 "$RELAY" "$T/relay1.port" "$TARGET" /dev/null
wait_for test -s "$T/relay1.port" 30
PORT=$(cat "$T/relay1.port")
EP=tcp://127.0.0.1:$PORT
log "coordinator at $TARGET, reached through the relay on port $PORT"

# start_worker NAME DELAY_MS [OPTION...] : a worker through the relay that dawdles DELAY_MS before
# each commit (heartbeating), so that the job lasts long enough to be disturbed
start_worker() {
	_name=$1
	_delay=$2
	shift 2
	start_bg "$_name" "$BIN" worker --connect "$EP" --redis "$REDIS_URL" --insecure \
		--fault-delay-ms "$_delay" "$@"
}

# at_least KEY N : the job is past pass 1, or pass 1 has KEY >= N
at_least() {
	_pass=$(hget "$P" pass)
	[ -n "$_pass" ] && { [ "$_pass" -gt 1 ] || [ "$(hget "$P" "$1")" -ge "$2" ]; }
} 2>/dev/null
job_done() { [ "$(hget "$P" state)" = "done" ]; }

# scanning NAME : worker NAME (stopped by the caller, and logging at debug level) is inside a
# lease: the coordinator says it holds the shard, its log says it started it, and the shard has
# no commit marker yet (so it has not committed it: it commits only after its dawdling)
scanning() {
	_pid=$(pid_of "$1")
	_pass=$(hget "$P" pass)
	for _f in $(rcli hkeys "poisonscan:{$J}:leases"); do
		case "$(hget "poisonscan:{$J}:leases" "$_f")" in
		*-"$_pid"-*)
			grep "lease: pass" "$T/$1.log" | tail -n 1 | grep -q "lease: pass $_pass shard $_f attempt" &&
				[ -z "$(hget "poisonscan:{$J}:commits:p$_pass" "$_f")" ] && return 0
			;;
		esac
	done
	return 1
}

start_worker w-a 200
start_worker w-c 2000 --log-level debug

# --- 1: a worker that joins late ---------------------------------------------------------------
wait_for at_least shards_done 4 120
job_done && fail "the job ended before the late worker joined"
start_worker w-b 200
LATE_PID=$(pid_of w-b)
log "w-b (pid $LATE_PID) joins with $(hget "$P" shards_done) shards of pass $(hget "$P" pass) done"

# --- 2: a worker that leaves early: SIGTERM while it holds a lease ---------------------------
# stop_c_scanning : w-c stopped inside a lease; else continued, and the answer is no
stop_c_scanning() {
	kill -STOP "$(pid_of w-c)"
	scanning w-c && return 0
	kill -CONT "$(pid_of w-c)"
	return 1
}
wait_for stop_c_scanning 120
log "w-c is inside a lease: SIGTERM"
kill -TERM "$(pid_of w-c)"
kill -CONT "$(pid_of w-c)"
assert_eq "$(wait_exit w-c 30)" 0 "w-c exit status after SIGTERM"
# given back, not left to expire: the coordinator dispatches it again with the worker's reason
wait_for grep -q "given back (the worker is stopping); dispatching again" "$T/coord.log" 30
job_done && fail "the job ended before the endpoint dropped out"

# --- 3: the endpoint briefly unreachable -------------------------------------------------------
wait_for at_least shards_done 20 120
job_done && fail "the job ended before the endpoint dropped out"
conn_before_a=$(grep -c "connecting to '$EP' as" "$T/w-a.log" || true)
conn_before_b=$(grep -c "connecting to '$EP' as" "$T/w-b.log" || true)
kill -TERM "$(pid_of relay1)"
wait_exit relay1 30 >/dev/null
log "relay down with $(hget "$P" shards_done) shards of pass $(hget "$P" pass) done"
# until both workers have given up on their connection (liveness x heartbeat of silence, then
# a backoff) and opened a new one as a new incarnation: the relay comes back only after that,
# else a worker may hear the coordinator again within its backoff and keep its identity
reconnected() { [ "$(grep -c "connecting to '$EP' as" "$T/$1.log")" -gt "$2" ]; }
wait_for reconnected w-a "$conn_before_a" 60
wait_for reconnected w-b "$conn_before_b" 60
start_bg relay2 python3 "$RELAY" "$T/relay2.port" "$TARGET" /dev/null "$PORT"
wait_for test -s "$T/relay2.port" 30
log "relay up again on port $PORT"

assert_eq "$(wait_exit coord 300)" 0 "coordinator exit"
assert_eq "$(wait_exit w-a 60)" 0 "w-a exit"
assert_eq "$(wait_exit w-b 60)" 0 "w-b exit"
[ "$(rcli hvals "poisonscan:{$J}:commits:p1" | grep -c -- "-$LATE_PID-")" -ge 1 ] ||
	fail "the late worker committed no shard"
log "ok: the late worker committed $(rcli hvals "poisonscan:{$J}:commits:p1" | grep -c -- "-$LATE_PID-") shards of pass 1"
# the workers came back as new incarnations: each said hello again
for w in w-a w-b; do
	[ "$(grep -c "connecting to '$EP' as" "$T/$w.log")" -ge 2 ] || fail "$w did not reconnect"
done

check_report "$T/out-$J" "$EXP"
check_progress $J "$T/out-$J" "$EXP"
same_report "$T/out-calm" "$T/out-$J"
# every shard of every pass has one complete marker ("<shard>"), as in the undisturbed run
total=$(hget "$P" shards_total)
for p in 1 2 3; do
	n=$(rcli hkeys "poisonscan:{$J}:commits:p$p" | grep -c '^[0-9]*$' || true)
	assert_eq "$n" "$(rcli hkeys "poisonscan:{calm}:commits:p$p" | grep -c '^[0-9]*$' || true)" \
		"shards committed in pass $p, as undisturbed"
	[ "$p" = 1 ] && assert_eq "$n" "$total" "shards committed in pass 1"
done
log "PASS"
