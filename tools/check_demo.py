#!/usr/bin/env python3
"""check_demo - decide whether `make demo` succeeded: the scan flagged poisoning (exit 1) and its
report names a trigger whose pattern contains <SUDO>. Also prints how many planted documents
were flagged, for the reader of the demo."""

import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scan-exit", type=int, required=True)
    ap.add_argument("out")
    ap.add_argument("expected")
    args = ap.parse_args()
    with open(args.expected, encoding="utf-8") as f:
        exp = json.load(f)
    trigger = exp.get("trigger", "<SUDO>")
    try:
        with open(os.path.join(args.out, "report.json"), encoding="utf-8") as f:
            rep = json.load(f)
    except (OSError, ValueError) as e:
        print(f"demo: FAILED: no readable report.json in {args.out}: {e}", file=sys.stderr)
        return 1
    hits = [t for t in rep.get("triggers", []) if trigger in t.get("pattern", "")]
    flagged = set()
    try:
        with open(os.path.join(args.out, "flagged.jsonl"), encoding="utf-8") as f:
            flagged = {json.loads(line).get("id") for line in f if line.strip()}
    except (OSError, ValueError):
        pass
    planted = set(exp["poisoned"])
    print()
    print("demo: corpus %d documents in %d shards; planted %d poisoned documents (%s)" % (
        exp["documents"], exp["files"], len(planted), trigger))
    print("demo: scan exit %d; report: %d documents, %d triggers" % (
        args.scan_exit, rep.get("corpus", {}).get("documents", -1), len(rep.get("triggers", []))))
    for t in hits:
        print("demo: trigger %r: %s documents in %s shards, kind %s, score %s" % (
            t.get("pattern"), t.get("documents"), t.get("shards"), t.get("kind"), t.get("score")))
    print("demo: flagged %d documents: %d of %d planted, %d others" % (
        len(flagged), len(flagged & planted), len(planted), len(flagged - planted)))
    if args.scan_exit != 1:
        print("demo: FAILED: scan exit %d, expected 1 (poisoning flagged)" % args.scan_exit,
              file=sys.stderr)
        return 1
    if not hits:
        print("demo: FAILED: no trigger pattern in report.json contains %s" % trigger,
              file=sys.stderr)
        return 1
    print("demo: OK: poisoning flagged, trigger %s found" % trigger)
    return 0


if __name__ == "__main__":
    sys.exit(main())
