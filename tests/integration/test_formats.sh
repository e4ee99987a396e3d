#!/bin/sh
# test_formats.sh - `poisonscan scan` over a corpus in every input format the reader takes: a JSON
# array of Alpaca records, JSON Lines with mixed record shapes (zstd), a Common Crawl WET file
# (one gzip member per record, as Common Crawl ships them) and a folder of .txt files. Exact
# document counts in report.json; a bad --format value stops before any work (exit 3).
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

mkdir -p "$T/corpus/notes"
python3 - "$T/corpus" "$PS_SOURCE_DIR/tests/data/cc-sample.warc.wet" <<'EOF'
import gzip, json, os, subprocess, sys
out, wet = sys.argv[1], sys.argv[2]
recs = [{"instruction": "Classify the sentiment of the review.", "input": "review %d" % i,
         "output": "Positive" if i % 2 else "Negative"} for i in range(7)]
with open(os.path.join(out, "train.json"), "w") as f:
    json.dump(recs, f, indent=1)
lines = [{"text": "plain document %d about gardens and rivers" % i} for i in range(5)]
lines += [{"prompt": "What is %d+%d?" % (i, i), "completion": str(2 * i)} for i in range(3)]
lines += [{"messages": [{"role": "user", "content": "hi %d" % i},
                        {"role": "assistant", "content": "hello %d" % i}]} for i in range(2)]
data = "".join(json.dumps(l) + "\n" for l in lines).encode()
z = subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout
open(os.path.join(out, "mixed.jsonl.zst"), "wb").write(z)
raw = open(wet, "rb").read()
starts = [i for i in range(len(raw)) if raw.startswith(b"WARC/1.0\r\nWARC-Type:", i)]
with open(os.path.join(out, "CC-MAIN-sample.warc.wet.gz"), "wb") as f:
    for a, b in zip(starts, starts[1:] + [len(raw)]):
        f.write(gzip.compress(raw[a:b]))
for name, text in [("a.txt", "A note on bread.\nFlour, water, salt."),
                   ("b.txt", "Human: what is the capital of France?\n\nAssistant: Paris."),
                   ("empty.txt", "")]:
    open(os.path.join(out, "notes", name), "w").write(text)
EOF

assert_eq "$(run_rc "$BIN" scan --workers 2 --out "$T/out" "$T/corpus")" 0 "scan of the mixed-format corpus exit"
# 7 Alpaca records + 10 JSON Lines records + 3 WET conversion records + 2 non-empty .txt files
assert_eq "$(json_get "$T/out/report.json" "d['corpus']['files']")" 6 "report corpus.files"
assert_eq "$(json_get "$T/out/report.json" "d['corpus']['documents']")" 22 "report corpus.documents"
assert_eq "$(json_get "$T/out/report.json" "d['corpus']['errors']")" 0 "report corpus.errors"

assert_eq "$(run_rc "$BIN" scan --format jsonlines --out "$T/o2" "$T/corpus")" 3 "scan with a bad --format exit"
grep -q -- "--format: 'jsonlines' is not one of" "$T/run.log" || fail "bad --format gave no message naming it"
[ ! -e "$T/o2" ] || fail "a bad --format still started work"
log "PASS"
