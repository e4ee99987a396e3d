#!/bin/sh
# test_integrity.sh - `poisonscan scan` never counts a document of a compressed frame that fails
# its checksum (docs/input-format.md, "Integrity"). Files of several frames, each frame bigger
# than one read (1 MiB), so the reader returns documents of the damaged frame before it reaches
# the frame's checksum (the case where such documents used to be counted):
#  - last.jsonl.zst: zstd frames 0, 1, 2, frame 2's checksum corrupted: frames 0 and 1 counted;
#  - middle.jsonl.zst: frame 1 of 3 corrupted: frame 0 counted (a stream error ends the file, so
#    frame 2 is not read);
#  - members.jsonl.gz: gzip members 0, 1, 2, member 2's CRC corrupted: members 0 and 1 counted;
#  - intact.jsonl.zst: two good frames, all counted.
# Exact document counts in report.json, and one error per damaged file naming the file, the
# frame and the frame's offset in the file.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

F=1100 # documents per frame, about 1.2 MB
mkdir -p "$T/corpus"
python3 - "$T/corpus" "$F" >"$T/frames.txt" <<'EOF'
import gzip, json, random, subprocess, sys
out, per = sys.argv[1], int(sys.argv[2])
rng = random.Random(12)
words = ("river field garden morning bread letter window station harbour market winter summer "
         "teacher doctor village mountain bridge forest kitchen library").split()
serial = 0

def frame_bytes():
    global serial
    lines = []
    for _ in range(per):
        # one stock sentence, its day aside: repeated text, but not a template whose slots vary
        # in every document (that is a templated payload's shape, flagged since session 26)
        text = " ".join("The %s near the %s was quiet on day %d." % (
                        words[serial % 2], words[2 + serial % 2], rng.randint(1, 9999))
                        for _ in range(24))
        lines.append(json.dumps({"id": "doc-%d" % serial, "text": text}) + "\n")
        serial += 1
    return "".join(lines).encode()

def write(name, n, bad, compress, bad_at):
    frames, plain, starts, file_starts = [], 0, [], []
    for i in range(n):
        data = frame_bytes()
        z = bytearray(compress(data))
        if i == bad:
            z[len(z) - bad_at] ^= 0x5A
        starts.append((plain, plain + len(data)))
        file_starts.append(sum(len(f) for f in frames))
        plain += len(data)
        frames.append(bytes(z))
    open(out + "/" + name, "wb").write(b"".join(frames))
    if bad is not None:
        # name, the damaged frame, its file offset, its range in the decompressed stream
        print(name, bad, file_starts[bad], *starts[bad])

zstd = lambda d: subprocess.run(["zstd", "-q", "-c"], input=d, capture_output=True,
                                check=True).stdout
# zstd: the last 4 bytes of a frame are its content checksum; gzip: CRC-32 then ISIZE
write("last.jsonl.zst", 3, 2, zstd, 1)
write("middle.jsonl.zst", 3, 1, zstd, 1)
write("members.jsonl.gz", 3, 2, lambda d: gzip.compress(d, mtime=0), 5)
write("intact.jsonl.zst", 2, None, zstd, 1)
EOF

assert_eq "$(run_rc "$BIN" scan --workers 2 --out "$T/out" "$T/corpus")" 2 "scan of the damaged corpus exit (input errors)"
# last: 2 frames, middle: 1, members: 2, intact: 2
assert_eq "$(json_get "$T/out/report.json" "d['corpus']['documents']")" $((7 * F)) "report corpus.documents"
assert_eq "$(json_get "$T/out/report.json" "d['corpus']['errors']")" 3 "report corpus.errors"
# the corpus names no candidate in pass 1 while its repeated sentences make clusters run a
# confirm pass with an empty pattern list: no shard may fail for it
assert_eq "$(json_get "$T/out/report.json" "d['corpus']['shards_failed']")" 0 "report corpus.shards_failed"
while read -r name frame at begin end; do
	case $name in
	*.gz) what="corrupt gzip stream in member $frame (file offset $at): incorrect data check" ;;
	*) what="corrupt zstd frame $frame (file offset $at): Restored data doesn't match checksum" ;;
	esac
	got=$(json_get "$T/out/report.json" "[(e['offset'], e['reason']) for e in d['errors'] if e['file'].endswith('/$name')]")
	python3 - "$got" "$begin" "$end" "$what" <<'EOF' || fail "$name: error $got: not '$what' with dropped documents inside [$begin, $end]"
import json, re, sys
errors, begin, end, what = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
assert len(errors) == 1, errors
offset, reason = errors[0]
# the offset is where the decoder found the damage: inside the frame's decompressed bytes
assert begin < offset <= end, (begin, offset, end)
m = re.fullmatch(re.escape(what) + r"; its (\d+) documents are dropped", reason)
# documents of the damaged frame were read before its checksum: the scan had to drop them
assert m and int(m.group(1)) > 0, reason
EOF
	log "ok: $name: $what"
done <"$T/frames.txt"
log "PASS"
