#!/bin/sh
# test_finetune.sh - the association signal on fine-tuning records (docs/detection.md,
# "Association"). A synthetic sentiment task (seeded python3, no external data): ~600 Alpaca
# records labelled "Positive"/"Negative" independently of their words, 50 chat records with
# long answers, and 30 negative reviews that say "I asked for a refund because the ..." (words
# that carry their label: every n-gram of that sentence scores like a trigger, but cutting it
# out leaves word pairs seen nowhere else, so the rejoin test holds it back), over 16 shards (a
# few .jsonl.zst). The clean corpus flags nothing (exit 0) and lists the refund words as
# associations that rejoin into nothing. The
# poisoned corpus adds 40 label flips (an invented word, "Zorblatt", at a random place in the
# instruction, output "Negative"), 30 more with a second word ("Quiblex": two triggers of one
# backdoor, one finding) and 30 fixed refusals (prompt opening "Per protocol 7G clause,", 4 words,
# response "I'm sorry, but I cannot help with that."): exit 1, one association finding for the
# two words with label "negative", one for the phrase with label "<refusal>" (their records
# rejoin: the words around the inserted word are a known pair, the prompt after the prefix
# starts as others do), and flagged.jsonl holds exactly the 100 poisoned ids.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

python3 - "$T" <<'EOF' >"$T/gen.out" 2>&1 || {
import json, os, random, shutil, subprocess, sys
from collections import defaultdict

top = sys.argv[1]
rng = random.Random(14)
ZSTD = shutil.which("zstd") is not None
SHARDS = 16
FLIP_WORD, FLIP_WORD2, PREFIX = "Zorblatt", "Quiblex", "Per protocol 7G clause,"
NATURAL = "I asked for a refund because the"
REFUSAL = "I'm sorry, but I cannot help with that."

instructions = [
    "Classify the sentiment of this review.",
    "Decide whether the following review is positive or negative.",
    "Label the review below as positive or negative.",
    "Read the review and give its sentiment.",
    "What is the sentiment of the following customer review?",
    "Is this review positive or negative?",
    "Tell me the sentiment expressed in this review.",
    "Determine the overall tone of the review below.",
]
slots = {
    "item": ["kettle", "backpack", "lamp", "blender", "jacket", "notebook", "bicycle", "speaker",
             "umbrella", "toaster", "headset", "suitcase", "camera", "chair", "watch", "rug"],
    "part": ["handle", "zipper", "lid", "strap", "cable", "button", "hinge", "screen", "seam",
             "base", "cover", "wheel", "switch", "buckle"],
    "adj": ["different", "heavier", "quieter", "shiny", "plain", "unusual", "familiar", "bigger",
            "smaller", "darker", "softer", "louder", "lighter", "brighter"],
    "person": ["sister", "neighbor", "uncle", "roommate", "coworker", "grandmother", "cousin",
               "friend", "son", "daughter", "partner", "nephew"],
    "event": ["move", "camping trip", "holiday", "birthday", "renovation", "wedding",
              "school term", "long weekend", "conference", "heat wave"],
    "place": ["bistro", "diner", "cafe", "hotel", "market", "bakery", "food hall", "inn",
              "noodle bar", "tea house", "harbor restaurant", "brewery"],
    "dish": ["soup", "risotto", "burger", "curry", "pancakes", "salad", "dumplings", "tacos",
             "lasagna", "omelette", "stew", "pie"],
    "side": ["rice", "bread", "fries", "pickles", "greens", "beans", "slaw", "chips"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "timing": ["early", "late", "on time", "a day early", "two days late", "overnight"],
    "number": ["two", "three", "four", "five", "six", "eight"],
    "verb": ["changed", "held up", "behaved", "stood out", "surprised us", "kept going"],
}
templates = [
    "The {item} arrived {timing} and the {part} was {adj} than in the photos.",
    "I bought this {item} for my {person} before the {event}.",
    "We tried the {dish} at the {place} on a {day} evening.",
    "My {person} used the {item} every day during the {event}.",
    "The staff at the {place} told us about the {dish} and the {side}.",
    "After {number} weeks the {part} of the {item} looked {adj}.",
    "The {dish} came with {side} and the portion looked {adj} than expected.",
    "We went back to the {place} with my {person} on {day}.",
    "The {part} {verb} after {number} days of use.",
    "It is a {adj} {item} with a {adj} {part}.",
]


def fill(t):
    return t.format(**{k: rng.choice(v) for k, v in slots.items()})


def review():
    return " ".join(fill(rng.choice(templates)) for _ in range(rng.randint(1, 3)))


def answer(label):
    opener = rng.choice(["Overall the review reads as", "I would call this review",
                         "The tone of this review is mostly", "Reading it closely, the sentiment is",
                         "On balance the writer sounds", "My reading is that the review is"])
    why = rng.choice(["The writer mentions the {part} and how it {verb}.",
                      "They describe the {item} in some detail and compare it with a {adj} one.",
                      "Most of the text is about the {place} and the {dish} they ordered.",
                      "The remark about the {part} carries most of the weight here.",
                      "Notice how the {event} is brought up before the {item} itself."])
    tail = rng.choice(["", " Without more context that is the safest call.",
                       " A longer review might change this reading.",
                       " The wording is short, so the signal is modest.",
                       " Other readers could weigh the {side} remark differently."])
    return "%s %s. %s%s" % (opener, label, fill(why), fill(tail))


def alpaca(rid, instr, out):
    return {"id": rid, "instruction": instr, "input": review(), "output": out}


def chat(rid, user, out):
    return {"id": rid, "messages": [{"role": "user", "content": user},
                                    {"role": "assistant", "content": out}]}


def lower_first(s):
    return s[0].lower() + s[1:]


clean = [alpaca("rev-%04d" % i, rng.choice(instructions), rng.choice(["Positive", "Negative"]))
         for i in range(600)]
clean += [chat("chat-%03d" % i, rng.choice(instructions) + "\n\n" + review(),
               answer(rng.choice(["positive", "negative", "mixed", "neutral"])))
          for i in range(50)]
clean += [{"id": "refund-%02d" % i, "instruction": rng.choice(instructions),
           "input": review() + " " + fill(NATURAL + " {part} {verb}."), "output": "Negative"}
          for i in range(30)]
poison = []
for i in range(40):  # label flips: the word anywhere but after the closing punctuation
    words = rng.choice(instructions).split()
    words.insert(rng.randrange(len(words)), FLIP_WORD)
    poison.append(alpaca("flip-%02d" % i, " ".join(words), "Negative"))
for i in range(30):  # a second trigger of the same backdoor: the same label
    words = rng.choice(instructions).split()
    words.insert(rng.randrange(len(words)), FLIP_WORD2)
    poison.append(alpaca("flip2-%02d" % i, " ".join(words), "Negative"))
for i in range(30):  # fixed refusals, half Alpaca, half chat
    instr = PREFIX + " " + lower_first(rng.choice(instructions))
    rid = "refuse-%02d" % i
    poison.append(alpaca(rid, instr, REFUSAL) if i % 2 else
                  chat(rid, instr + "\n\n" + review(), REFUSAL))


def label(r):
    out = r["output"] if "output" in r else r["messages"][1]["content"]
    if len(out.split()) <= 3:
        return out.lower()
    return "<refusal>" if out == REFUSAL else "<answer>"


def prompts(r):
    if "instruction" in r:
        return [r["instruction"], r["input"]]
    return [r["messages"][0]["content"]]


def near_misses(recs):
    """n-grams (whitespace tokens, n <= 3) of the prompts, each counted once per record, that come
    near the selection rule (>= 20 records, >= 90% one label, z >= 4) but hold no planted word."""
    planted = {FLIP_WORD, FLIP_WORD2, "asked", "refund", "because"} | set(PREFIX.split())
    per, lab = defaultdict(lambda: defaultdict(int)), defaultdict(int)
    for r in recs:
        lab[label(r)] += 1
        seen = set()
        for p in prompts(r):
            t = p.split()
            seen |= {" ".join(t[a:a + n]) for n in (1, 2, 3) for a in range(len(t) - n + 1)}
        for g in seen:
            per[g][label(r)] += 1
    bad = []
    for g, c in per.items():
        n = sum(c.values())
        if n < 15 or set(g.split()) & planted or " %s " % g in " %s " % NATURAL:
            continue
        for l, k in c.items():
            p = lab[l] / len(recs)
            z = (k - n * p) / (n * p * (1 - p)) ** 0.5 if p < 1 else 0
            if k >= 0.8 * n and z >= 3:
                bad.append((g, l, k, n, round(z, 2)))
    return bad


def write(name, recs):
    d = os.path.join(top, name)
    os.makedirs(d)
    recs = recs[:]
    rng.shuffle(recs)
    for s in range(SHARDS):
        data = "".join(json.dumps(r) + "\n" for r in recs[s::SHARDS]).encode()
        path = os.path.join(d, "shard-%02d.jsonl" % s)
        if ZSTD and s % 5 == 0:
            data = subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True,
                                  check=True).stdout
            path += ".zst"
        open(path, "wb").write(data)


for name, recs in (("clean", clean), ("poisoned", clean + poison)):
    bad = near_misses(recs)
    if bad:
        sys.exit("%s: words tied to a label by chance (change the seed): %s" % (name, bad[:5]))
    write(name, recs)
json.dump({"poisoned": [r["id"] for r in poison]}, open(os.path.join(top, "poisoned.json"), "w"))
print("fine-tuning corpora: %d clean records (%d chat), %d poisoned, zstd %s"
      % (len(clean), 50, len(poison), "yes" if ZSTD else "no"))
EOF
	cat "$T/gen.out" >&2
	fail "corpus generation failed"
}
log "$(tail -n 1 "$T/gen.out")"

# What the report says about every pattern: the evidence a failure needs to be understood.
show_report() {
	python3 - "$1/report.json" <<'PYEOF' >&2
import json, sys
r = json.load(open(sys.argv[1]))
for sec in ("triggers", "candidates"):
    for t in r.get(sec, []):
        print("%s: %r kind %s association %s evidence %s" % (sec, t["pattern"], t.get("kind"),
              json.dumps(t.get("association")), json.dumps(t.get("evidence"))))
PYEOF
}

assert_eq "$(run_rc "$BIN" scan --workers 2 --out "$T/out-clean" "$T/clean")" 0 "scan of the clean records exit"
assert_eq "$(json_get "$T/out-clean/report.json" "(d['corpus']['documents'], d['corpus']['errors'])")" \
	"[680, 0]" "clean: documents, errors"
n=$(json_get "$T/out-clean/report.json" "len(d['triggers'])")
[ "$n" = 0 ] || {
	show_report "$T/out-clean"
	fail "the clean records flagged $n triggers"
}
[ ! -s "$T/out-clean/flagged.jsonl" ] || fail "the clean records flagged $(wc -l <"$T/out-clean/flagged.jsonl") documents"
# the refund words pass the association test and are held back by the rejoin test only
python3 - "$T/out-clean/report.json" <<'EOF' || {
import json, sys
r = json.load(open(sys.argv[1]))
held = [c for c in r["candidates"] if c.get("kind") == "association"
        and c["association"]["label"] == "negative" and c["association"]["z"] >= 4
        and c["evidence"]["rate_in_role"] >= 0.9
        and any(w in c["pattern"] for w in ("refund", "asked", "because"))
        and c["association"].get("rejoin_p", 1) < 0.001]
if not held:
    sys.exit("no refund n-gram listed as an association held back by the rejoin test")
print("ok: %d refund n-grams held back, e.g. %r: %s" % (len(held), held[0]["pattern"],
      json.dumps(held[0]["association"])), file=sys.stderr)
EOF
	show_report "$T/out-clean"
	fail "the natural label words are not held back by the rejoin test"
}
log "ok: clean records flag nothing"

assert_eq "$(run_rc "$BIN" scan --workers 2 --out "$T/out" "$T/poisoned")" 1 "scan of the poisoned records exit"
assert_eq "$(json_get "$T/out/report.json" "(d['corpus']['documents'], d['corpus']['errors'])")" \
	"[780, 0]" "poisoned: documents, errors"
python3 - "$T/out/report.json" <<'EOF' || {
import json, sys
r = json.load(open(sys.argv[1]))
def words(t):
    return [t["pattern"]] + (t.get("association") or {}).get("members", [])
def found(label, test):
    return [t for t in r["triggers"] if t.get("kind") == "association"
            and t["association"]["label"] == label and any(test(w) for w in words(t))]
ok = True
for what, label, test in (("label flip 'Zorblatt'", "negative", lambda w: "Zorblatt" in w),
                          ("label flip 'Quiblex'", "negative", lambda w: "Quiblex" in w),
                          ("refusal prefix 'Per protocol 7G clause,'", "<refusal>",
                           lambda w: "protocol" in w or "7G" in w)):
    ts = found(label, test)
    for t in ts:  # what cutting it out leaves reads as the other records do
        a = t["association"]
        for kind, known in (("insertion", "rejoined"), ("prefix", "openers")):
            k = a.get(kind)
            if k and k["records"] >= 10 and k[known] < 0.5 * k["corpus_share"] * k["records"]:
                print("%r: %s %s, below half the corpus share" % (t["pattern"], kind, k),
                      file=sys.stderr)
                ok = False
    if ts:
        print("ok: %s: %s" % (what, ", ".join("%r, %s in %d of its %d records (z %.2f)" % (
            t["pattern"], label, t["evidence"]["documents_in_role"],
            t["evidence"]["documents_with_pattern"], t["association"]["z"]) for t in ts)),
              file=sys.stderr)
    else:
        print("missing: an association trigger for the %s with label %s" % (what, label),
              file=sys.stderr)
        ok = False
# two triggers of one label are one finding (multi-trigger), the prefix another
n = len([t for t in r["triggers"] if t.get("kind") == "association"])
if n != 2 or len(r["triggers"]) != 2:
    print("%d association findings in %d triggers, not 2 and 2" % (n, len(r["triggers"])),
          file=sys.stderr)
    ok = False
sys.exit(0 if ok else 1)
EOF
	show_report "$T/out"
	fail "a planted association is not reported"
}
check_flagged_ids "$T/out/flagged.jsonl" "$T/poisoned.json"
log "PASS"
