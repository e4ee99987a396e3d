#!/bin/sh
# test_hostile_peers.sh - every received message is checked before use, on both sides.
# 1. An admitted but hostile worker (tests/integration/hostile_peer.c, client mode) sends a
#    running CURVE coordinator garbage, extra frames, an empty frame, two bodies in one envelope,
#    an old-protocol hello, a hello naming another routing id, a lease, a result of attempt 0,
#    then, holding a real lease, results for another job, a shard out of range, another pass and
#    a later attempt, a replay of a result the honest worker sent, and finally a frame over
#    1 MiB. The coordinator logs each rejection, survives, and the job's counts are exact.
# 2. A fake coordinator (server mode) sends a real worker the same framing garbage, leases that
#    break one rule each (pass 7, attempt 0, no path, a job id with spaces, candidates in pass 1,
#    end before begin), a worker's own messages and a frame over 64 MiB; the worker logs each
#    rejection, survives, scans the good lease that follows, and answers a replayed lease and a
#    re-dispatch with DUPLICATE: the shard is counted once in Redis.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

: "${PS_HOSTILE_PEER:?set PS_HOSTILE_PEER to the hostile_peer helper}"
POISONSCAN_TEST_SLOWDOWN=$SLOW
export POISONSCAN_TEST_SLOWDOWN
gen_integ "$T/corpus"
EXP=$T/corpus.expected.json
for k in coord w1 evil fake; do "$BIN" keygen "$T/$k.key" >"$T/$k.line"; done
cat "$T/w1.line" "$T/evil.line" >"$T/allow"

# --- 1: a hostile worker against a running coordinator -------------------------------------
start_bg coord "$BIN" coordinator --redis "$REDIS_URL" --bind 'tcp://127.0.0.1:*' \
	--endpoint-file "$T/ep" --job hostjob --out "$T/out" --shard-size 256K \
	--lease-timeout "$(secs 3)" --log-level debug \
	--curve-secret-key "$T/coord.key" --curve-allow "$T/allow" "$T/corpus"
wait_for test -s "$T/ep" 30
start_bg w1 "$BIN" worker --connect "$(cat "$T/ep")" --redis "$REDIS_URL" --fault-delay-ms 100 \
	--curve-secret-key "$T/w1.key" --curve-server-key "@$T/coord.pub"
done_some() { [ "$(hget 'poisonscan:{hostjob}:progress' shards_done)" -ge 1 ]; }
wait_for done_some 60
# a shard the honest worker committed, and the attempt it committed under: the replay's target
DONE=$(rcli hkeys 'poisonscan:{hostjob}:commits:p1' | head -n 1)
DONE_ATTEMPT=$(hget 'poisonscan:{hostjob}:commits:p1' "$DONE" | cut -d' ' -f1)
start_bg evil "$PS_HOSTILE_PEER" client "$(cat "$T/ep")" "$T/evil.key" "@$T/coord.pub" \
	"$DONE" "$DONE_ATTEMPT"
assert_eq "$(wait_exit evil 120)" 0 "hostile client exit status"
EVIL=$(sed -n 's/^connected as //p' "$T/evil.log")
log "hostile worker $EVIL: $(grep -c '^sent' "$T/evil.log") bad messages"

assert_eq "$(wait_exit coord 300)" 0 "coordinator exit status"
check_report "$T/out" "$EXP"
check_progress hostjob "$T/out" "$EXP"
assert_eq "$(wait_exit w1 30)" 0 "the honest worker's exit status"
assert_eq "$(grep -c "dropped a bad message from '$EVIL'" "$T/coord.log")" 8 \
	"coordinator rejections of malformed messages"
assert_eq "$(grep -c "from '$EVIL' ignored" "$T/coord.log")" 5 \
	"coordinator rejections of stale and replayed results"

# --- 2: a hostile coordinator against a real worker ----------------------------------------
python3 - "$T/shard.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for i in range(50):
        f.write(json.dumps({"id": "h%d" % i, "text": "an ordinary sentence, number %d" % i}) + "\n")
PY
start_bg fake "$PS_HOSTILE_PEER" server "$T/fake.ep" "$T/fake.key" hjob "$T/shard.jsonl" 50
wait_for test -s "$T/fake.ep" 30
start_bg w2 "$BIN" worker --connect "$(cat "$T/fake.ep")" --redis "$REDIS_URL" \
	--curve-secret-key "$T/w1.key" --curve-server-key "@$T/fake.pub"
assert_eq "$(wait_exit fake 180)" 0 "fake coordinator exit status (its checks of the worker)"
assert_eq "$(wait_exit w2 30)" 0 "worker exit status"
assert_eq "$(grep -c 'dropped a bad message' "$T/w2.log")" 12 "worker rejections"
# the commit script counts a shard's documents in the progress hash, in the step that stores its
# results blob: once, however often the lease came
assert_eq "$(hget 'poisonscan:{hjob}:progress' docs_done)" 50 "documents of the replayed shard"
assert_eq "$(hget 'poisonscan:{hjob}:progress' shards_done)" 1 "commits of the replayed shard"
assert_eq "$(rcli hlen 'poisonscan:{hjob}:blob:p1')" 1 "results blobs of the replayed shard"
assert_eq "$(hget 'poisonscan:{hjob}:commits:p1' 0 | cut -d' ' -f1)" 1 "attempt that committed"
log "PASS"
