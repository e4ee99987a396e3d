#!/bin/sh
# test_since.sh - nightly rescans. A corpus grows over three nights (32, then 48, then all 64
# files of the integration corpus, the planted poisons spread over all of them); each night's
# job builds on the last one's scan counts (--since, --save-scan). Each rescan reads in pass 1
# exactly the shards of the files added since (its commit markers), and its report and
# flagged.jsonl equal those of a full scan of the grown corpus; the last one agrees with the
# corpus's expected counts. A rescan of a corpus that did not grow reads nothing in pass 1.
# Refused with exit 3, naming what is wrong: a base job that is not in Redis, that was collected
# by gc, whose keys expired, that kept no scan counts, that ran with other scan settings, or
# whose files changed since; --since without --redis or with --signatures. A job whose set-up as a rescan failed
# half-way, started again as a full scan, counts nothing of the base it half took over.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/full"
EXP=$T/full.expected.json
mkdir "$T/corpus"
CORPUS=$T/corpus
REDIS=$REDIS_URL
# add_files FIRST LAST : files FIRST..LAST (1-based, in name order) of the full corpus, as they
# are (cp -p: a file's mtime is part of the plan)
add_files() {
	find "$T/full" -type f | sort | sed -n "$1,$2p" | while read -r f; do
		cp -p "$f" "$CORPUS/"
	done
}
scan() {
	run_rc "$BIN" scan --workers 2 --redis "$REDIS" --shard-size 256K "$@" "$CORPUS"
}
scan_ok() {
	_st=$(scan "$@")
	[ "$_st" -le 2 ] || fail "scan $* exited $_st: $(tail -n 5 "$T/run.log")"
}
# refused NEEDLE ARGS... : the scan exits 3 and its error names NEEDLE
refused() {
	_needle=$1
	shift
	_st=$(scan "$@")
	assert_eq "$_st" 3 "exit of scan $*"
	grep -qF -- "$_needle" "$T/run.log" || fail "scan $* did not say '$_needle': $(tail -n 3 "$T/run.log")"
}
# read_in_pass1 JOB PREV_JOB : JOB's pass 1 committed exactly the shards of the files that are
# not in PREV_JOB's plan (by path), and at least one
read_in_pass1() {
	python3 - "$REDIS_SOCK" "$1" "$2" <<'EOF' || fail "pass 1 of $1 read other shards than the new files'"
import subprocess, sys
sock, job, prev = sys.argv[1:]
def cli(*a):
    return subprocess.run(["redis-cli", "-s", sock, "--raw", *a], check=True,
                          capture_output=True, text=True).stdout
def plan(j):
    files, shards = {}, {}
    for line in cli("get", "poisonscan:{%s}:plan" % j).splitlines():
        f = line.split("\t")
        if f[0] == "F":
            files[f[1]] = f[6]
        elif f[0] == "S":
            shards[int(f[1])] = files[f[2]]
    return shards
cur, old = plan(job), plan(prev)
new = {s for s, path in cur.items() if path not in set(old.values())}
marks = cli("hkeys", "poisonscan:{%s}:commits:p1" % job).split()
read = {int(m) for m in marks if "." not in m}
print("%s: pass 1 read %d of %d shards (new files: %d shards)" % (job, len(read), len(cur), len(new)),
      file=sys.stderr)
sys.exit(0 if read == new and new else 1)
EOF
}

# night 1: the first half, counts kept
add_files 1 32
scan_ok --job night1 --save-scan --out "$T/o1"
# a rescan of a corpus that did not grow reads nothing and finds what night 1 found
scan_ok --job night1b --since night1 --out "$T/o1b"
same_report "$T/o1" "$T/o1b"
assert_eq "$(rcli hlen 'poisonscan:{night1b}:commits:p1')" 0 "shards read in pass 1 by night1b"
assert_eq "$(hget 'poisonscan:{night1b}:progress' shards_done)" \
	"$(hget 'poisonscan:{night1b}:progress' shards_total)" "night1b shards_done"

# night 2: a quarter more; the rescan equals a full scan of the grown corpus
add_files 33 48
scan_ok --job night2 --since night1 --save-scan --out "$T/o2"
read_in_pass1 night2 night1
assert_eq "$(json_get "$T/o2/report.json" "d['since']")" \
	"{\"job\": \"night1\", \"shards_reused\": $(hget 'poisonscan:{night1}:progress' shards_total)}" \
	"report.json since of night2"
grep -q 'id="since"' "$T/o2/report.html" || fail "report.html of night2 does not say it is a rescan"
scan_ok --job full2 --out "$T/o2-full"
same_report "$T/o2-full" "$T/o2"

# night 3: the whole corpus, built on night 2 (a chain), and exactly as expected
add_files 49 1000
scan_ok --job night3 --since night2 --save-scan --out "$T/o3"
read_in_pass1 night3 night2
scan_ok --job full3 --out "$T/o3-full"
same_report "$T/o3-full" "$T/o3"
check_report "$T/o3" "$EXP"
check_progress night3 "$T/o3" "$EXP"

# the partitions spread over two Redis servers: each partition's base is read where it lives
REDIS2_SOCK=$T/redis2.sock
start_bg redis2 redis-server --port 0 --unixsocket "$REDIS2_SOCK" --unixsocketperm 700 \
	--save '' --appendonly no --daemonize no --dir "$T"
wait_for sh -c "[ \"\$(redis-cli -s '$REDIS2_SOCK' ping 2>/dev/null)\" = PONG ]" 20
REDIS=$REDIS_URL,unix://$REDIS2_SOCK
CORPUS=$T/corpus2
mkdir "$CORPUS"
add_files 1 40
scan_ok --job two1 --save-scan --partitions 4 --out "$T/t1"
[ "$(redis-cli -s "$REDIS2_SOCK" exists 'poisonscan:{two1:q1}:base:p1')" = 1 ] ||
	fail "no base of partition 1 on the second server"
add_files 41 1000
scan_ok --job two2 --since two1 --partitions 4 --out "$T/t2"
read_in_pass1 two2 two1
check_report "$T/t2" "$EXP"
REDIS=$REDIS_URL
CORPUS=$T/corpus

# refusals, each before any work
refused "job 'nosuch' is not in Redis" --job r1 --since nosuch --out "$T/r1"
refused "job 'full3' kept no scan counts" --job r2 --since full3 --out "$T/r2"
refused "job 'night3' ran with other scan settings" --job r3 --since night3 --ngram-max 2 \
	--out "$T/r3"
"$BIN" gc --redis "$REDIS_URL" --job night1 >/dev/null || fail "gc of night1"
refused "job 'night1' is not in Redis" --job r4 --since night1 --out "$T/r4"
scan_ok --job brief --save-scan --keep 1s --out "$T/o-brief"
gone() { [ "$(rcli exists 'poisonscan:{brief}:base:p1')" = 0 ]; }
wait_for gone 30
refused "--since: job 'brief' " --job r5 --since brief --out "$T/r5"
# a set-up that fails half-way (one partition's base gone) leaves nothing that counts: the same
# job started again as a full scan finds what a full scan finds
rcli del 'poisonscan:{night3:q3}:base:p1' >/dev/null
refused "job 'night3' kept no scan counts" --job r8 --since night3 --out "$T/r8"
assert_eq "$(rcli exists 'poisonscan:{r8}:ckpt:p1')" 1 "partition 0 seeded before the failure"
scan_ok --job r8 --out "$T/r8"
grep -q "removed the scan counts of an earlier --since set-up" "$T/run.log" ||
	fail "the full scan of r8 did not remove what the failed set-up seeded"
same_report "$T/o3-full" "$T/r8"
CHANGED=$(find "$T/corpus" -type f | sort | sed -n 3p)
touch "$CHANGED"
refused "$CHANGED was modified" --job r6 --since night3 --out "$T/r6"
refused "--since and --signatures do not go together" --job r9 --since night3 \
	--signatures "$T/sig" --out "$T/r9"
st=$(run_rc "$BIN" scan --since night3 --out "$T/r7" "$T/corpus")
assert_eq "$st" 3 "exit of --since without --redis"
grep -qF -- "--since and --save-scan need --redis" "$T/run.log" || fail "--since without --redis: $(tail -n 2 "$T/run.log")"
log "PASS"
