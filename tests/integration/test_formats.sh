#!/bin/sh
# test_formats.sh - `poisonscan scan` over a corpus in every input format the reader takes: a JSON
# array of Alpaca records, JSON Lines with mixed record shapes (zstd), a Common Crawl WET file
# (one gzip member per record, as Common Crawl ships them) and a folder of .txt files. Exact
# document counts in report.json; a forced --format is applied by the workers (a .jsonl file
# read as Alpaca records, then as one text document); a bad --format value stops before any
# work (exit 3).
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

# A forced --format reaches the workers: a file named .jsonl is read as the format says (workers
# that detected again would read JSON Lines records by their text field).
mkdir -p "$T/forced"
python3 - "$T/forced/records.jsonl" <<'EOF'
import json, sys
recs = [{"id": "r%d" % i, "text": "short %d" % i, "instruction": "Translate to French.",
         "input": "good morning number %d" % i, "output": "bonjour numero %d" % i}
        for i in range(4)]
recs += [{"id": "t%d" % i, "text": "only a text field %d" % i} for i in range(2)]
open(sys.argv[1], "w").write("".join(json.dumps(r) + "\n" for r in recs))
EOF
sz=$(wc -c <"$T/forced/records.jsonl")
counts="(d['corpus']['documents'], d['corpus']['text_bytes'], d['corpus']['errors'])"
# auto: six records by their text field, "short N" (7 bytes) x 4 and "only a text field N" (19) x 2
assert_eq "$(run_rc "$BIN" scan --out "$T/fa" "$T/forced")" 0 "scan of records.jsonl (auto) exit"
assert_eq "$(json_get "$T/fa/report.json" "$counts")" "[6, 66, 0]" "auto: documents, text_bytes, errors"
# alpaca: four records, instruction, input and output joined by '\n' (20 + 1 + 21 + 1 + 16 = 59
# bytes each); the two records without "instruction" are errors
assert_eq "$(run_rc "$BIN" scan --format alpaca --out "$T/fb" "$T/forced")" 2 "scan --format alpaca exit"
assert_eq "$(json_get "$T/fb/report.json" "$counts")" "[4, 236, 2]" "--format alpaca: documents, text_bytes, errors"
# txt: the whole file is one document
assert_eq "$(run_rc "$BIN" scan --format txt --out "$T/fc" "$T/forced")" 0 "scan --format txt exit"
assert_eq "$(json_get "$T/fc/report.json" "$counts")" "[1, $sz, 0]" "--format txt: documents, text_bytes, errors"

assert_eq "$(run_rc "$BIN" scan --format jsonlines --out "$T/o2" "$T/corpus")" 3 "scan with a bad --format exit"
grep -q -- "--format: 'jsonlines' is not one of" "$T/run.log" || fail "bad --format gave no message naming it"
[ ! -e "$T/o2" ] || fail "a bad --format still started work"
log "PASS"
