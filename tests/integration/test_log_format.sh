#!/bin/sh
# test_log_format.sh - logs: with --log-format json every line the coordinator and its workers
# write is one JSON object with time, level, role, pid, module and msg; plain lines keep their
# layout; and the Redis password (given through the environment and through a file) appears in
# no log at any level, including a refused login.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

PW="pw-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
SOCK2=$T/redis-auth.sock
# the password in a config file: not on redis-server's command line either
printf 'requirepass %s\n' "$PW" >"$T/redis-auth.conf"
start_bg redis_auth redis-server "$T/redis-auth.conf" --port 0 --unixsocket "$SOCK2" \
	--unixsocketperm 700 --save '' --appendonly no --dir "$T"
wait_for sh -c "redis-cli -s '$SOCK2' -a '$PW' --no-auth-warning ping | grep -q PONG" 20
printf '%s\n' "$PW" >"$T/pw"
chmod 600 "$T/pw"

gen_integ "$T/corpus"
EXP=$T/corpus.expected.json

POISONSCAN_REDIS_PASSWORD=$PW start_bg coordinator "$BIN" coordinator --redis "unix://$SOCK2" \
	--bind "ipc://$T/coord.ipc" --job logjson --out "$T/out" --shard-size 256K \
	--log-level debug --log-format json "$T/corpus"
for i in 1 2; do
	start_bg "worker$i" "$BIN" worker --connect "ipc://$T/coord.ipc" --redis "unix://$SOCK2" \
		--redis-password-file "$T/pw" --log-level debug --log-format json
done
assert_eq "$(wait_exit coordinator 300)" 0 "coordinator exit status"
for i in 1 2; do
	assert_eq "$(wait_exit "worker$i" 60)" 0 "worker$i exit status"
done
check_report "$T/out" "$EXP"

# a refused login, in plain text this time: the error is logged, the password is not
printf 'not-%s\n' "$PW" >"$T/pw-wrong"
st=$(run_rc "$BIN" worker --connect "ipc://$T/none.ipc" --redis "unix://$SOCK2" \
	--redis-password-file "$T/pw-wrong" --redis-retry 0 --give-up 2s --log-level debug)
cp "$T/run.log" "$T/wrongpw.log"
[ "$st" -ne 0 ] || fail "a worker with a wrong password exited 0"
grep -q "WRONGPASS\|invalid password\|invalid username-password" "$T/wrongpw.log" ||
	fail "the refused login was not logged"
grep -q "Z worker\[[0-9]*\] error " "$T/wrongpw.log" || fail "the plain log line lost its layout"

python3 - "$T" "$PW" coordinator.log worker1.log worker2.log <<'PYEOF' || fail "JSON log check"
import json, sys
t, pw = sys.argv[1], sys.argv[2]
levels = set()
for name in sys.argv[3:]:
    with open(f"{t}/{name}", encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines, f"{name} is empty"
    for n, line in enumerate(lines, 1):
        d = json.loads(line)  # every line is one object
        assert set(d) == {"time", "level", "role", "pid", "module", "msg"}, (name, n, sorted(d))
        assert d["level"] in ("debug", "info", "warn", "error"), (name, n, d["level"])
        assert d["role"] == name.rstrip("12.log").rstrip("."), (name, n, d["role"])
        assert d["time"].endswith("Z") and isinstance(d["pid"], int)
        levels.add(d["level"])
    print(f"{name}: {len(lines)} JSON lines", file=sys.stderr)
assert {"debug", "info"} <= levels, levels
PYEOF
log "ok: every log line is one JSON object"

for f in "$T"/*.log; do
	case $f in */redis*.log) continue ;; esac
	if grep -F -q "$PW" "$f"; then
		fail "the Redis password appears in $(basename "$f")"
	fi
done
log "ok: the password is in no log ($(find "$T" -name '*.log' | wc -l) logs)"
log "PASS"
