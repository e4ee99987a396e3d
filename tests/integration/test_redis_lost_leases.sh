#!/bin/sh
# test_redis_lost_leases.sh - Redis restarts without the lease record of a shard that is out (an
# AOF with appendfsync everysec may lose its last second of writes, lease records included). The
# worker did not fail on that shard, so the attempt is not charged (docs/reliability.md): the
# reconciling coordinator knows the lease was out and records the shard as given back
# (`givenback:p1`), as it does when Redis kept the record. With --max-attempts 1 the shard is
# then committed by another worker, none failed.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"
# shellcheck source=tests/integration/redis_aof.sh
. "$PS_SOURCE_DIR/tests/integration/redis_aof.sh"

gen_integ "$T/corpus"
EXP=$T/corpus.expected.json
POISONSCAN_HEARTBEAT=$(ms 500)
export POISONSCAN_HEARTBEAT
J=ll

# w-a is stopped inside a lease for as long as the restart takes: the coordinator lets a worker be
# silent for 100 heartbeats, and a lease unrenewed for 120 s, so neither ends the lease first
start_bg coord "$BIN" coordinator --redis "$REDIS_URL" --bind "ipc://$T/coord.ipc" \
	--endpoint-file "$T/coord.ep" --job $J --out "$T/out" --max-attempts 1 --liveness 100 \
	--lease-timeout "$(secs 120)" --redis-retry "$(secs 60)" "$T/corpus"
wait_for test -s "$T/coord.ep" 30
EP=$(cat "$T/coord.ep")
# w-a dawdles 3 s before each commit (heartbeating), so that it is mostly inside a lease
start_bg w-a "$BIN" worker --connect "$EP" --redis "$REDIS_URL" --redis-retry "$(secs 60)" \
	--fault-delay-ms 3000

wait_for stop_in_lease w-a $J 120
SHARD=$(cat "$T/shard")
# the record lost, and the server stopped with everything else written (SHUTDOWN persists)
rcli hdel "poisonscan:{$J}:leases" "$SHARD" >/dev/null
rcli shutdown >/dev/null 2>&1 || true
wait_exit "redis$_AOF_N" 30 >/dev/null
redis_aof_start
log "redis restarted without the lease record of shard $SHARD (w-a stopped inside it)"
wait_for grep -q "reconciled:" "$T/coord.log" 60
on_record() { [ "$(hget "poisonscan:{$J}:givenback:p1" "$SHARD")" = 1 ]; }
wait_for on_record 30
log "ok: shard $SHARD given back, on record in givenback:p1"

kill -TERM "$(pid_of w-a)"
kill -CONT "$(pid_of w-a)"
wait_exit w-a 60 >/dev/null
start_bg w-b "$BIN" worker --connect "$EP" --redis "$REDIS_URL" --redis-retry "$(secs 60)"
assert_eq "$(wait_exit coord 300)" 0 "coordinator exit"
assert_eq "$(wait_exit w-b 60)" 0 "w-b exit"
assert_eq "$(hget "poisonscan:{$J}:progress" shards_failed)" 0 "shards failed"
assert_eq "$(rcli hlen "poisonscan:{$J}:failed:p1")" 0 "failed:p1 entries"
check_report "$T/out" "$EXP"
check_progress $J "$T/out" "$EXP"
log "PASS"
