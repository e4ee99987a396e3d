#!/bin/sh
# test_liveness.sh - liveness by time (docs/protocol.md §5.2). A worker slowed to about a tenth of
# its speed (SIGSTOP/SIGCONT cycling, which stops every thread of it, the heartbeat thread too)
# keeps every lease (attempt 1 everywhere) and its counts equal an undisturbed run's; a worker
# paused past its lease timeout loses the lease, the shard goes out again as attempt 2, and the
# counts are still equal (the paused worker's late commit changes nothing).
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

# 8 shards of 1-2 MB, so that one shard takes the slowed worker far longer than the heartbeat
# silence the coordinator tolerates (liveness 3 x heartbeat)
gen_integ "$T/corpus" --shards 8 --poison 40 --integ-kb 8192 --big-kb 2048
POISONSCAN_HEARTBEAT=$(ms 500)
export POISONSCAN_HEARTBEAT
LEASE=$(secs 3)

# start_job JOB : a coordinator for JOB over the corpus, its endpoint in $T/JOB.ep
start_job() {
	start_bg "coord-$1" "$BIN" coordinator --redis "$REDIS_URL" --bind "ipc://$T/$1.ipc" \
		--endpoint-file "$T/$1.ep" --job "$1" --out "$T/out-$1" --shard-size 64M \
		--lease-timeout "$LEASE" "$T/corpus"
	wait_for test -s "$T/$1.ep" 30
}

# start_worker NAME JOB
start_worker() {
	start_bg "$1" "$BIN" worker --connect "$(cat "$T/$2.ep")" --redis "$REDIS_URL"
}

# max_attempt JOB : the highest attempt of any commit of JOB, over every pass
max_attempt() {
	for _p in 1 2 3 4; do rcli hvals "poisonscan:{$1}:commits:p$_p"; done |
		awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }'
}

# --- the undisturbed run ----------------------------------------------------------------------
start_job calm
start_worker w-calm calm
assert_eq "$(wait_exit coord-calm 300)" 0 "undisturbed coordinator exit"
assert_eq "$(wait_exit w-calm 60)" 0 "undisturbed worker exit"
check_report "$T/out-calm" "$T/corpus.expected.json"

# --- 1: a worker at a tenth of its speed keeps its leases --------------------------------------
start_job slow
start_worker w-slow slow
SLOW_PID=$(pid_of w-slow)
# 250 ms stopped, 25 ms running, until the coordinator is done; the stopped spans stay well
# below the silence the coordinator tolerates (3 heartbeats), whatever the slowdown factor
cycles=0
while ! exited coord-slow; do
	kill -STOP "$SLOW_PID" 2>/dev/null || break
	sleep 0.25
	kill -CONT "$SLOW_PID" 2>/dev/null || break
	sleep 0.025
	cycles=$((cycles + 1))
done
kill -CONT "$SLOW_PID" 2>/dev/null || true
log "worker stopped and continued $cycles times"
[ "$cycles" -ge 10 ] || fail "the job ended after $cycles stop cycles: the slowdown did not bite"
assert_eq "$(wait_exit coord-slow 300)" 0 "slowed run: coordinator exit"
assert_eq "$(wait_exit w-slow 60)" 0 "slowed run: worker exit"
assert_eq "$(max_attempt slow)" 1 "slowed run: highest attempt of any commit"
assert_eq "$(rcli hvals 'poisonscan:{slow}:attempts:p1' | sort -u | tr '\n' ' ')" "1 " \
	"slowed run: scan-pass dispatches per shard"
same_report "$T/out-calm" "$T/out-slow"

# --- 2: a worker paused past its lease timeout loses the lease ---------------------------------
start_job pause
start_worker w-a pause
start_worker w-b pause
# pause_a_holding SHARD_FILE : w-a stopped while it holds a lease whose shard it has not committed
# (the shard id goes to the file); else w-a goes on and the answer is no. Stopped first, so that
# what it holds does not change while we look.
pause_a_holding() {
	_a=$(pid_of w-a)
	kill -STOP "$_a"
	_p=$(hget 'poisonscan:{pause}:meta' pass)
	for _f in $(rcli hkeys 'poisonscan:{pause}:leases'); do
		case "$(hget 'poisonscan:{pause}:leases' "$_f")" in
		*-"$_a"-*)
			if [ -z "$(hget "poisonscan:{pause}:commits:p$_p" "$_f")" ]; then
				echo "$_f" >"$1"
				return 0
			fi
			;;
		esac
	done
	kill -CONT "$_a"
	return 1
}
wait_for pause_a_holding "$T/victim" 60
VICTIM=$(cat "$T/victim")
log "paused worker w-a holding shard $VICTIM"
# the shard is committed again under attempt 2 (by w-b) while w-a sleeps, in whichever pass
committed_again() {
	for _p in 1 2 3 4; do
		_m=$(hget "poisonscan:{pause}:commits:p$_p" "$VICTIM")
		[ "${_m%% *}" = 2 ] && return 0
	done
	return 1
}
wait_for committed_again 120
kill -CONT "$(pid_of w-a)"
log "shard $VICTIM committed as attempt 2; w-a continued"
assert_eq "$(wait_exit coord-pause 300)" 0 "paused run: coordinator exit"
for w in w-a w-b; do
	assert_eq "$(wait_exit "$w" 60)" 0 "paused run: $w exit"
done
same_report "$T/out-calm" "$T/out-pause"
log "PASS"
