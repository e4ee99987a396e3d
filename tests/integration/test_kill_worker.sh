#!/bin/sh
# test_kill_worker.sh - workers that die mid-shard (kill -9) or right after a commit lose nothing
# and count nothing twice: the re-leased shard is scanned again and its second commit is a no-op.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/corpus"
EXP=$T/corpus.expected.json
# short heartbeats (coordinator and workers read POISONSCAN_HEARTBEAT) and leases, for speed
POISONSCAN_HEARTBEAT=$(ms 500)
export POISONSCAN_HEARTBEAT
TIMING="--lease-timeout $(secs 3)"

# start_coordinator JOB NAME
start_coordinator() {
	rm -f "$T/$2.ep"
	# shellcheck disable=SC2086 # TIMING is a word list
	start_bg "$2" "$BIN" coordinator --redis "$REDIS_URL" --bind 'tcp://127.0.0.1:*' \
		--endpoint-file "$T/$2.ep" --job "$1" --out "$T/out-$1" --shard-size 256K $TIMING \
		--insecure "$T/corpus"
	wait_for test -s "$T/$2.ep" 30
}

# our_worker_pid PID : PID is one of the workers this test started
our_worker_pid() {
	for _w in "$T"/w*.pid; do [ "$(cat "$_w")" = "$1" ] && return 0; done
	return 1
}

lease_held() { [ -n "$(rcli hkeys "poisonscan:{$1}:leases")" ]; }

# --- 1: kill -9 a worker that holds a lease -----------------------------------------------
start_coordinator itest2 coord2
for i in 1 2 3; do
	start_bg "w2_$i" "$BIN" worker --connect "$(cat "$T/coord2.ep")" --redis "$REDIS_URL" \
		--insecure --fault-delay-ms 300
done
# find_victim JOB : a pass-1 lease of JOB held by one of our workers, which is stopped (SIGSTOP)
# while its shard has no commit marker: it is mid-shard and can no longer commit. Its pid goes to
# $T/victim. A worker that committed before it was stopped (on a busy machine the 300 ms it
# dawdles can pass before the test looks) is let go on, and the search goes on.
find_victim() {
	for _f in $(rcli hkeys "poisonscan:{$1}:leases"); do
		_lease=$(hget "poisonscan:{$1}:leases" "$_f")
		# value "<routing id> <attempt> <deadline>", routing id "<host>-<pid>-<nonce>" (the
		# host may itself contain dashes)
		_pid=$(echo "${_lease%% *}" | awk -F- 'NF >= 3 { print $(NF - 1) }')
		if [ -n "$_pid" ] && our_worker_pid "$_pid"; then
			kill -STOP "$_pid"
			if [ "$(hget "poisonscan:{$1}:progress" pass)" = 1 ] &&
				[ "$(hget "poisonscan:{$1}:leases" "$_f")" = "$_lease" ] &&
				[ -z "$(hget "poisonscan:{$1}:commits:p1" "$_f")" ]; then
				echo "$_pid" >"$T/victim"
				echo "shard $_f is leased: $_lease" >"$T/victim.lease"
				return 0
			fi
			kill -CONT "$_pid"
		fi
	done
	return 1
}
wait_for lease_held itest2 60
wait_for find_victim itest2 30
VICTIM=$(cat "$T/victim")
log "$(cat "$T/victim.lease"); kill -9 worker pid $VICTIM (stopped mid-shard)"
kill -KILL "$VICTIM"

assert_eq "$(wait_exit coord2 300)" 0 "coordinator exit status (kill -9 variant)"
check_report "$T/out-itest2" "$EXP"
check_progress itest2 "$T/out-itest2" "$EXP"
MAXATT=$(rcli hvals 'poisonscan:{itest2}:commits:p1' | awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }')
[ "$MAXATT" -ge 2 ] || fail "no shard was committed on a second attempt (max attempt $MAXATT)"
log "ok: a shard was re-leased and committed on attempt $MAXATT"
for i in 1 2 3; do
	[ "$(pid_of "w2_$i")" = "$VICTIM" ] && continue
	assert_eq "$(wait_exit "w2_$i" 30)" 0 "surviving worker w2_$i exit status"
done

# --- 2: a worker exits hard right after its first commit, before reporting it ---------------
start_coordinator itest3 coord3
EP3=$(cat "$T/coord3.ep")
start_bg w3_crash "$BIN" worker --connect "$EP3" --redis "$REDIS_URL" --insecure \
	--fault-exit-after-commit 1
ST=$(wait_exit w3_crash 120)
[ "$ST" != 0 ] || log "note: the crashing worker exited 0"
log "crashing worker exited $ST after its first commit"
for i in 1 2; do
	start_bg "w3_$i" "$BIN" worker --connect "$EP3" --redis "$REDIS_URL" --insecure
done
assert_eq "$(wait_exit coord3 300)" 0 "coordinator exit status (exit-after-commit variant)"
check_report "$T/out-itest3" "$EXP"
check_progress itest3 "$T/out-itest3" "$EXP"
for i in 1 2; do
	assert_eq "$(wait_exit "w3_$i" 30)" 0 "worker w3_$i exit status"
done
log "PASS"
