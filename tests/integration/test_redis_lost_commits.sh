#!/bin/sh
# test_redis_lost_commits.sh - commits that Redis surely lost: a copy of its append-only files is
# taken, more shards commit, then redis-server is killed and started from the OLDER copy. The
# coordinator (its record in memory and in its --state-dir journal) finds exactly the shards it
# saw committed whose markers the server lost, names them and dispatches them again, and each is
# counted once. Twice: (1) mid scan pass, the coordinator running through the restart; (2) mid
# confirm pass, the coordinator killed -9 as well and started again, with only its journal to
# know. report.json and the Redis counts equal those of an undisturbed run.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"
# shellcheck source=tests/integration/redis_aof.sh
. "$PS_SOURCE_DIR/tests/integration/redis_aof.sh"

gen_integ "$T/corpus"
EXP=$T/corpus.expected.json
POISONSCAN_HEARTBEAT=$(ms 500)
export POISONSCAN_HEARTBEAT
RETRY=$(secs 60)
STATE=$T/state
JOURNAL=$STATE/lc.journal

# coordinator NAME JOB [ARGS] : a coordinator of JOB in the background
coordinator() {
	_name=$1
	_job=$2
	shift 2
	rm -f "$T/$_job.ep"
	start_bg "$_name" "$BIN" coordinator --redis "$REDIS_URL" --bind "ipc://$T/$_job.ipc" \
		--endpoint-file "$T/$_job.ep" --job "$_job" --out "$T/out-$_job" --shard-size 256K \
		--lease-timeout "$(secs 3)" --redis-retry "$RETRY" --insecure "$@" "$T/corpus"
	wait_for test -s "$T/$_job.ep" 60
}

# workers PREFIX JOB : two slowed workers of JOB
workers() {
	for i in 1 2; do
		start_bg "$1$i" "$BIN" worker --connect "ipc://$T/$2.ipc" --redis "$REDIS_URL" \
			--redis-retry "$RETRY" --insecure --fault-delay-ms 300
	done
}

# shard sets are files of ids, one a line, sorted as comm wants them
LC_ALL=C
export LC_ALL

# markers JOB PASS : the shards with a complete commit (partition 0's "<shard>" marker)
markers() { rcli hkeys "poisonscan:{$1}:commits:p$2" | grep -v '\.' | sort || true; }

# journaled PASS : the shards the journal records as committed in PASS (checked lines only)
journaled() {
	python3 - "$JOURNAL" "$1" <<'EOF'
import sys
lines = open(sys.argv[1], encoding="ascii").read().split("\n")
got = set()
for line in lines[1:]:
    f = line.split(" ")
    if len(f) >= 3 and f[0] == sys.argv[2]:
        got.update(int(x) for x in f[1:-1])
print("\n".join(str(s) for s in got))
EOF
}

journal_count() { journaled "$1" | grep -c . || true; }
# journaled_sorted PASS : the same, as a set for comm
journaled_sorted() { journaled "$1" | sort; }

# logged LOG PASS : the shards a coordinator log names as lost from PASS
logged() {
	sed -n "s/.*shard \([0-9]*\): its commit in pass $2 is not in redis.*/\1/p" "$1" | sort
}

# at_least_recorded PASS N : the journal records at least N shards of PASS
at_least_recorded() { [ "$(journal_count "$1")" -ge "$2" ]; }
in_pass() { [ "$(hget 'poisonscan:{lc}:progress' pass)" = "$1" ]; }

# --- the undisturbed run ------------------------------------------------------------------
coordinator cref ref
workers wref ref
assert_eq "$(wait_exit cref 300)" 0 "undisturbed coordinator exit status"
check_report "$T/out-ref" "$EXP"

# --- 1: mid scan pass, the coordinator runs through ------------------------------------------
coordinator c1 lc --state-dir "$STATE"
workers wa lc
wait_for at_least_recorded 1 2 120
redis_aof_copy "$T/aof-old1"
BASE=$(journal_count 1)
wait_for at_least_recorded 1 $((BASE + 3)) 120
# the coordinator stopped, so that its record stays as read here while Redis is swapped, and the
# workers too: a commit that reached the old server after the markers were read would be lost
# without being in $T/kill1 (the coordinator, rightly, names it)
kill -STOP "$(pid_of c1)"
for i in 1 2; do kill -STOP "$(pid_of "wa$i")"; done
journaled_sorted 1 >"$T/rec1"
markers lc 1 >"$T/kill1"
redis_aof_kill
redis_aof_restore "$T/aof-old1"
redis_aof_start
# nothing writes meanwhile: coordinator and workers are stopped; the workers' next commits meet a
# new server
markers lc 1 >"$T/old1"
kill -CONT "$(pid_of c1)"
for i in 1 2; do kill -CONT "$(pid_of "wa$i")"; done
log "scan pass: journal $(grep -c . "$T/rec1"), redis $(grep -c . "$T/kill1") at the kill, $(grep -c . "$T/old1") in the old AOF"
comm -23 "$T/rec1" "$T/old1" >"$T/must1"  # on record, lost: must be named
comm -23 "$T/kill1" "$T/old1" >"$T/lost1" # every shard lost: may be named
[ -s "$T/must1" ] || fail "no commit on record was lost: the copy was not older"
wait_for grep -q 'pass 1: [0-9]* committed shards lost by redis' "$T/c1.log" 60
logged "$T/c1.log" 1 >"$T/logged1"
[ -z "$(comm -23 "$T/must1" "$T/logged1")" ] ||
	fail "lost shards on record not named: $(comm -23 "$T/must1" "$T/logged1" | tr '\n' ' ')"
[ -z "$(comm -23 "$T/logged1" "$T/lost1")" ] ||
	fail "shards named lost that redis kept: $(comm -23 "$T/logged1" "$T/lost1" | tr '\n' ' ')"
log "ok: scan pass: named lost $(tr '\n' ' ' <"$T/logged1")(on record and lost: $(tr '\n' ' ' <"$T/must1"))"

# --- 2: mid confirm pass, coordinator and redis both killed -----------------------------------
wait_for in_pass 2 300
wait_for at_least_recorded 2 2 120
redis_aof_copy "$T/aof-old2"
BASE=$(journal_count 2)
wait_for at_least_recorded 2 $((BASE + 3)) 120
kill -KILL "$(pid_of c1)"
wait_exit c1 10 >/dev/null
for i in 1 2; do kill -KILL "$(pid_of "wa$i")" 2>/dev/null || true; done
redis_aof_kill
redis_aof_restore "$T/aof-old2"
redis_aof_start
# the pass the older copy is in: 2, unless the file lagged the switch (everysec may hold a write
# back while an fsync runs), and then the switch and all of pass 2 are what was lost
P=$(hget 'poisonscan:{lc}:meta' pass)
journaled_sorted "$P" >"$T/rec2"
markers lc "$P" >"$T/old2"
comm -23 "$T/rec2" "$T/old2" >"$T/must2"
N2=$(journal_count 2)
[ -s "$T/must2" ] || [ "$P" = 1 ] || fail "no commit on record was lost: the copy was not older"
log "confirm pass: redis back in pass $P; on record and lost: $(tr '\n' ' ' <"$T/must2")"
coordinator c2 lc --state-dir "$STATE"
workers wb lc
assert_eq "$(wait_exit c2 300)" 0 "restarted coordinator exit status"
logged "$T/c2.log" "$P" >"$T/logged2"
assert_eq "$(tr '\n' ' ' <"$T/logged2")" "$(tr '\n' ' ' <"$T/must2")" \
	"shards the restarted coordinator names lost (its journal less the markers)"
if [ "$P" = 1 ]; then
	grep -q "pass 2: redis lost the switch to it and its $N2 committed shards" "$T/c2.log" ||
		fail "the restarted coordinator did not name the lost switch to pass 2"
fi
[ ! -e "$JOURNAL" ] || fail "the journal of a finished job was left in $STATE"

# every lost shard was dispatched again and committed once: the same as the undisturbed run
check_report "$T/out-lc" "$EXP"
check_progress lc "$T/out-lc" "$EXP"
same_report "$T/out-ref" "$T/out-lc"
for f in shards_total shards_done bytes_done docs_done errors damaged_files; do
	assert_eq "$(hget 'poisonscan:{lc}:progress' "$f")" "$(hget 'poisonscan:{ref}:progress' "$f")" \
		"progress $f against the undisturbed run"
done
for p in 1 2 3 4; do
	assert_eq "$(markers lc $p | grep -c . || true)" "$(markers ref $p | grep -c . || true)" \
		"complete commits of pass $p against the undisturbed run"
done
log "PASS"
