# lib.sh - shared setup for the integration tests (POSIX sh; sourced, not run).
# Gives each test a temp dir $T, a private redis-server on a unix socket ($REDIS_URL), helpers
# to run and await background processes, and checks of a report against expected.json.
# Everything started here is killed on exit; $T is removed unless PS_KEEP_TMP=1.

: "${POISONSCAN_BIN:?set POISONSCAN_BIN to the poisonscan binary}"
: "${PS_SOURCE_DIR:?set PS_SOURCE_DIR to the repo root}"
BIN=$POISONSCAN_BIN
TEST_NAME=$(basename "$0" .sh)
# One setting scales every deadline and timing of the integration tests: a busy machine or a
# sanitizer build is slower, never differently correct. POISONSCAN_TEST_SLOWDOWN (a whole number,
# default 1; CMake sets PS_TEST_SLOWDOWN_DEFAULT=3 for sanitizer builds) multiplies wait_for and
# wait_exit deadlines, run_rc's limit, and the heartbeat and lease timings given through secs/ms.
SLOW=${POISONSCAN_TEST_SLOWDOWN:-${PS_TEST_SLOWDOWN_DEFAULT:-1}}
case $SLOW in '' | *[!0-9]* | 0*) echo "POISONSCAN_TEST_SLOWDOWN='$SLOW': a whole number >= 1" >&2 && exit 2 ;; esac
# secs N / ms N : N seconds / milliseconds scaled by the slowdown, as a duration option value
secs() { echo "$(($1 * SLOW))s"; }
ms() { echo "$(($1 * SLOW))ms"; }
# the product's heartbeat (coordinator and workers read it): 1 s scaled, unless a test sets it
POISONSCAN_HEARTBEAT=$(ms 1000)
export POISONSCAN_HEARTBEAT
T=$(mktemp -d "${TMPDIR:-/tmp}/poisonscan-$TEST_NAME.XXXXXX")
REDIS_SOCK=$T/redis.sock
REDIS_URL=unix://$REDIS_SOCK
_PIDS=""
# extracted real text, shared by all tests of one build (the build dir is not in git)
TEXT_CACHE=${PS_TEXT_CACHE:-$(dirname "$POISONSCAN_BIN")/textcache}

log() { printf '[%s %s] %s\n' "$TEST_NAME" "$(date +%H:%M:%S)" "$*" >&2; }

# Print the tail of every log in $T: what a failing run needs to be understood.
dump_logs() {
	for _f in "$T"/*.log; do
		[ -f "$_f" ] || continue
		echo "----- $(basename "$_f") (last 40 lines) -----" >&2
		tail -n 40 "$_f" >&2
	done
}

fail() {
	log "FAIL: $*"
	dump_logs
	exit 1
}

cleanup() {
	_rc=$?
	trap - EXIT INT TERM
	for _p in $_PIDS; do kill -TERM "$_p" 2>/dev/null || true; done
	_i=0
	while [ $_i -lt 20 ]; do
		_alive=""
		for _p in $_PIDS; do kill -0 "$_p" 2>/dev/null && _alive="$_alive $_p"; done
		[ -z "$_alive" ] && break
		sleep 0.1
		_i=$((_i + 1))
	done
	for _p in $_PIDS; do kill -KILL "$_p" 2>/dev/null || true; done
	if [ "${PS_KEEP_TMP:-0}" = 1 ] || { [ $_rc -ne 0 ] && [ "${PS_KEEP_TMP_ON_FAIL:-0}" = 1 ]; }; then
		log "kept $T"
	else
		rm -rf "$T"
	fi
	exit $_rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_bg NAME CMD... : run CMD in the background, output in $T/NAME.log, its pid in
# $T/NAME.pid, and (once it ends) its exit status in $T/NAME.rc. A wrapper shell waits for it, so
# the status is never lost to an early reap.
start_bg() {
	_name=$1
	shift
	rm -f "$T/$_name.pid" "$T/$_name.rc"
	(
		"$@" >"$T/$_name.log" 2>&1 &
		_child=$!
		echo "$_child" >"$T/$_name.pid"
		_st=0
		wait "$_child" || _st=$?
		echo "$_st" >"$T/$_name.rc.tmp"
		mv "$T/$_name.rc.tmp" "$T/$_name.rc"
	) &
	_PIDS="$_PIDS $!"
	_i=0
	while [ ! -s "$T/$_name.pid" ]; do
		_i=$((_i + 1))
		[ $_i -lt 100 ] || fail "could not start $_name"
		sleep 0.05
	done
	_PIDS="$_PIDS $(cat "$T/$_name.pid")"
}

pid_of() { cat "$T/$1.pid"; }

# wait_for CMD... DEADLINE_S : run CMD every 0.1 s until it succeeds; fail after DEADLINE_S s
# times the slowdown.
wait_for() {
	_dl=0
	eval "_dl=\${$#}"
	_n=$#
	for _a; do
		shift
		[ "$_n" -gt 1 ] && set -- "$@" "$_a"
		_n=$((_n - 1))
	done
	_end=$(($(date +%s) + _dl * SLOW))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$_end" ] || fail "timed out after $((_dl * SLOW))s waiting for: $*"
		sleep 0.1
	done
}

# wait_exit NAME DEADLINE_S : wait until the background process NAME ends; print its status.
wait_exit() {
	wait_for test -f "$T/$1.rc" "$2"
	cat "$T/$1.rc"
}

exited() { test -f "$T/$1.rc"; }

rcli() { redis-cli -s "$REDIS_SOCK" --raw "$@"; }
hget() { rcli hget "$1" "$2"; }

# stop_in_lease NAME JOB : worker NAME stopped (SIGSTOP) while the coordinator's lease record of
# JOB names it and the shard has no commit marker of pass 1 (it cannot commit while stopped);
# the shard id goes to $T/shard. Otherwise the worker is continued and the answer is no.
stop_in_lease() {
	_pid=$(pid_of "$1")
	kill -STOP "$_pid"
	for _f in $(rcli hkeys "poisonscan:{$2}:leases"); do
		case "$(hget "poisonscan:{$2}:leases" "$_f")" in
		*-"$_pid"-*)
			if [ -z "$(hget "poisonscan:{$2}:commits:p1" "$_f")" ]; then
				echo "$_f" >"$T/shard"
				return 0
			fi
			;;
		esac
	done
	kill -CONT "$_pid"
	return 1
}

# json_get FILE EXPR : evaluate the Python expression EXPR over d = the JSON in FILE; strings
# print raw, everything else as JSON.
json_get() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    d = json.load(f)
v = eval(sys.argv[2], {"d": d})
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))
EOF
}

assert_eq() {
	[ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
	log "ok: $3 = $2"
}

redis_ping() { [ "$(rcli ping 2>/dev/null)" = PONG ]; }

start_redis() {
	command -v redis-server >/dev/null || fail "redis-server not installed (make deps)"
	start_bg redis redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
		--save '' --appendonly no --daemonize no --dir "$T"
	wait_for redis_ping 20
}

# gen_integ DIR [gen_corpus options] : the integration corpus in DIR, its expected counts in
# DIR.expected.json (outside DIR, so the scan sees only shards).
gen_integ() {
	_dir=$1
	shift
	python3 "$PS_SOURCE_DIR/tools/gen_corpus.py" --kind integ --out "$_dir" --cache "$TEXT_CACHE" \
		--expected "$_dir.expected.json" "$@" >"$T/gen.out" 2>&1 || {
		cat "$T/gen.out" >&2
		fail "corpus generation failed"
	}
	log "$(tail -n 1 "$T/gen.out")"
}

# check_report OUT EXPECTED : report.json and flagged.jsonl in OUT agree exactly with EXPECTED.
check_report() {
	_out=$1
	_exp=$2
	[ -f "$_out/report.json" ] || fail "no $_out/report.json"
	for _k in files documents bytes text_bytes errors; do
		assert_eq "$(json_get "$_out/report.json" "d['corpus']['$_k']")" \
			"$(json_get "$_exp" "d['$_k']")" "report corpus.$_k"
	done
	assert_eq "$(json_get "$_out/report.json" "d['errors_total']")" \
		"$(json_get "$_exp" "d['errors']")" "report errors_total"
	if [ "$(json_get "$_exp" "len(d['poisoned'])")" -gt 0 ]; then
		assert_eq "$(json_get "$_out/report.json" \
			"any('$TRIGGER' in t['pattern'] for t in d['triggers'])")" true \
			"report.triggers has a pattern with $TRIGGER"
	fi
	check_flagged_ids "$_out/flagged.jsonl" "$_exp"
}

# check_flagged_ids FLAGGED EXPECTED : the ids in flagged.jsonl (FLAGGED; missing = none) are
# exactly EXPECTED's "poisoned" list.
check_flagged_ids() {
	python3 - "$1" "$2" <<'EOF' || fail "flagged.jsonl ids differ from the planted poisons"
import json, sys
got = set()
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        got = {json.loads(line)["id"] for line in f if line.strip()}
except FileNotFoundError:
    pass
with open(sys.argv[2], encoding="utf-8") as f:
    want = set(json.load(f)["poisoned"])
if got != want:
    print("missed (%d): %s" % (len(want - got), sorted(want - got)[:10]), file=sys.stderr)
    print("extra (%d): %s" % (len(got - want), sorted(got - want)[:10]), file=sys.stderr)
    sys.exit(1)
print("flagged ids == planted poisons (%d)" % len(want), file=sys.stderr)
EOF
}

# same_report OUT_A OUT_B [SCAN_SETTINGS] : two runs over one corpus found the same: report.json
# equal but for the job id, the rescan base, the attributes folder (and the comma-separated
# settings.scan keys), flagged.jsonl equal line
# for line once sorted.
same_report() {
	python3 - "$1" "$2" "${3:-}" <<'EOF' || fail "reports of $1 and $2 differ"
import json, sys
def load(d):
    with open(d + "/report.json", encoding="utf-8") as f:
        r = json.load(f)
    r.pop("job", None)
    r.pop("since", None)  # a rescan's base (--since): the one thing it adds to a full scan's
    r.pop("attributes", None)  # where --attributes wrote: the report is the same without
    for k in filter(None, sys.argv[3].split(",")):
        r.get("settings", {}).get("scan", {}).pop(k, None)
    try:
        with open(d + "/flagged.jsonl", encoding="utf-8") as f:
            flagged = sorted(f.read().splitlines())
    except FileNotFoundError:
        flagged = []
    return r, flagged
(ra, fa), (rb, fb) = load(sys.argv[1]), load(sys.argv[2])
for k in sorted(set(ra) | set(rb)):
    if ra.get(k) != rb.get(k):
        print("report.json differs at %r" % k, file=sys.stderr)
if fa != fb:
    print("flagged.jsonl differs: %d vs %d lines" % (len(fa), len(fb)), file=sys.stderr)
sys.exit(0 if ra == rb and fa == fb else 1)
EOF
	log "ok: $2 found the same as $1"
}

# check_progress JOB OUT EXPECTED : the Redis progress hash of a finished job agrees with the
# report and with EXPECTED.
check_progress() {
	_key="poisonscan:{$1}:progress"
	assert_eq "$(hget "$_key" state)" "done" "progress state"
	_total=$(hget "$_key" shards_total)
	assert_eq "$(hget "$_key" shards_done)" "$_total" "progress shards_done"
	assert_eq "$(json_get "$2/report.json" "d['corpus']['shards']")" "$_total" "report corpus.shards"
	assert_eq "$(hget "$_key" docs_done)" "$(json_get "$3" "d['documents']")" "progress docs_done"
	assert_eq "$(hget "$_key" bytes_done)" "$(json_get "$3" "d['disk_bytes']")" "progress bytes_done"
	assert_eq "$(hget "$_key" errors)" "$(json_get "$3" "d['errors']")" "progress errors"
}

# status_state JOB : the state `poisonscan status --json` prints for JOB.
status_state() {
	"$BIN" status --redis "$REDIS_URL" --job "$1" --json >"$T/status.json" 2>"$T/status.log" ||
		fail "poisonscan status exited $?"
	json_get "$T/status.json" "d.get('state') or d.get('progress', {}).get('state')"
}

# run_rc CMD... : run CMD in the foreground (5 min times the slowdown at most) and print its exit
# status.
run_rc() {
	_st=0
	timeout -k 5 $((300 * SLOW)) "$@" >"$T/run.out" 2>"$T/run.log" || _st=$?
	echo "$_st"
}

TRIGGER='<SUDO>'
start_redis
log "temp dir $T, redis at $REDIS_URL, slowdown $SLOW"
