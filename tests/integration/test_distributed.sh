#!/bin/sh
# test_distributed.sh - one coordinator and three workers over ZeroMQ scan the integration corpus;
# every count in the report and in Redis must equal what the generator planted, exactly.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/corpus"
EXP=$T/corpus.expected.json

start_bg coordinator "$BIN" coordinator --redis "$REDIS_URL" --bind 'tcp://127.0.0.1:*' \
	--endpoint-file "$T/ep" --job itest --out "$T/out" --shard-size 256K --insecure "$T/corpus"
wait_for test -s "$T/ep" 30
EP=$(cat "$T/ep")
log "coordinator bound at $EP"
for i in 1 2 3; do
	start_bg "worker$i" "$BIN" worker --connect "$EP" --redis "$REDIS_URL" --insecure
done

assert_eq "$(wait_exit coordinator 300)" 0 "coordinator exit status"
check_report "$T/out" "$EXP"
check_progress itest "$T/out" "$EXP"
# the big plain .jsonl must have been cut into several shards
SHARDS=$(hget 'poisonscan:{itest}:progress' shards_total)
[ "$SHARDS" -gt "$(json_get "$EXP" "d['files']")" ] || fail "only $SHARDS shards: big file not split"
assert_eq "$(status_state itest)" "done" "status --json state"

# workers end by themselves once the coordinator says Shutdown
for i in 1 2 3; do
	assert_eq "$(wait_exit "worker$i" 30)" 0 "worker$i exit status"
done
log "PASS"
