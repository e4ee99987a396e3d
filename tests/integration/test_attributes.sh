#!/bin/sh
# test_attributes.sh - Dolma attribute files (--attributes DIR, docs/attributes.md). A scan of
# the integration corpus (plain JSON Lines cut into several shards, multi-frame zstd, gzip, bad
# records, documents without ids), laid out as Dolma's documents/ with a subfolder, writes one
# attribute file per input file at the same path under DIR, in the same container, with one line
# per non-blank line of the documents file: the same ids in the same order, each text's length
# in characters, and exactly the documents of flagged.jsonl flagged (payload_seen as there). The
# report and flagged.jsonl are those of the same scan without --attributes. A coordinator killed
# in the attributes pass resumes it and ends with the same files and report. Refused with exit 3:
# a DIR inside the corpus's folder.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/gen"
EXP=$T/gen.expected.json
DOCS=$T/data/documents
mkdir -p "$DOCS/sub"
# half the files one folder down: the attribute files keep the layout under DIR
find "$T/gen" -type f | sort | awk 'NR % 2 == 0' | while read -r f; do cp -p "$f" "$DOCS/sub/"; done
find "$T/gen" -type f | sort | awk 'NR % 2 == 1' | while read -r f; do cp -p "$f" "$DOCS/"; done
# ids of every kind a mixer meets: numbers, a string of digits, null, none
printf '%s\n' '{"id": 7, "text": "seven"}' '{"id": -2.5e3, "text": "a number id"}' \
	'{"id": "8", "text": "a string id"}' '{"id": null, "text": "a null id"}' \
	'{"text": "no id at all"}' >"$DOCS/sub/ids.jsonl"
ATTRS=$T/data/attributes/poisonscan

scan() {
	run_rc "$BIN" scan --workers 2 --redis "$REDIS_URL" --shard-size 256K "$@" "$DOCS"
}
scan_ok() {
	_st=$(scan "$@")
	[ "$_st" -le 2 ] || fail "scan $* exited $_st: $(tail -n 5 "$T/run.log")"
}

# check_attrs OUT DIR : DIR holds an attribute file for every input file, agreeing with the
# documents files and with OUT/flagged.jsonl
check_attrs() {
	python3 - "$DOCS" "$2" "$1/flagged.jsonl" <<'EOF' || fail "attribute files in $2 do not agree with $1"
import gzip, json, os, subprocess, sys
docs, attrs, flagged_path = sys.argv[1:]
flagged = {}
with open(flagged_path, encoding="utf-8") as f:
    for line in f:
        d = json.loads(line)
        flagged[(d["file"], d["offset"])] = d["payload_seen"]
def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".zst"):
        assert raw[:4] == b"\x28\xb5\x2f\xfd", path + ": not zstd"
        return subprocess.run(["zstd", "-dc"], input=raw, check=True, capture_output=True).stdout
    if path.endswith(".gz"):
        assert raw[:2] == b"\x1f\x8b", path + ": not gzip"
        return gzip.decompress(raw)
    return raw
def reader_doc(line):
    """The document the reader makes of a line: (id, text), or None for a bad record."""
    try:
        d = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(d, dict) or not isinstance(d.get("text"), str):
        return None
    return d.get("id"), d["text"]
rows = seen_flagged = 0
for root, _, names in os.walk(docs):
    for name in names:
        path = os.path.join(root, name)
        apath = os.path.join(attrs, os.path.relpath(path, docs))
        assert os.path.exists(apath), "no attribute file " + apath
        lines = read(apath).decode("utf-8").splitlines()
        off, i = 0, 0
        for line in read(path).split(b"\n"):
            start, off = off, off + len(line) + 1
            if not line.strip():
                continue
            assert i < len(lines), "%s: %d lines, the documents have more" % (apath, len(lines))
            a = json.loads(lines[i])
            i += 1
            fl, ps = a["attributes"]["poisonscan__flagged"], a["attributes"]["poisonscan__payload_seen"]
            doc = reader_doc(line)
            if doc is None:
                assert a["id"] == "" and fl == [[0, 0, 0.0]], "%s line %d: %r" % (apath, i, a)
                continue
            # an id as the documents file has it (a number stays a number: mixers compare JSON
            # values), the reader's "<path>:<offset>" without one
            want_id = "%s:%d" % (path, start) if doc[0] is None else doc[0]
            assert a["id"] == want_id, "%s line %d: id %r, not %r" % (apath, i, a["id"], want_id)
            key = (path, start)
            assert fl == [[0, len(doc[1]), 1.0 if key in flagged else 0.0]], (apath, i, fl)
            assert ps == [[0, len(doc[1]), 1.0 if flagged.get(key) else 0.0]], (apath, i, ps)
            seen_flagged += key in flagged
            rows += 1
        assert i == len(lines), "%s: %d lines for %d documents" % (apath, len(lines), i)
        # the filter a Dolma mixer would run over it keeps the flagged ones
        kept = [l for l in lines if json.loads(l)["attributes"]["poisonscan__flagged"][0][2] >= 1.0]
        assert len(kept) == sum(1 for k in flagged if k[0] == path), apath
assert seen_flagged == len(flagged) > 0, "flagged documents met: %d of %d" % (seen_flagged, len(flagged))
tmp = [n for r, _, ns in os.walk(attrs) for n in ns if ".tmp." in n]
assert not tmp, "temporary files left: %r" % tmp
print("%d documents, %d flagged, every attribute line agrees" % (rows, len(flagged)), file=sys.stderr)
EOF
	log "ok: attribute files in $2 agree with $1"
}

# the same scan without attribute files: the report and flagged.jsonl do not change (the ids
# file adds its documents to the corpus's expected counts)
python3 - "$EXP" "$DOCS/sub/ids.jsonl" <<'EOF'
import json, os, sys
with open(sys.argv[1]) as f:
    d = json.load(f)
with open(sys.argv[2], encoding="utf-8") as f:
    texts = [json.loads(l)["text"] for l in f]
d["files"] += 1
d["documents"] += len(texts)
d["bytes"] += os.path.getsize(sys.argv[2])
d["text_bytes"] += sum(len(t.encode()) for t in texts)
with open(sys.argv[1], "w") as f:
    json.dump(d, f)
EOF
scan_ok --job plain --out "$T/o0"
scan_ok --job attr1 --attributes "$ATTRS" --out "$T/o1"
check_report "$T/o1" "$EXP"
same_report "$T/o0" "$T/o1"
check_attrs "$T/o1" "$ATTRS"
assert_eq "$(json_get "$T/o1/report.json" "d['attributes']")" \
	"{\"dir\": \"$ATTRS\", \"name\": \"poisonscan\"}" "report.json attributes"
assert_eq "$(hget 'poisonscan:{attr1}:progress' state)" done "attr1 state"
# pass 5 leased each file once: its first shard; the files' other shards were never read
NFILES=$(find "$DOCS" -type f | wc -l)
assert_eq "$(rcli hlen 'poisonscan:{attr1}:commits:p5')" "$NFILES" "files written in pass 5"
[ "$(rcli hlen 'poisonscan:{attr1}:commits:p1')" -gt "$NFILES" ] ||
	fail "the corpus should have files of several shards"

# refused before any work: a folder inside the corpus's
assert_eq "$(scan --job bad1 --attributes "$DOCS/attrs" --out "$T/ob")" 3 "--attributes inside the corpus"
grep -qF "is inside the corpus's folder" "$T/run.log" || fail "no reason given: $(cat "$T/run.log")"
[ ! -e "$T/ob/report.json" ] || fail "a refused job wrote a report"

# a coordinator killed in the attributes pass: restarted, it finishes the pass and the job
EP=ipc://$T/coord.ipc
POISONSCAN_HEARTBEAT=$(ms 500)
export POISONSCAN_HEARTBEAT
coordinator() {
	exec "$BIN" coordinator --redis "$REDIS_URL" --bind "$EP" --endpoint-file "$T/ep" --job attr2 \
		--out "$T/o2" --lease-timeout "$(secs 3)" --insecure --shard-size 256K \
		--attributes "$T/attrs2" "$DOCS"
}
start_bg coord1 coordinator
wait_for test -s "$T/ep" 30
for i in 1 2; do
	start_bg "w$i" "$BIN" worker --connect "$EP" --redis "$REDIS_URL" --insecure --fault-delay-ms 300
done
in_attrs_pass() {
	[ "$(hget 'poisonscan:{attr2}:meta' pass)" = 5 ] &&
		[ "$(rcli hlen 'poisonscan:{attr2}:commits:p5')" -ge 1 ]
}
wait_for in_attrs_pass 300
kill -KILL "$(pid_of coord1)"
wait_exit coord1 10 >/dev/null
DONE=$(rcli hlen 'poisonscan:{attr2}:commits:p5')
log "killed the coordinator with $DONE of $NFILES attribute files written"
[ "$DONE" -lt "$NFILES" ] || fail "the attributes pass ended before the kill"
assert_eq "$(hget 'poisonscan:{attr2}:progress' state)" attributes "progress state in pass 5"
for i in 1 2; do
	kill -KILL "$(pid_of "w$i")" 2>/dev/null || true
done
rm -f "$T/ep"
start_bg coord2 coordinator
wait_for test -s "$T/ep" 30
for i in 3 4; do
	start_bg "w$i" "$BIN" worker --connect "$EP" --redis "$REDIS_URL" --insecure
done
assert_eq "$(wait_exit coord2 300)" 0 "restarted coordinator exit"
assert_eq "$(hget 'poisonscan:{attr2}:progress' state)" done "attr2 state"
same_report "$T/o1" "$T/o2"
check_attrs "$T/o2" "$T/attrs2"
log "PASS"
