#!/bin/sh
# test_curve_wire.sh - the coordinator-worker traffic is encrypted: a TCP relay between the
# worker and the coordinator records every byte of a CURVE run, and none of the corpus's file
# names, the trigger text or the job id appear in it. The same run with --insecure shows all of
# them in the recording, so the search is known to work.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/corpus"
EXP=$T/corpus.expected.json
for k in coord w1; do "$BIN" keygen "$T/$k.key" >>"$T/allow"; done

# run_via_relay JOB SECURITY... : a coordinator for JOB, one worker that reaches it through the
# relay, the bytes in $T/JOB.rec; the coordinator's exit status must be 0 and the report exact.
run_via_relay() {
	_job=$1
	shift
	start_bg "coord-$_job" "$BIN" coordinator --redis "$REDIS_URL" --bind 'tcp://127.0.0.1:*' \
		--endpoint-file "$T/$_job.ep" --job "$_job" --out "$T/out-$_job" --shard-size 256K \
		$COORD_SECURITY "$T/corpus" # shellcheck disable=SC2086
	wait_for test -s "$T/$_job.ep" 30
	_target=$(sed 's|^tcp://||' "$T/$_job.ep")
	start_bg "relay-$_job" python3 "$PS_SOURCE_DIR/tests/integration/relay.py" "$T/$_job.port" \
		"$_target" "$T/$_job.rec"
	wait_for test -s "$T/$_job.port" 30
	start_bg "w-$_job" "$BIN" worker --connect "tcp://127.0.0.1:$(cat "$T/$_job.port")" \
		--redis "$REDIS_URL" "$@"
	assert_eq "$(wait_exit "coord-$_job" 300)" 0 "coordinator exit status ($_job)"
	assert_eq "$(wait_exit "w-$_job" 30)" 0 "worker exit status ($_job)"
	check_report "$T/out-$_job" "$EXP"
	kill "$(pid_of "relay-$_job")"
}

# secrets_seen RECORD JOB : every secret the wire could leak that RECORD holds, one a line
secrets_seen() {
	python3 - "$1" "$2" "$TRIGGER" "$T/corpus" <<'PY'
import os, sys
rec, job, trigger, corpus = sys.argv[1:5]
data = open(rec, "rb").read()
names = sorted(os.listdir(corpus))
assert len(names) > 10 and len(data) > 4096, (len(names), len(data))
for s in [job, trigger] + names:
    if s.encode() in data:
        print(s)
PY
}

COORD_SECURITY="--curve-secret-key $T/coord.key --curve-allow $T/allow"
run_via_relay wirejob-curve-7f3a --curve-secret-key "$T/w1.key" --curve-server-key "@$T/coord.pub"
secrets_seen "$T/wirejob-curve-7f3a.rec" wirejob-curve-7f3a >"$T/seen-curve" ||
	fail "cannot search the CURVE recording"
log "CURVE recording: $(wc -c <"$T/wirejob-curve-7f3a.rec") bytes"
[ ! -s "$T/seen-curve" ] || fail "the CURVE recording shows: $(head -n 5 "$T/seen-curve" | tr '\n' ' ')"
log "ok: the CURVE recording holds no file name, no '$TRIGGER', no job id"

COORD_SECURITY=--insecure
run_via_relay wirejob-plain-9c2e --insecure
secrets_seen "$T/wirejob-plain-9c2e.rec" wirejob-plain-9c2e >"$T/seen-plain" ||
	fail "cannot search the plain recording"
N_FILES=$(find "$T/corpus" -type f | wc -l)
assert_eq "$(wc -l <"$T/seen-plain")" "$((N_FILES + 2))" \
	"secrets in the plain-text recording (job id, '$TRIGGER', every file name)"

# no log line carries a secret key
for k in coord w1; do
	SECRET=$(grep -v '^#' "$T/$k.key")
	! grep -rF -- "$SECRET" "$T"/*.log >/dev/null || fail "the secret key of $k is in a log"
done
log "ok: no secret key in any log"
log "PASS"
