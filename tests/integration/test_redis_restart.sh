#!/bin/sh
# test_redis_restart.sh - redis-server killed with -9 while a job runs and started again from its
# append-only file (appendfsync everysec), once in the scan pass and once in the confirm pass,
# each time down longer than the job's lock lives: the workers and the coordinator ride it out
# (reconnect with backoff, wait while the server loads), the coordinator takes its lock again
# and reconciles its record of committed shards with the commit markers, and report.json and
# the Redis counts equal those of an undisturbed run of the same corpus.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"
# shellcheck source=tests/integration/redis_aof.sh
. "$PS_SOURCE_DIR/tests/integration/redis_aof.sh"

gen_integ "$T/corpus"
EXP=$T/corpus.expected.json
POISONSCAN_HEARTBEAT=$(ms 500)
export POISONSCAN_HEARTBEAT
# the job's lock lives 2 x heartbeat x liveness (3 s, scaled): Redis stays down longer, so a
# restarted server has let it expire; both sides may wait for Redis a minute
DOWN=$((4 * SLOW))
RETRY=$(secs 60)

# run_job JOB : a coordinator (NAME c-JOB) and two slowed workers (w1-JOB, w2-JOB)
run_job() {
	start_bg "c-$1" "$BIN" coordinator --redis "$REDIS_URL" --bind "ipc://$T/$1.ipc" \
		--endpoint-file "$T/$1.ep" --job "$1" --out "$T/out-$1" --shard-size 256K \
		--lease-timeout "$(secs 3)" --redis-retry "$RETRY" --insecure "$T/corpus"
	wait_for test -s "$T/$1.ep" 30
	for i in 1 2; do
		start_bg "w$i-$1" "$BIN" worker --connect "ipc://$T/$1.ipc" --redis "$REDIS_URL" \
			--redis-retry "$RETRY" --insecure --fault-delay-ms 300
	done
}

# in_pass JOB PASS N : the job is in PASS with at least N shards of it committed
in_pass() {
	[ "$(hget "poisonscan:{$1}:progress" pass)" = "$2" ] &&
		[ "$(hget "poisonscan:{$1}:progress" shards_done)" -ge "$3" ] 2>/dev/null
}

# restart_redis WHY : kill -9, stay down $DOWN s (the fault itself, not a wait for anything),
# start again from the append-only files
restart_redis() {
	log "kill -9 redis-server $REDIS_PID ($1); down for ${DOWN}s"
	redis_aof_kill
	sleep "$DOWN"
	redis_aof_start
	log "redis-server back from its AOF, pid $REDIS_PID"
}

# complete JOB PASS : the shards of PASS whose commit is complete (partition 0's "<shard>" marker)
complete() { rcli hkeys "poisonscan:{$1}:commits:p$2" | grep -cv '\.' || true; }

# --- the undisturbed run ------------------------------------------------------------------
run_job ref
assert_eq "$(wait_exit c-ref 300)" 0 "undisturbed coordinator exit status"
check_report "$T/out-ref" "$EXP"

# --- two restarts: mid scan pass, mid confirm pass ------------------------------------------
run_job rr
wait_for in_pass rr 1 3 120
restart_redis "scan pass, $(hget 'poisonscan:{rr}:progress' shards_done) shards committed"
wait_for in_pass rr 2 2 300
restart_redis "confirm pass, $(hget 'poisonscan:{rr}:progress' shards_done) shards committed"
assert_eq "$(wait_exit c-rr 300)" 0 "coordinator exit status"
for i in 1 2; do
	assert_eq "$(wait_exit "w$i-rr" 60)" 0 "worker $i exit status"
done

# both restarts were seen and reconciled, and neither cost the lock
assert_eq "$(grep -c 'redis restarted; reconciling' "$T/c-rr.log")" 2 "reconciliations"
grep -q 'reconciled:' "$T/c-rr.log" || fail "no reconciliation finished"
if grep -q 'lost the lock' "$T/c-rr.log"; then fail "the coordinator lost its lock"; fi

check_report "$T/out-rr" "$EXP"
check_progress rr "$T/out-rr" "$EXP"
same_report "$T/out-ref" "$T/out-rr"
for f in shards_total shards_done bytes_done docs_done errors damaged_files; do
	assert_eq "$(hget 'poisonscan:{rr}:progress' "$f")" "$(hget 'poisonscan:{ref}:progress' "$f")" \
		"progress $f against the undisturbed run"
done
for p in 1 2 3 4; do
	assert_eq "$(complete rr $p)" "$(complete ref $p)" "complete commits of pass $p against the undisturbed run"
done
log "PASS"
