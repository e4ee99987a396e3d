#!/bin/sh
# test_gc.sh - job data hygiene over two Redis servers: a finished job's keys (its own and its
# partitions' on both servers) expire after --keep, never its lock, with meta last; --keep 0 keeps
# them; `poisonscan gc` leaves a running job's keys exactly as they were (its lock is held) and
# removes every key of a stopped job on both servers, and nothing of another job.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

REDIS2_SOCK=$T/redis2.sock
REDIS2_URL=unix://$REDIS2_SOCK
rcli2() { redis-cli -s "$REDIS2_SOCK" --raw "$@"; }
redis2_ping() { [ "$(rcli2 ping 2>/dev/null)" = PONG ]; }
start_bg redis2 redis-server --port 0 --unixsocket "$REDIS2_SOCK" --unixsocketperm 700 \
	--save '' --appendonly no --daemonize no --dir "$T"
wait_for redis2_ping 20
BOTH="$REDIS_URL,$REDIS2_URL"

gen_integ "$T/corpus"
# keys of job $1 on server 1 / 2, sorted
keys1() { { rcli --scan --pattern "poisonscan:{$1}:*"; rcli --scan --pattern "poisonscan:{$1:q*}:*"; } | sort; }
keys2() { rcli2 --scan --pattern "poisonscan:{$1:q*}:*" | sort; }
nkeys() { { keys1 "$1"; keys2 "$1"; } | grep -c . || true; }

# a finished job with --keep 1h: every key expires within the hour, meta a minute after the rest
st=$(run_rc "$BIN" scan --workers 2 --redis "$BOTH" --partitions 4 --job kept --keep 1h \
	--out "$T/out-kept" "$T/corpus")
[ "$st" -le 2 ] || fail "scan --keep 1h exited $st: $(tail -n 5 "$T/run.log")"
[ "$(keys2 kept | grep -c .)" -gt 0 ] || fail "job 'kept' left no partition keys on server 2"
python3 - "$REDIS_SOCK" "$REDIS2_SOCK" kept <<'PYEOF' || fail "TTLs of a finished job"
import subprocess, sys
def cli(sock, *a):
    return subprocess.run(["redis-cli", "-s", sock, "--raw", *a], check=True,
                          capture_output=True, text=True).stdout.split()
s1, s2, job = sys.argv[1:]
ttl = {}
for sock, pats in ((s1, ["poisonscan:{%s}:*" % job, "poisonscan:{%s:q*}:*" % job]),
                   (s2, ["poisonscan:{%s:q*}:*" % job])):
    for p in pats:
        for k in cli(sock, "--scan", "--pattern", p):
            ttl[(sock, k)] = int(cli(sock, "pttl", k)[0])
meta = ttl.pop((s1, "poisonscan:{%s}:meta" % job))
assert ("poisonscan:{%s}:lock" % job) not in [k for _, k in ttl], "the lock outlived its coordinator"
assert ttl and all(0 < v <= 3600 * 1000 for v in ttl.values()), sorted(ttl.items())[:5]
assert 3600 * 1000 < meta <= 3660 * 1000 and meta > max(ttl.values()), meta
assert any(s == s2 for s, _ in ttl), "no key on server 2"
print("%d keys expire within 1h on both servers, meta at +%d ms" % (len(ttl), meta), file=sys.stderr)
PYEOF

# --keep 0: nothing expires
st=$(run_rc "$BIN" scan --workers 2 --redis "$BOTH" --partitions 4 --job kept2 --keep 0 \
	--out "$T/out-kept2" "$T/corpus")
[ "$st" -le 2 ] || fail "scan --keep 0 exited $st"
for k in $(keys1 kept2); do
	[ "$(rcli pttl "$k")" = -1 ] || fail "--keep 0 left a TTL on $k"
done
N_KEPT2=$(nkeys kept2)

# dry run: counts, changes nothing
assert_eq "$("$BIN" gc --redis "$BOTH" --job kept2 --dry-run)" \
	"job 'kept2': $N_KEPT2 keys would be removed on 2 Redis endpoints" "gc --dry-run output"
assert_eq "$(nkeys kept2)" "$N_KEPT2" "keys of kept2 after a dry run"

# a running job (a coordinator without workers): gc refuses and touches nothing
kill_coordinator() { kill -TERM "$(pid_of coordinator)"; wait_exit coordinator 60 >/dev/null; }
start_bg coordinator "$BIN" coordinator --redis "$BOTH" --partitions 4 --bind "ipc://$T/c.ipc" \
	--job running --out "$T/out-run" "$T/corpus"
# meta's fingerprint is the last key the coordinator writes when it sets a job up
wait_for sh -c "[ -n \"\$(redis-cli -s '$REDIS_SOCK' --raw hget 'poisonscan:{running}:meta' fingerprint)\" ]" 60
snapshot() {
	for k in $(keys1 running); do printf '%s %s %s\n' "$k" "$(rcli pttl "$k")" "$(rcli type "$k")"; done
	for k in $(keys2 running); do printf '%s %s\n' "$k" "$(rcli2 pttl "$k")"; done
	# field order: a hash past its listpack limits iterates in table order, which a read may
	# change (Redis resizes and rehashes it in steps); compare the fields sorted
	rcli hgetall 'poisonscan:{running}:meta' | grep -v '^[0-9]*$' | sort || true
	rcli get 'poisonscan:{running}:plan' | cksum
}
snapshot >"$T/before"
LOCK=$(rcli get 'poisonscan:{running}:lock')
st=$(run_rc "$BIN" gc --redis "$BOTH" --job running)
assert_eq "$st" 3 "gc of a running job: exit status"
grep -q "job 'running' is running" "$T/run.log" || fail "gc did not say why: $(cat "$T/run.log")"
snapshot >"$T/after"
# the lock's own TTL moves on (the coordinator renews it): compare everything else
grep -v ':lock ' "$T/before" >"$T/b" && grep -v ':lock ' "$T/after" >"$T/a"
cmp "$T/b" "$T/a" || fail "gc changed a running job's keys: $(diff "$T/b" "$T/a" | head)"
assert_eq "$(rcli get 'poisonscan:{running}:lock')" "$LOCK" "the running coordinator's lock"
exited coordinator && fail "the coordinator stopped"
log "ok: a running job's $(grep -c . "$T/before") keys untouched"

# stopped: gc removes every key of the job on both servers, and only those
kill_coordinator
N_RUNNING=$(nkeys running)
[ "$N_RUNNING" -gt 0 ] || fail "the stopped job has no keys"
assert_eq "$("$BIN" gc --redis "$BOTH" --job running)" \
	"job 'running': $N_RUNNING keys removed on 2 Redis endpoints" "gc output"
assert_eq "$(nkeys running)" 0 "keys of 'running' left"
assert_eq "$(nkeys kept2)" "$N_KEPT2" "keys of kept2 after gc of another job"
assert_eq "$("$BIN" gc --redis "$BOTH" --job kept2)" \
	"job 'kept2': $N_KEPT2 keys removed on 2 Redis endpoints" "gc kept2 output"
assert_eq "$(nkeys kept2)" 0 "keys of kept2 left"
assert_eq "$("$BIN" gc --redis "$BOTH" --job kept2)" "job 'kept2': no keys on 2 Redis endpoints" \
	"gc of a job with no keys"
log "PASS"
