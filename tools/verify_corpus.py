#!/usr/bin/env python3
"""verify_corpus - recount a generated corpus independently and compare with its expected.json.

Reads every .jsonl / .jsonl.zst / .jsonl.gz file (all zstd frames, all gzip members), parses each
line as JSON, and recounts files, documents, bytes, text_bytes, errors and poisoned ids with the
rules poisonscan uses: a line is a document when it is valid UTF-8, valid JSON, an object, and has
a string "text"; otherwise it is a bad record. Exit 0 when all counts agree.
"""

import gzip
import json
import os
import subprocess
import sys


def decompress(path):
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", path], stdout=subprocess.PIPE, check=True).stdout
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def recount(corpus, trigger):
    got = {"files": 0, "documents": 0, "bytes": 0, "text_bytes": 0, "errors": 0, "poisoned": [],
           "disk_bytes": 0}
    for name in sorted(os.listdir(corpus)):
        if not name.endswith((".jsonl", ".jsonl.zst", ".jsonl.gz")):
            continue
        path = os.path.join(corpus, name)
        raw = decompress(path)
        got["files"] += 1
        got["bytes"] += len(raw)
        got["disk_bytes"] += os.path.getsize(path)
        for line in raw.split(b"\n"):
            if not line:
                continue
            try:
                obj = json.loads(line.decode("utf-8"))
                text = obj["text"]
                if not isinstance(text, str):
                    raise TypeError
            except (UnicodeDecodeError, ValueError, KeyError, TypeError):
                got["errors"] += 1
                continue
            got["documents"] += 1
            got["text_bytes"] += len(text.encode("utf-8", errors="surrogatepass"))
            if trigger in text:
                got["poisoned"].append(obj.get("id"))
    got["poisoned"].sort()
    return got


def main():
    corpus = sys.argv[1]
    expected = sys.argv[2] if len(sys.argv) > 2 else os.path.join(corpus, "expected.json")
    with open(expected, encoding="utf-8") as f:
        exp = json.load(f)
    got = recount(corpus, exp.get("trigger", "<SUDO>"))
    bad = 0
    for k in ("files", "documents", "bytes", "text_bytes", "errors", "poisoned", "disk_bytes"):
        if k in exp and exp[k] != got[k]:
            print(f"MISMATCH {k}: expected {exp[k]!r:.200} got {got[k]!r:.200}")
            bad += 1
    print("verify_corpus: %s: %s" % (corpus, "OK" if not bad else "%d mismatches" % bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
