#!/bin/sh
# test_redis_acl.sh - the Redis ACLs of docs/redis-keys.md, on Debian's redis-server 7.0, as
# written there: a coordinator and two workers each logged in as their job's users (passwords
# from a file and from the environment) complete a job with exact counts; the confined worker
# user cannot read or write another job's keys, directly or from a script, nor run admin
# commands, but reaches the job's future partition keys; the operator user reads every job
# (poisonscan status) and writes nothing; the worker user cannot run the coordinator. `scan`
# hands its user and password to its workers, and stops when none of them can commit. No password
# reaches a log or a command line.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/corpus"
EXP=$T/corpus.expected.json
secret() { od -An -tx1 -N12 /dev/urandom | tr -d ' \n'; }
WPW=$(secret)
CPW=$(secret)
OPW=$(secret)
SPW=$(secret)
umask 077
printf '%s\n' "$CPW" >"$T/coord.pw"
printf '%s\n' "$WPW" >"$T/worker.pw"
printf '%s\n' "$SPW" >"$T/scan.pw"

# the ACL lines of the docs, for job $1, with the passwords above
sed -n 's/^\(ACL SETUSER .*\)$/\1/p' "$PS_SOURCE_DIR/docs/redis-keys.md" >"$T/acl.txt"
assert_eq "$(wc -l <"$T/acl.txt")" 3 "ACL lines in docs/redis-keys.md"
apply_acl() {
	sed -e "s/JOB/$1/g" -e "s/WORKER_PASSWORD/$WPW/" -e "s/COORD_PASSWORD/$CPW/" \
		-e "s/OPERATOR_PASSWORD/$OPW/" "$T/acl.txt" >"$T/acl-$1.txt"
	while read -r _line; do
		set -f
		# shellcheck disable=SC2086 # the line is a word list, patterns included
		_r=$(rcli $_line)
		set +f
		[ "$_r" = OK ] || fail "ACL line refused: $_r"
	done <"$T/acl-$1.txt"
}
apply_acl acljob
# as USER PASSWORD CMD... : redis-cli logged in as USER (password through the environment)
as() {
	_u=$1
	_p=$2
	shift 2
	REDISCLI_AUTH=$_p redis-cli -s "$REDIS_SOCK" --user "$_u" --raw "$@" 2>&1
}
denied() { as "$@" | grep -q -e NOPERM -e "can't access"; }
rcli hset 'poisonscan:{otherjob}:progress' state done workers 7 >/dev/null

# --- a job run by its users ---------------------------------------------------------------
start_bg coord "$BIN" coordinator --redis "$REDIS_URL" --redis-user pscoord-acljob \
	--redis-password-file "$T/coord.pw" --bind "ipc://$T/acl.ipc" --endpoint-file "$T/ep" \
	--job acljob --out "$T/out" --shard-size 256K "$T/corpus"
wait_for test -s "$T/ep" 30
start_bg w1 "$BIN" worker --connect "$(cat "$T/ep")" --redis "$REDIS_URL" \
	--redis-user psworker-acljob --redis-password-file "$T/worker.pw"
POISONSCAN_REDIS_USER=psworker-acljob
POISONSCAN_REDIS_PASSWORD=$WPW
export POISONSCAN_REDIS_USER POISONSCAN_REDIS_PASSWORD
start_bg w2 "$BIN" worker --connect "$(cat "$T/ep")" --redis "$REDIS_URL"
unset POISONSCAN_REDIS_USER POISONSCAN_REDIS_PASSWORD
assert_eq "$(wait_exit coord 300)" 0 "coordinator exit status"
check_report "$T/out" "$EXP"
check_progress acljob "$T/out" "$EXP"
for w in w1 w2; do assert_eq "$(wait_exit "$w" 30)" 0 "$w exit status"; done

# --- what the worker user may not do -------------------------------------------------------
W="psworker-acljob $WPW"
# shellcheck disable=SC2086 # $W is user and password
{
	denied $W hget 'poisonscan:{otherjob}:progress' state || fail "worker user read another job"
	denied $W hset 'poisonscan:{otherjob}:progress' workers 0 || fail "worker user wrote another job"
	denied $W hset 'poisonscan:{acljob2}:progress' x 1 || fail "worker user wrote job acljob2"
	denied $W hset 'poisonscan:{acljob}x:progress' x 1 || fail "worker user wrote a look-alike key"
	denied $W eval "return redis.call('HSET', KEYS[1], 'workers', '0')" 1 \
		'poisonscan:{otherjob}:progress' || fail "worker user wrote another job from a script"
	denied $W eval "return redis.call('HSET', 'poisonscan:{otherjob}:progress', 'workers', '0')" 0 ||
		fail "worker user wrote an undeclared key of another job from a script"
	for c in "keys *" "flushall" "config get *" "acl list" "del poisonscan:{acljob}:progress"; do
		set -f
		denied $W $c || fail "worker user may run: $c"
		set +f
	done
	assert_eq "$(as $W hset 'poisonscan:{acljob:p3}:totals' acl 1)" 1 \
		"worker user writes a partition key of its job"
}
assert_eq "$(hget 'poisonscan:{otherjob}:progress' workers)" 7 "the other job's key, untouched"

# --- the worker user cannot lead the job; the operator reads and writes nothing ------------
assert_eq "$(run_rc "$BIN" coordinator --redis "$REDIS_URL" --redis-user psworker-acljob \
	--redis-password-file "$T/worker.pw" --bind "ipc://$T/acl2.ipc" --job acljob \
	--out "$T/out2" --redis-retry "$(secs 2)" "$T/corpus")" 4 "coordinator as the worker user"
grep -q NOPERM "$T/run.log" || fail "no NOPERM in the refused coordinator's log"
POISONSCAN_REDIS_PASSWORD=$OPW
export POISONSCAN_REDIS_PASSWORD
assert_eq "$("$BIN" status --redis "$REDIS_URL" --redis-user psoperator --job acljob --json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" done "operator status"
unset POISONSCAN_REDIS_PASSWORD
assert_eq "$(as psoperator "$OPW" hget 'poisonscan:{otherjob}:progress' state)" done \
	"operator reads any job"
denied psoperator "$OPW" hset 'poisonscan:{acljob}:progress' state x || fail "operator wrote"
denied psoperator "$OPW" del 'poisonscan:{acljob}:progress' || fail "operator deleted"

# --- scan hands its Redis user and password to its own workers ------------------------------
rcli acl setuser psscan-aclscan on ">$SPW" resetkeys '~poisonscan:{aclscan}:*' \
	'~poisonscan:{aclscan:*' resetchannels -@all +eval +multi +exec +get +set +del +exists +pexpire \
	+hget +hset +hdel +hmget +hincrby +hscan +hsetnx +ping >/dev/null
assert_eq "$(run_rc "$BIN" scan --redis "$REDIS_URL" --redis-user psscan-aclscan \
	--redis-password-file "$T/scan.pw" --job aclscan --workers 2 --out "$T/out-scan" \
	"$T/corpus")" 1 "scan exit status (poisoning flagged)"
check_report "$T/out-scan" "$EXP"

# with a user that lacks the workers' commands every worker fails its first commit and exits:
# scan stops (exit 4) rather than wait for them for ever
rcli acl setuser psscan-aclbad on ">$SPW" resetkeys '~poisonscan:{aclbad}:*' \
	'~poisonscan:{aclbad:*' resetchannels -@all +eval +multi +exec +get +set +del +exists \
	+pexpire +hget +hset +hdel +hmget +hincrby +hscan +ping >/dev/null
assert_eq "$(run_rc "$BIN" scan --redis "$REDIS_URL" --redis-user psscan-aclbad \
	--redis-password-file "$T/scan.pw" --job aclbad --workers 2 --out "$T/out-bad" \
	"$T/corpus")" 4 "scan exit status when its workers cannot commit"
grep -q "all 2 workers exited" "$T/run.log" || fail "scan did not say why it stopped"

# --- passwords stay out of command lines and logs ------------------------------------------
assert_eq "$(run_rc "$BIN" status --redis 'redis://psoperator:not-this-one@127.0.0.1:1' \
	--job acljob)" 3 "status with a password in --redis"
! grep -q not-this-one "$T/run.log" || fail "the refused password was printed"
for pw in "$WPW" "$CPW" "$OPW" "$SPW"; do
	! grep -rqF -- "$pw" "$T"/*.log "$T"/run.out || fail "a password is in a log"
done
log "ok: no password in any log"
log "PASS"
