#!/bin/sh
# test_curve_auth.sh - only listed workers get leases. A CURVE coordinator whose allow file does
# not list them refuses a worker with an unknown key, a plain-text worker and a worker that
# trusts another server key: the job does not move (no lease, no attempt, no joined worker) while
# they knock. Adding one worker's public key to the allow file and sending SIGHUP lets that
# worker, still running, in; it completes the job with exact counts, and the others never join.
# `scan` admits its own workers by the keys it made for the run.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/corpus"
EXP=$T/corpus.expected.json
for k in coord good bad other; do "$BIN" keygen "$T/$k.key" >"$T/$k.line"; done
pub() { cut -d' ' -f1 "$T/$1.line"; }
printf '# workers admitted to job authjob\n%s\n' "$(cat "$T/other.line")" >"$T/allow"

start_bg coord "$BIN" coordinator --redis "$REDIS_URL" --bind 'tcp://127.0.0.1:*' \
	--endpoint-file "$T/ep" --job authjob --out "$T/out" --shard-size 256K \
	--curve-secret-key "$T/coord.key" --curve-allow "$T/allow" "$T/corpus"
wait_for test -s "$T/ep" 30
EP=$(cat "$T/ep")
start_bg w-bad "$BIN" worker --connect "$EP" --redis "$REDIS_URL" \
	--curve-secret-key "$T/bad.key" --curve-server-key "@$T/coord.pub"
start_bg w-plain "$BIN" worker --connect "$EP" --redis "$REDIS_URL" --insecure
start_bg w-wrongserver "$BIN" worker --connect "$EP" --redis "$REDIS_URL" \
	--curve-secret-key "$T/good.key" --curve-server-key "$(pub other)"
start_bg w-good "$BIN" worker --connect "$EP" --redis "$REDIS_URL" \
	--curve-secret-key "$T/good.key" --curve-server-key "@$T/coord.pub"

# refused N KEY : the coordinator has refused KEY at least N times
refused() { [ "$(grep -cF "refused CURVE key $2 " "$T/coord.log")" -ge "$1" ]; }
wait_for refused 3 "$(pub bad)" 60
wait_for refused 3 "$(pub good)" 60
K='poisonscan:{authjob}'
assert_eq "$(hget "$K:progress" shards_done)" 0 "shards done while only unlisted workers knock"
assert_eq "$(rcli hlen "$K:leases")" 0 "leases given while only unlisted workers knock"
assert_eq "$(rcli hlen "$K:attempts:p1")" 0 "shards dispatched while only unlisted workers knock"
assert_eq "$(grep -c 'joined' "$T/coord.log" || true)" 0 "workers joined before the reload"
for w in w-bad w-plain w-wrongserver w-good; do
	! exited "$w" || fail "$w exited early (status $(cat "$T/$w.rc"))"
done

cat "$T/good.line" >>"$T/allow"
kill -HUP "$(pid_of coord)"
wait_for grep -q "reloaded '$T/allow': 2 keys" "$T/coord.log" 30
assert_eq "$(wait_exit coord 300)" 0 "coordinator exit status"
check_report "$T/out" "$EXP"
check_progress authjob "$T/out" "$EXP"
assert_eq "$(wait_exit w-good 30)" 0 "the listed worker's exit status"

# every worker that joined was the listed one; only its key was ever admitted
GOOD_PID=$(pid_of w-good)
grep -o 'joined (pid [0-9]*' "$T/coord.log" | awk '{ print $3 }' | sort -u >"$T/joined"
assert_eq "$(cat "$T/joined")" "$GOOD_PID" "pids of the workers that joined"
assert_eq "$(grep 'admitted CURVE key' "$T/coord.log" | grep -vc "admitted CURVE key 'good'" || true)" \
	0 "admissions of other keys"
# scan, on one machine, runs the same way on keys it makes for the run
assert_eq "$(run_rc "$BIN" scan --workers 2 --log-level info --out "$T/out-scan" "$T/corpus")" 1 \
	"scan exit status (poisoning flagged)"
check_report "$T/out-scan" "$EXP"
for n in 1 2; do
	grep -q "admitted CURVE key 'local-$n'" "$T/run.log" || fail "scan's worker $n was not admitted by key"
done
for k in coord good bad other; do
	SECRET=$(grep -v '^#' "$T/$k.key")
	! grep -rF -- "$SECRET" "$T"/*.log >/dev/null || fail "the secret key of $k is in a log"
done
log "ok: no secret key in any log"
log "PASS"
