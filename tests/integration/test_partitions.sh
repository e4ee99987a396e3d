#!/bin/sh
# test_partitions.sh - a job's aggregation partitions spread over two Redis servers: the report is
# the one a single server gives, each server holds only its own partitions' records, and what
# cannot work (a partition count that is not a power of two, fewer partitions than servers, a
# worker given another set of servers, a job resumed on another set) is refused with a message.
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

gen_integ "$T/corpus"
EXP=$T/corpus.expected.json
RC_WANT=$([ "$(json_get "$EXP" "len(d['poisoned'])")" -gt 0 ] && echo 1 || echo 0)

assert_eq "$(run_rc "$BIN" scan --workers 2 --redis "$REDIS_URL" --job one --out "$T/out-one" \
	"$T/corpus")" "$RC_WANT" "one server, 8 partitions: exit"
check_report "$T/out-one" "$EXP"

assert_eq "$(run_rc "$BIN" scan --workers 2 --redis "$REDIS_URL,$REDIS2_URL" --partitions 4 \
	--job two --out "$T/out-two" "$T/corpus")" "$RC_WANT" "two servers, 4 partitions: exit"
check_report "$T/out-two" "$EXP"
# the same findings (the estimates behind the other candidates depend on the partitioning)
for expr in "d['corpus']" "d['errors']" "[(t['pattern'], t['documents'], t['shards']) for t in d['triggers']]"; do
	assert_eq "$(json_get "$T/out-two/report.json" "$expr")" \
		"$(json_get "$T/out-one/report.json" "$expr")" "two servers vs one: $expr"
done
cmp "$T/out-one/flagged.jsonl" "$T/out-two/flagged.jsonl" || fail "flagged.jsonl differs"
assert_eq "$(json_get "$T/out-two/report.json" "d['settings']['scan']['partitions']")" 4 \
	"report settings partitions"

# partitions 1 and 3 live on the second server, 0 and 2 on the first; nothing crosses over
count1() { rcli --scan --pattern "$1" | grep -c . || true; }
count2() { rcli2 --scan --pattern "$1" | grep -c . || true; }
for q in 1 3; do
	[ "$(count2 "poisonscan:{two:q$q}:ckpt:*")" -gt 0 ] ||
		fail "server 2 has no checkpoint of partition $q: $(rcli2 --scan)"
done
[ "$(count1 'poisonscan:{two:q2}:ckpt:*')" -gt 0 ] ||
	fail "server 1 has no checkpoint of partition 2: $(rcli --scan)"
assert_eq "$(count2 'poisonscan:{two}:*')$(count2 'poisonscan:{two:q[02]}:*')" 00 \
	"server 2: nothing of partitions 0 and 2"
assert_eq "$(count1 'poisonscan:{two:q[13]}:*')" 0 "server 1: nothing of partitions 1 and 3"

# what cannot work is refused before any work
assert_eq "$(run_rc "$BIN" scan --partitions 3 --out "$T/out-bad" "$T/corpus")" 3 \
	"--partitions 3: exit"
grep -qF -- "--partitions 3: a power of two" "$T/run.log" || fail "--partitions 3: $(cat "$T/run.log")"
assert_eq "$(run_rc "$BIN" scan --redis "$REDIS_URL,$REDIS2_URL" --partitions 1 \
	--out "$T/out-bad" "$T/corpus")" 3 "one partition over two servers: exit"
assert_eq "$(run_rc "$BIN" scan --workers 2 --redis "$REDIS_URL" --job two --partitions 4 \
	--out "$T/out-bad" "$T/corpus")" 3 "job two resumed on one server: exit"
grep -qF "exists with other settings" "$T/run.log" || fail "resume on one server: $(cat "$T/run.log")"

# a worker given one server for a job of two gives its lease back and stops with exit 3
start_bg coord "$BIN" coordinator --redis "$REDIS_URL,$REDIS2_URL" --partitions 4 \
	--bind "ipc://$T/c.ipc" --job three --out "$T/out-three" "$T/corpus"
start_bg w-wrong "$BIN" worker --connect "ipc://$T/c.ipc" --redis "$REDIS_URL"
assert_eq "$(wait_exit w-wrong 60)" 3 "worker with one server of two: exit"
grep -qF "spreads over 2 Redis endpoints, this worker was given 1" "$T/w-wrong.log" ||
	fail "worker message: $(cat "$T/w-wrong.log")"
start_bg w-right "$BIN" worker --connect "ipc://$T/c.ipc" --redis "$REDIS_URL,$REDIS2_URL"
assert_eq "$(wait_exit coord 300)" 0 "job three with the right worker: coordinator exit"
same_report "$T/out-two" "$T/out-three"
log "PASS"
