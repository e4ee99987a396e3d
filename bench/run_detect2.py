#!/usr/bin/env python3
"""run_detect2 - scan the benchmark v2 corpora of tools/gen_attacks.py and print the tables.

  bench/run_detect2.py DATA [--half tune|heldback] [--base doc,web,multi] [--build build]
                            [--generator v2|v1] [--md docs/benchmark-v2.md] [--reuse] [--check]

For every corpus in DATA/HALF/BASE/truth.json: `poisonscan scan --out DATA/HALF/BASE/scan/NAME
DATA/HALF/BASE/NAME/`, then, from report.json and flagged.jsonl, per base:

- per attack and level: found (a flagged pattern equal to the planted trigger, a part of it of
  at least 4 characters, or the trigger with at most 16 bytes of context on each side, as in
  bench/run_accuracy.py; "cand" when such a pattern is only among the candidates), document
  recall (planted documents flagged, by any pattern), document precision (documents flagged by
  the matching patterns that are this attack's);
- per corpus: flagged triggers, false triggers (matching no planted trigger), flagged documents,
  overall document recall and precision, scan seconds;
- per hard negative: its documents flagged in the clean corpus and at most in any corpus;
- every false trigger once, with the kinds of the documents it flagged (base:SOURCE, neg:KIND or
  an attack), then the issue's targets on this half, met or not.

The held-back half is for the final table only: while the detector is being tuned, run the
tuning half (the default) and never look at the other (docs/benchmark-v2.md).
--generator v1 scans DATA/HALF/BASE-v1 (tools/gen_attacks.py --generator v1: the attacks of
tools/gen_accuracy.py in the same bases) and writes its tables under their own heading.
--md FILE replaces this half's part of the section "## Benchmark v2" in FILE.
--check exits 1 unless every target is met.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_accuracy import matches, show  # noqa: E402  (the issue's "found" rule, one copy)

SECTION = "## Benchmark v2 (make bench-detect2)"
SUBSECTION = {("tune", "v2"): "### Tuning half (`make bench-detect2`)",
              ("heldback", "v2"): "### Held-back half (`make bench-detect2 HALF=heldback`)",
              ("tune", "v1"): "### Tuning half, attacks of gen_accuracy.py "
                              "(`make bench-detect2 GENERATOR=v1`)",
              ("heldback", "v1"): "### Held-back half, attacks of gen_accuracy.py "
                                  "(`make bench-detect2 HALF=heldback GENERATOR=v1`)"}
MAX_LISTED = 15  # false triggers listed one by one per base
BASE_TITLE = {"doc": "Documentation", "web": "Web pages (crawl format)",
              "multi": "Multilingual"}


def scan(build, corpus_dir, rdir, reuse):
    if reuse and os.path.exists(os.path.join(rdir, "report.json")):
        return None, None
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(build, "poisonscan"), "scan", "--out", rdir, corpus_dir],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.monotonic() - t0
    if p.returncode not in (0, 1):
        sys.exit("run_detect2: scan of %s failed (exit %d): %s" % (
            corpus_dir, p.returncode, p.stderr.decode(errors="replace")[-2000:]))
    return p.returncode, dt


def load(rdir):
    with open(os.path.join(rdir, "report.json"), encoding="utf-8") as f:
        rep = json.load(f)
    flagged = {}
    with open(os.path.join(rdir, "flagged.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                flagged[r["id"]] = r.get("triggers", [])
    return rep, flagged


def kind_of(doc_id):
    """base:SOURCE, neg:KIND, the attack's name, or 'other' (ids of tools/gen_attacks.py)."""
    parts = doc_id.split(".")
    if len(parts) >= 3 and parts[0] in ("base", "neg"):
        return parts[0] + ":" + parts[1]
    if len(parts) >= 3 and parts[0] == "atk":
        return parts[1]
    return "other"


def fmt(x):
    return "–" if x is None else "%.2f" % x


def evaluate(truth, sdir):
    attacks = {a["name"]: a for a in truth["attacks"]}
    res = {"cells": {}, "corpora": [], "neg": {}}
    for c in truth["corpora"]:
        rep, flagged = load(os.path.join(sdir, c["name"]))
        pats = [t["pattern"] for t in rep.get("triggers", [])]
        cands = [t["pattern"] for t in rep.get("candidates", [])]
        planted = {pid for ids in c["poisoned"].values() for pid in ids}
        matched_any = set()
        for an in c["attacks"]:
            trig = attacks[an]["trigger"]
            m = {p for p in pats if matches(p, trig)}
            matched_any |= m
            ids = set(c["poisoned"][an])
            by_m = {i for i, ts in flagged.items() if m & set(ts)}
            res["cells"][(an, c["level"])] = {
                "found": bool(m), "candidate": any(matches(p, trig) for p in cands),
                "recall": len(ids & flagged.keys()) / len(ids),
                "precision": len(by_m & ids) / len(by_m) if by_m else None}
        false = []
        for t in rep.get("triggers", []):
            if t["pattern"] in matched_any:
                continue
            by = {}
            for i, ts in flagged.items():
                if t["pattern"] in ts:
                    k = kind_of(i)
                    by[k] = by.get(k, 0) + 1
            false.append(dict(t, flagged_kinds=by))
        fl = set(flagged)
        res["corpora"].append({
            "name": c["name"], "level": c["level"], "documents": c["documents"],
            "mb": c["bytes"] / 1e6, "attacks": len(c["attacks"]), "triggers": len(pats),
            "false": false, "flagged": len(fl),
            "recall": len(fl & planted) / len(planted) if planted else None,
            "precision": len(fl & planted) / len(fl) if fl and planted else None})
        for kind, nd in truth["negatives"].items():
            n = len(set(nd["ids"]) & fl)
            r = res["neg"].setdefault(kind, {"docs": len(nd["ids"]), "clean": 0, "max": 0,
                                             "description": nd["description"]})
            if c["name"] == "clean":
                r["clean"] = n
            r["max"] = max(r["max"], n)
    return res


def cell(c):
    if c is None:
        return ""
    f = "**found**" if c["found"] else ("cand" if c["candidate"] else "not found")
    return "%s R %s P %s" % (f, fmt(c["recall"]), fmt(c["precision"]))


def base_tables(truth, res, times):
    levels = sorted({c["level"] for c in truth["corpora"] if c["level"]})
    srcs = ", ".join("%s %d" % (s, v["documents"]) for s, v in truth["sources"].items())
    clean = next(c for c in truth["corpora"] if c["name"] == "clean")
    L = ["#### %s, %s half%s" % (BASE_TITLE[truth["base"]], truth["half"],
                                 ", attacks of gen_accuracy.py"
                                 if truth.get("attack_generator") == "v1" else ""), "",
         "Clean corpus: %d documents, %.1f MB of JSONL, %d shards (%d base documents; by "
         "source: %s)." % (clean["documents"], clean["bytes"] / 1e6, truth["params"]["shards"],
                           truth["base_documents"], srcs), ""]
    L.append("| attack | placement | payload | trigger form | trigger | " +
             " | ".join("%d docs" % lv for lv in levels) + " |")
    L.append("|---|---|---|---|---|" + "---|" * len(levels))
    for a in truth["attacks"]:
        cells = [cell(res["cells"].get((a["name"], lv))) for lv in levels]
        L.append("| %s | %s | %s | %s | %s | %s |" % (a["name"], a["placement"], a["payload"],
                                                      a["form"], show(a["trigger"]),
                                                      " | ".join(cells)))
    L += ["", "| corpus | documents | MB JSONL | attacks | flagged triggers | false triggers | "
              "flagged docs | doc recall | doc precision | scan s |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for c in res["corpora"]:
        t = times.get(c["name"])
        L.append("| %s | %d | %.1f | %d | %d | %d | %d | %s | %s | %s |" % (
            c["name"], c["documents"], c["mb"], c["attacks"], c["triggers"], len(c["false"]),
            c["flagged"], fmt(c["recall"]), fmt(c["precision"]), "%.1f" % t if t else "–"))
    L += ["", "| hard negative (must not be flagged) | documents | flagged in clean | "
              "flagged at most, any corpus |", "|---|---|---|---|"]
    for kind, r in res["neg"].items():
        L.append("| %s: %s | %d | %d | %d |" % (kind, r["description"], r["docs"], r["clean"],
                                                r["max"]))
    seen = {}
    for c in res["corpora"]:
        for t in c["false"]:
            e = seen.setdefault(t["pattern"], {"first": c["name"], "t": t, "n": 0})
            e["n"] += 1
    if seen:
        major = {}
        for e in seen.values():
            fk = e["t"]["flagged_kinds"]
            k = min(fk, key=lambda x: (-fk[x], x)) if fk else "none"
            major[k] = major.get(k, 0) + 1
        L += ["", "%d distinct false triggers; by the kind most of their documents are: %s." % (
            len(seen), ", ".join("%s %d" % kv for kv in
                                 sorted(major.items(), key=lambda kv: (-kv[1], kv[0])))),
              "", "False triggers, each once with the first corpus that flagged it and the kinds "
                  "of the documents it flagged there:", ""]
        for i, (pat, e) in enumerate(seen.items()):
            if i == MAX_LISTED:
                L.append("- ... %d more" % (len(seen) - MAX_LISTED))
                break
            t = e["t"]
            kinds = ", ".join("%s %d" % kv for kv in
                              sorted(t["flagged_kinds"].items(), key=lambda kv: (-kv[1], kv[0])))
            L.append("- %s: %s (%s), %d documents over %d shards (%s); in %d of %d corpora" % (
                e["first"], show(pat), t.get("kind", "?"), t.get("documents", 0),
                t.get("shards", 0), kinds or "none in flagged.jsonl", e["n"],
                len(res["corpora"])))
    return L


def targets(truth, res):
    """Issue 13's targets on one base and half, as (description, met) pairs."""
    out = []
    cells = res["cells"]
    big = [(a, lv) for (a, lv) in cells if lv >= 50]
    if big:
        out.append(("every attack of 50 documents or more found",
                    all(cells[k]["found"] for k in big)))
    for lv in (100, 250):
        ks = [k for k in cells if k[1] == lv]
        if ks:
            out.append(("%d docs: recall >= 0.99 and precision >= 0.99 for every attack" % lv,
                        all(cells[k]["recall"] >= 0.99 and cells[k]["precision"] is not None and
                            cells[k]["precision"] >= 0.99 for k in ks)))
    clean = [c for c in res["corpora"] if c["name"] == "clean"]
    out.append(("clean corpus (every hard negative): zero flagged triggers",
                bool(clean) and clean[0]["triggers"] == 0))
    return out


def write_md(path, sub, body):
    """Replace (or add) the part `sub` of SECTION in the Markdown file `path`; a part runs to
    the next heading of its level or above."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        text = ""
    block = sub + "\n\n" + body.rstrip("\n") + "\n"
    if SECTION not in text:
        text = text.rstrip("\n") + "\n\n" + SECTION + "\n\n" + block
    else:
        head, rest = text.split(SECTION, 1)
        nxt = re.search(r"^## ", rest, flags=re.M)
        sec, tail = (rest[: nxt.start()], rest[nxt.start():]) if nxt else (rest, "")
        pat = re.compile(r"^" + re.escape(sub) + r"\n.*?(?=^### |\Z)", flags=re.M | re.S)
        if pat.search(sec):
            sec = pat.sub(lambda m: block + "\n", sec, count=1)
        else:
            sec = sec.rstrip("\n") + "\n\n" + block
        text = head + SECTION + sec.rstrip("\n") + "\n" + ("\n" + tail if tail else "")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="directory written by tools/gen_attacks.py --out")
    ap.add_argument("--half", choices=("tune", "heldback"), default="tune")
    ap.add_argument("--base", default="doc,web,multi", help="comma-separated bases")
    ap.add_argument("--generator", choices=("v2", "v1"), default="v2",
                    help="whose attacks: v2 (default) or v1 (DATA/HALF/BASE-v1)")
    ap.add_argument("--build", default=os.environ.get("PS_BENCH_BUILD", "build"))
    ap.add_argument("--md", help="write the tables into this Markdown file")
    ap.add_argument("--reuse", action="store_true", help="do not rescan corpora with a report")
    ap.add_argument("--check", action="store_true", help="exit 1 unless every target is met")
    args = ap.parse_args()
    body, all_targets, t_all = [], [], time.monotonic()
    for base in args.base.split(","):
        bdir = os.path.join(args.data, args.half,
                            base + ("-v1" if args.generator == "v1" else ""))
        try:
            with open(os.path.join(bdir, "truth.json"), encoding="utf-8") as f:
                truth = json.load(f)
        except OSError as e:
            sys.exit("run_detect2: %s (generate it: tools/gen_attacks.py --out %s --half %s "
                     "--generator %s)" % (e, args.data, args.half, args.generator))
        times = {}
        for c in truth["corpora"]:
            rc, dt = scan(args.build, os.path.join(bdir, c["name"]),
                          os.path.join(bdir, "scan", c["name"]), args.reuse)
            times[c["name"]] = dt
            if rc is not None:
                print("detect2: scanned %s/%s/%-8s exit %d, %.1f s" % (
                    args.half, base, c["name"], rc, dt), flush=True)
        res = evaluate(truth, os.path.join(bdir, "scan"))
        body += base_tables(truth, res, times) + [""]
        all_targets += [(BASE_TITLE[base] + ": " + d, ok) for d, ok in targets(truth, res)]
    t_all = time.monotonic() - t_all
    p = truth["params"]
    head = ["%s half, seed %d%s, levels %s, %d shards per corpus; cell = found (`cand`: only "
            "among the candidates), document recall R, document precision P (of the documents "
            "flagged by the matching patterns). Scans took %.0f s in all." % (
                ("Tuning" if args.half == "tune" else "Held-back") +
                (", attacks of tools/gen_accuracy.py" if args.generator == "v1" else ""),
                p["seed"],
                ", small variant" if p["small"] else "", "/".join(map(str, p["levels"])),
                p["shards"], t_all), ""]
    tail = ["Targets of issue 13 on this half:", ""] + [
        "- %s: %s" % (d, "met" if ok else "**not met**") for d, ok in all_targets]
    text = "\n".join(head + body + tail)
    print()
    print(text)
    if args.md:
        write_md(args.md, SUBSECTION[(args.half, args.generator)], text)
        print("\ndetect2: tables written to %s" % args.md)
    if args.check and not all(ok for _, ok in all_targets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
