#!/bin/sh
# test_hostile_corpus.sh - one corpus mixing every hostile input of issue 12 beside clean shards
# that carry a planted attack, through `poisonscan scan`: every damaged file is in report.json's
# error_files with its reason (and offset), no other file is; every clean document is counted;
# the attack is still flagged and the exit status is 1 (docs/cli.md: an alarm is never hidden);
# the Redis progress agrees; the terminal summary names the first ten damaged files, then counts
# the rest. The damaged files (hostile/):
#  - truncated.jsonl.zst, corrupt.jsonl.zst (64 bytes overwritten), badcrc.jsonl.gz: a good frame
#    (counted) then a damaged one (none of its documents counted);
#  - random.jsonl: 2 MiB of random bytes; badutf8.jsonl, malformed.jsonl, notstring.jsonl
#    (`text` a number, null, array, object, bool, missing), nul.jsonl (raw NUL bytes): bad
#    lines between good ones;
#  - longline.jsonl: a 256 MiB line (past --max-line) between two good lines;
#  - unreadable.jsonl (mode 000; as root, the scan runs without CAP_DAC_OVERRIDE and
#    CAP_DAC_READ_SEARCH so that mode 000 binds it), loop.jsonl (a symlink to itself),
#    dangling.jsonl (a symlink to nothing), pipe.jsonl (a FIFO: never opened);
# and, not damaged: empty.jsonl (no documents, no error) and folder.jsonl/ (a directory named
# like a shard: walked, its one file counted).
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/corpus" --no-bad
EXP=$T/corpus.expected.json
H=$T/corpus/hostile
mkdir -p "$H/folder.jsonl"
# what each file holds: good documents, and for a damaged one its errors (null: not known in
# advance), a pattern its first reason matches and the range its first offset falls in
python3 - "$H" >"$T/hostile.json" <<'EOF'
import gzip, json, os, random, re, subprocess, sys
out = sys.argv[1]
rng = random.Random(1212)
words = ("river field garden morning bread letter window station harbour market winter summer "
         "teacher doctor village mountain bridge forest kitchen library").split()
serial = 0
files = {}

def lines(n):
    global serial
    text = []
    for _ in range(n):
        serial += 1
        text.append(json.dumps({"id": "hostile-%d" % serial,
                                "text": " ".join(rng.choice(words) for _ in range(40))}) + "\n")
    return "".join(text).encode()

def put(name, data, docs, errors=0, reason=None, at=(0, 0)):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    files[name] = {"docs": docs, "errors": errors, "reason": reason, "at": at}

def bad_lines(name, good_before, bad, good_after, reason):
    head = lines(good_before)
    put(name, head + b"".join(bad) + lines(good_after), good_before + good_after, len(bad),
        reason, (len(head), len(head) + len(bad[0])))

zstd = lambda d: subprocess.run(["zstd", "-q", "-c"], input=d, capture_output=True,
                                check=True).stdout
N = 400
# two frames (members) each: the first counted, the second damaged; the offset is inside the
# damaged frame's decompressed bytes or just past them (a checksum is checked after the data)
p0, p1 = lines(N), lines(N)
f0, f1 = zstd(p0), zstd(p1)
put("truncated.jsonl.zst", f0 + f1[: len(f1) // 2], N, 1,
    r"truncated zstd frame 1 \(file offset %d\): .*; its \d+ documents are dropped" % len(f0),
    (len(p0), len(p0) + len(p1) + 1))
p0, p1 = lines(N), lines(N)
f0, f1 = zstd(p0), bytearray(zstd(p1))
mid = len(f1) // 2
f1[mid:mid + 64] = bytes(rng.randrange(256) for _ in range(64))
put("corrupt.jsonl.zst", f0 + bytes(f1), N, 1,
    r"corrupt zstd frame 1 \(file offset %d\): .*; its \d+ documents are dropped" % len(f0),
    (len(p0), len(p0) + len(p1) + 1))
p0, p1 = lines(N), lines(N)
m0, m1 = gzip.compress(p0, mtime=0), bytearray(gzip.compress(p1, mtime=0))
m1[-5] ^= 0x5A  # the CRC-32 (the last 8 bytes are CRC-32 then ISIZE)
put("badcrc.jsonl.gz", m0 + bytes(m1), N, 1,
    r"corrupt gzip stream in member 1 \(file offset %d\): incorrect data check; "
    r"its \d+ documents are dropped" % len(m0), (len(p0), len(p0) + len(p1) + 1))
put("random.jsonl", rng.randbytes(2 << 20), 0, None, r".+", (0, 2 << 20))
bad_lines("badutf8.jsonl", 5, [b'{"id":"u1","text":"bad \xff byte"}\n',
                               b'{"id":"u2","text":"overlong \xc0\xaf"}\n',
                               b'{"id":"u3","text":"surrogate \xed\xa0\x80"}\n'], 5,
          r"invalid utf-8")
bad_lines("malformed.jsonl", 4, [b'{"id":"m1","text":"unterminated}\n', b'{"id":"m2","text":"x",}\n',
                                 b'not json at all\n', b'{"id":"m3","text":"x"\n',
                                 b'["text","array"]\n', b'{"id":"m4","text":"bad \\q escape"}\n'],
          4, r"unterminated string")
bad_lines("notstring.jsonl", 3, [b'{"id":"s1","text":5}\n', b'{"id":"s2","text":null}\n',
                                 b'{"id":"s3","text":["a","b"]}\n', b'{"id":"s4","text":{"a":"b"}}\n',
                                 b'{"id":"s5","text":true}\n', b'{"id":"s6","body":"no text"}\n'],
          3, r'text field "text" is not a string')
# raw NULs are errors; an escaped \u0000 is text like any other
bad_lines("nul.jsonl", 3, [b'{"id":"n1","text":"raw \x00 nul"}\n', b'\x00\x00\x00\x00\n',
                           b'{"id":"n2","text":"x"}\x00\n'], 0, r"control character in string")
with open(os.path.join(out, "nul.jsonl"), "ab") as f:
    f.write(json.dumps({"id": "n3", "text": "escaped \u0000 nul is text"}).encode() + b"\n")
files["nul.jsonl"]["docs"] += 1
put("empty.jsonl", b"", 0)
put("folder.jsonl/inner.jsonl", lines(2), 2)
# the line before the 256 MiB one; the shell appends that (head | tr) and the line after it
first = lines(1)
put("longline.jsonl", first, 2, 1, r"line of \d+ bytes is longer than max_line \(67108864\)",
    (len(first), len(first) + 1))
for name, why in (("unreadable.jsonl", "cannot open: Permission denied"),
                  ("loop.jsonl", "cannot resolve link: Too many levels of symbolic links"),
                  ("dangling.jsonl", "cannot resolve link: No such file or directory"),
                  ("pipe.jsonl", r"not a regular file \(a FIFO\)")):
    files[name] = {"docs": 0, "errors": 1, "reason": why, "at": (0, 1), "unreadable": True}
json.dump(files, sys.stdout, indent=1)
EOF
{
	printf '{"id":"long-1","text":"'
	head -c $((256 << 20)) /dev/zero | tr '\0' a
	printf '"}\n%s\n' '{"id":"long-2","text":"the line after the long one"}'
} >>"$H/longline.jsonl"
printf '%s\n' '{"id":"secret","text":"never read"}' >"$H/unreadable.jsonl"
chmod 000 "$H/unreadable.jsonl"
ln -s loop.jsonl "$H/loop.jsonl"
ln -s nowhere.jsonl "$H/dangling.jsonl"
mkfifo "$H/pipe.jsonl"

# root reads a mode-000 file anyway: without these two capabilities it cannot
DROP=""
if [ "$(id -u)" = 0 ]; then
	DROP="setpriv --bounding-set=-dac_override,-dac_read_search"
fi
# shellcheck disable=SC2086 # DROP is a word list
if $DROP cat "$H/unreadable.jsonl" >/dev/null 2>&1; then
	fail "cannot make a file unreadable here (${DROP:-mode 000})"
fi

# shellcheck disable=SC2086
assert_eq "$(run_rc $DROP "$BIN" scan --workers 2 --redis "$REDIS_URL" --job hostile \
	--out "$T/out" "$T/corpus")" 1 "scan of the hostile corpus exit (flagged)"
R=$T/out/report.json
python3 - "$R" "$EXP" "$T/hostile.json" "$T/out/flagged.jsonl" "$TRIGGER" <<'EOF' ||
import json, re, sys
rep = json.load(open(sys.argv[1], encoding="utf-8"))
exp = json.load(open(sys.argv[2], encoding="utf-8"))
files = json.load(open(sys.argv[3], encoding="utf-8"))
flagged = {json.loads(l)["id"] for l in open(sys.argv[4], encoding="utf-8") if l.strip()}
trigger = sys.argv[5]
bad = []
docs = exp["documents"] + sum(f["docs"] for f in files.values())
if rep["corpus"]["documents"] != docs:
    bad.append("corpus.documents %d, want %d" % (rep["corpus"]["documents"], docs))
listed = {e["file"].split("/hostile/", 1)[-1]: e for e in rep["error_files"]}
damaged = {n for n, f in files.items() if f["errors"] != 0}
if set(listed) != damaged or len(rep["error_files"]) != len(damaged):
    bad.append("error_files lists %s, want %s" % (sorted(listed), sorted(damaged)))
for name in sorted(damaged & set(listed)):
    f, e = files[name], listed[name]
    if f["errors"] is not None and e["errors"] != f["errors"]:
        bad.append("%s: %d errors, want %d" % (name, e["errors"], f["errors"]))
    if e["errors"] < 1 or not re.fullmatch(f["reason"], e["first_reason"]):
        bad.append("%s: first reason %r, want /%s/" % (name, e["first_reason"], f["reason"]))
    if not f["at"][0] <= e["first_offset"] < max(f["at"][1], f["at"][0] + 1):
        bad.append("%s: first offset %d not in %s" % (name, e["first_offset"], f["at"]))
    if e.get("unreadable", False) != f.get("unreadable", False):
        bad.append("%s: unreadable %s" % (name, e.get("unreadable")))
total = sum(e["errors"] for e in rep["error_files"])
if rep["errors_total"] != total or rep["corpus"]["errors"] != total:
    bad.append("errors_total %d, corpus.errors %d, error_files sum %d"
               % (rep["errors_total"], rep["corpus"]["errors"], total))
if rep["corpus"]["shards_failed"] != 0:
    bad.append("shards_failed %d" % rep["corpus"]["shards_failed"])
if not any(trigger in t["pattern"] for t in rep["triggers"]):
    bad.append("no trigger with %s" % trigger)
if flagged != set(exp["poisoned"]):
    bad.append("flagged.jsonl: %d missed, %d extra" % (len(set(exp["poisoned"]) - flagged),
                                                       len(flagged - set(exp["poisoned"]))))
for b in bad:
    print(b, file=sys.stderr)
print("%d documents, %d damaged files, %d errors, %d flagged" % (docs, len(damaged), total,
      len(flagged)), file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
	fail "report.json does not list the hostile corpus as it should"
log "ok: report.json counts $(json_get "$R" "d['corpus']['documents']") documents, lists every damaged file and flags the attack"

K='poisonscan:{hostile}:progress'
assert_eq "$(hget "$K" state)" "done" "progress state"
assert_eq "$(hget "$K" docs_done)" "$(json_get "$R" "d['corpus']['documents']")" "progress docs_done"
assert_eq "$(hget "$K" errors)" "$(json_get "$R" "d['errors_total']")" "progress errors"
assert_eq "$(hget "$K" damaged_files)" "$(json_get "$R" "len(d['error_files'])")" "progress damaged_files"

# the terminal summary: the count, the first ten of error_files in its order, then the rest
N_DAMAGED=$(json_get "$R" "len(d['error_files'])")
grep -q "in $N_DAMAGED damaged files, listed in" "$T/run.out" || fail "the summary does not count $N_DAMAGED damaged files"
json_get "$R" "'\n'.join(e['file'] for e in d['error_files'][:10])" >"$T/first10"
grep '^  /' "$T/run.out" | sed 's/: [0-9]* errors*, first: .*//; s/^  //' >"$T/named"
cmp -s "$T/first10" "$T/named" || {
	diff "$T/first10" "$T/named" >&2 || true
	fail "the summary does not name the first ten damaged files"
}
grep -q "^  and $((N_DAMAGED - 10)) more damaged files" "$T/run.out" || fail "the summary does not count the other damaged files"
log "ok: the summary names ten damaged files and counts $((N_DAMAGED - 10)) more"
log "PASS"
