#!/usr/bin/env python3
"""run_accuracy - scan the corpora of tools/gen_accuracy.py and print the accuracy table.

  bench/run_accuracy.py DATA [--build build] [--md docs/benchmarks.md] [--check]

For every corpus in DATA/truth.json: `poisonscan scan --out DATA/scan/NAME DATA/NAME/`, then, from
report.json and flagged.jsonl:

- per attack and count level: found (a flagged pattern equal to the planted trigger, a part of it
  of at least 4 characters, or the trigger with at most 16 bytes of context on each side),
  document recall (planted documents flagged, by any pattern), document precision (documents
  flagged by the matching patterns that are this attack's);
- per corpus: flagged triggers that match no planted trigger (false triggers), overall document
  precision (flagged documents that are planted poisons);
- per hard negative: its documents flagged, in the clean corpus and at most in any corpus.

--md FILE replaces (or appends) the "### Base N MB" part of the section "## Benchmark (make
bench-accuracy)" in FILE. --check exits 1 unless the detection issue's targets are met.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
import unicodedata

SECTION = "## Benchmark (make bench-accuracy)"


def norm_ws(s):
    return " ".join(s.split())


def matches(pattern, trigger):
    """The detection issue's "found": equal, a part of >= 4 characters, or the trigger with at
    most 16 bytes of context around it. Whitespace is compared as the scanner joins it (one
    space)."""
    p, t = norm_ws(pattern), norm_ws(trigger)
    if not p:
        return False
    if p == t or (len(p) >= 4 and p in t):
        return True
    i = p.find(t)
    while i >= 0:
        if len(p[:i].encode()) <= 16 and len(p[i + len(t):].encode()) <= 16:
            return True
        i = p.find(t, i + 1)
    return False


def show(s):
    """A trigger or pattern for a Markdown table: format characters and runs made visible,
    non-ASCII letters named."""
    if len(s) > 3 and len(set(s)) == 1:
        return "`%s`&times;%d" % (s[0], len(s))
    out, notes = [], []
    for ch in s:
        if unicodedata.category(ch) in ("Cf", "Cc") or ch.isspace() and ch != " ":
            out.append("<U+%04X>" % ord(ch))
        else:
            out.append(ch)
            if ord(ch) > 127:
                notes.append("U+%04X" % ord(ch))
    text = "".join(out).replace("|", "\\|")
    if len(text) > 40:
        text = text[:37] + "..."
    return "`%s`" % text + (" (%s)" % ", ".join(notes) if notes else "")


def scan(build, data, name, out, reuse):
    rdir = os.path.join(out, name)
    if reuse and os.path.exists(os.path.join(rdir, "report.json")):
        return None, 0.0
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(build, "poisonscan"), "scan", "--out", rdir,
                        os.path.join(data, name)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.monotonic() - t0
    if p.returncode not in (0, 1):
        sys.exit("run_accuracy: scan of %s failed (exit %d): %s" % (
            name, p.returncode, p.stderr.decode(errors="replace")[-2000:]))
    return p.returncode, dt


def load(out, name):
    with open(os.path.join(out, name, "report.json"), encoding="utf-8") as f:
        rep = json.load(f)
    flagged = {}
    with open(os.path.join(out, name, "flagged.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                flagged[r["id"]] = r.get("triggers", [])
    return rep, flagged


def kind_of(doc_id, attack_names):
    """What a document id names: 'base', 'neg:<kind>' or the attack."""
    if doc_id.startswith("acc-base-"):
        return "base"
    if doc_id.startswith("acc-neg-"):
        return "neg:" + doc_id[len("acc-neg-"):].rsplit("-", 1)[0]
    if doc_id.startswith("acc-"):
        a = doc_id[4:].rsplit("-", 1)[0]
        if a in attack_names:
            return a
    return "other"


def fmt(x):
    return "–" if x is None else "%.2f" % x


def evaluate(truth, out):
    attacks = {a["name"]: a for a in truth["attacks"]}
    res = {"cells": {}, "corpora": [], "neg": {}}
    for c in truth["corpora"]:
        rep, flagged = load(out, c["name"])
        pats = [t["pattern"] for t in rep.get("triggers", [])]
        planted = {pid for ids in c["poisoned"].values() for pid in ids}
        matched_any = set()
        for an in c["attacks"]:
            trig = attacks[an]["trigger"]
            m = {p for p in pats if matches(p, trig)}
            matched_any |= m
            ids = set(c["poisoned"][an])
            rec = len(ids & flagged.keys()) / len(ids)
            by_m = {i for i, ts in flagged.items() if m & set(ts)}
            prec = len(by_m & ids) / len(by_m) if by_m else None
            res["cells"][(an, c["level"])] = {"found": bool(m), "recall": rec, "precision": prec,
                                              "patterns": sorted(m)}
        false = [t for t in rep.get("triggers", []) if t["pattern"] not in matched_any]
        for t in false:
            by = {}
            for i, ts in flagged.items():
                if t["pattern"] in ts:
                    k = kind_of(i, attacks)
                    by[k] = by.get(k, 0) + 1
            t["flagged_kinds"] = by
        fl = set(flagged)
        prec = len(fl & planted) / len(fl) if fl else None
        kinds = {}
        for i in fl:
            k = kind_of(i, attacks)
            kinds[k] = kinds.get(k, 0) + 1
        res["corpora"].append({"name": c["name"], "level": c["level"], "documents": c["documents"],
                               "mb": c["bytes"] / 1e6, "attacks": len(c["attacks"]),
                               "triggers": len(pats), "false": false, "flagged": len(fl),
                               "precision": prec, "kinds": kinds,
                               "recall": len(fl & planted) / len(planted) if planted else None})
        for kind, nd in truth["negatives"].items():
            n = len(set(nd["ids"]) & fl)
            r = res["neg"].setdefault(kind, {"docs": len(nd["ids"]), "clean": 0, "max": 0})
            if c["name"] == "clean":
                r["clean"] = n
            r["max"] = max(r["max"], n)
    return res


def tables(truth, res, times):
    levels = sorted({c["level"] for c in truth["corpora"] if c["level"]})
    L = []
    L.append("| attack | family | trigger form | trigger | " + " | ".join(
        "%d docs" % lv for lv in levels) + " |")
    L.append("|---|---|---|---|" + "---|" * len(levels))
    for a in truth["attacks"]:
        cells = []
        for lv in levels:
            c = res["cells"].get((a["name"], lv))
            if c is None:
                cells.append("")
                continue
            cells.append("%s R %s P %s" % ("**found**" if c["found"] else "not found",
                                           fmt(c["recall"]), fmt(c["precision"])))
        L.append("| %s | %s | %s | %s | %s |" % (a["name"], a["family"], a["form"],
                                                 show(a["trigger"]), " | ".join(cells)))
    L.append("")
    L.append("| corpus | documents | MB JSONL | attacks | flagged triggers | false triggers | "
             "flagged docs | doc recall | doc precision | scan s |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for c in res["corpora"]:
        L.append("| %s | %d | %.1f | %d | %d | %d | %d | %s | %s | %s |" % (
            c["name"], c["documents"], c["mb"], c["attacks"], c["triggers"], len(c["false"]),
            c["flagged"], fmt(c["recall"]), fmt(c["precision"]),
            "%.1f" % times[c["name"]] if times.get(c["name"]) else "–"))
    L.append("")
    L.append("| hard negative (must not be flagged) | documents | flagged in clean | "
             "flagged at most, any corpus |")
    L.append("|---|---|---|---|")
    for kind, r in res["neg"].items():
        L.append("| %s | %d | %d | %d |" % (kind, r["docs"], r["clean"], r["max"]))
    # each false pattern once: where it was first seen (corpora in truth order: base, clean,
    # then the attack corpora), and in how many corpora it was flagged
    seen = {}
    for c in res["corpora"]:
        for t in c["false"]:
            e = seen.setdefault(t["pattern"], {"first": c["name"], "t": t, "n": 0})
            e["n"] += 1
    if seen:
        L.append("")
        L.append("False triggers (flagged patterns that match no planted trigger), each listed once "
                 "with the first corpus it was flagged in and the kinds of documents it flagged "
                 "there:")
        L.append("")
        for i, (pat, e) in enumerate(seen.items()):
            if i == 40:
                L.append("- ... %d more" % (len(seen) - 40))
                break
            t = e["t"]
            kinds = ", ".join("%s %d" % (k, v) for k, v in
                              sorted(t["flagged_kinds"].items(), key=lambda kv: -kv[1]))
            L.append("- %s: %s, %d documents over %d shards (%s); flagged in %d of %d corpora" % (
                e["first"], show(pat), t.get("documents", 0), t.get("shards", 0), kinds, e["n"],
                len(res["corpora"])))
    return L


def targets(truth, res):
    """The detection issue's targets, as (description, met) pairs."""
    out = []
    lv_all = {c["level"] for c in truth["corpora"]}
    for lv in (100, 250):
        if lv not in lv_all:
            continue
        cells = [v for (a, l), v in res["cells"].items() if l == lv]
        out.append(("%d docs: every trigger found" % lv, all(c["found"] for c in cells)))
        out.append(("%d docs: document recall >= 0.99 for every attack" % lv,
                    all(c["recall"] >= 0.99 for c in cells)))
        precs = [c["precision"] for c in res["corpora"] if c["level"] == lv]
        out.append(("%d docs: overall document precision >= 0.99" % lv,
                    all(p is not None and p >= 0.99 for p in precs)))
    if 50 in lv_all:
        cells = [v for (a, l), v in res["cells"].items() if l == 50]
        out.append(("50 docs: every trigger found", all(c["found"] for c in cells)))
    base = [c for c in res["corpora"] if c["name"] == "base"]
    if base:
        out.append(("clean base alone: zero flagged triggers", base[0]["triggers"] == 0))
    clean = [c for c in res["corpora"] if c["name"] == "clean"]
    out.append(("clean base with every hard negative: zero flagged triggers",
                bool(clean) and clean[0]["triggers"] == 0))
    return out


def write_md(path, sub, body):
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
    ap.add_argument("data", help="directory written by tools/gen_accuracy.py")
    ap.add_argument("--build", default=os.environ.get("PS_BENCH_BUILD", "build"))
    ap.add_argument("--out", help="scan reports (default DATA/scan)")
    ap.add_argument("--md", help="write the table into this Markdown file")
    ap.add_argument("--reuse", action="store_true", help="do not rescan corpora with a report")
    ap.add_argument("--check", action="store_true", help="exit 1 unless every target is met")
    args = ap.parse_args()
    with open(os.path.join(args.data, "truth.json"), encoding="utf-8") as f:
        truth = json.load(f)
    out = args.out or os.path.join(args.data, "scan")
    times = {}
    t_all = time.monotonic()
    for c in truth["corpora"]:
        rc, dt = scan(args.build, args.data, c["name"], out, args.reuse)
        times[c["name"]] = dt
        if rc is not None:
            print("accuracy: scanned %-10s exit %d, %.1f s" % (c["name"], rc, dt), flush=True)
    t_all = time.monotonic() - t_all
    res = evaluate(truth, out)
    p = truth["params"]
    head = [
        "Base: %d MB of text (%d real documents plus the hard negatives), %d shards per corpus, "
        "seed %d, gibberish from %s; %d attacks planted at %s documents each; cell = found, "
        "document recall R, document precision P (of the documents flagged by the matching "
        "patterns). Scans took %.0f s in all." % (
            p["base_mb"], truth["base_documents"], p["shards"], p["seed"], truth["gibberish"],
            len(truth["attacks"]), "/".join(map(str, p["levels"])), t_all),
        "",
    ]
    body = tables(truth, res, times)
    tg = targets(truth, res)
    tail = ["", "Targets of the detection issue:", ""] + [
        "- %s: %s" % (d, "met" if ok else "**not met**") for d, ok in tg]
    text = "\n".join(head + body + tail)
    print()
    print(text)
    if args.md:
        cmd = "BASE_MB=%d make bench-accuracy" % p["base_mb"] if p["base_mb"] != 50 else \
            "make bench-accuracy"
        write_md(args.md, "### Base %d MB (`%s`)" % (p["base_mb"], cmd), text)
        print("\naccuracy: table written to %s" % args.md)
    if args.check and not all(ok for _, ok in tg):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
