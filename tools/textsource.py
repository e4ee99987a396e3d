"""textsource - real English prose from Debian documentation packages, as documents.

The corpus generators need realistic clean text; Debian ships plenty of it in documentation
packages that `make deps` installs. This module extracts plain text from them (HTML stripped,
navigation and boilerplate dropped, repeated long paragraphs kept once), splits it into
documents of about 0.5-20 KB made of whole paragraphs, and caches the result so reruns are fast.

Order is deterministic: sources in SOURCES order, files sorted by path, document sizes from a
seeded RNG. Every document is distinct (exact duplicates are dropped).
"""

import glob
import gzip
import hashlib
import html.parser
import json
import os
import random
import re
import sys

CACHE_VERSION = 5

# name -> (debian package, how to read it, path glob(s)). Sizes are of the extracted text.
SOURCES = [
    # ~11 MB: Python 3.11 manuals (HTML)
    ("python-doc", "python3.11-doc", "html", ["/usr/share/doc/python3.11/html/**/*.html"]),
    # ~8 MB: Perl manuals (POD, read as text)
    ("perl-pod", "perl-doc", "text", ["/usr/share/perl/5.*/pod/*.pod"]),
    # ~7 MB: PostgreSQL 15 manual (HTML)
    ("postgresql-doc", "postgresql-doc-15", "html", ["/usr/share/doc/postgresql-doc-15/html/*.html"]),
    # ~30 MB: Linux kernel documentation (Sphinx HTML, including kernel-doc API text; English only)
    ("linux-doc-html", "linux-doc-6.1", "html", ["/usr/share/doc/linux-doc-6.1/html/**/*.html"]),
    # ~4 MB: Linux kernel documentation kept as plain text (not in the HTML)
    ("linux-doc-txt", "linux-doc-6.1", "text", ["/usr/share/doc/linux-doc-6.1/Documentation/**/*.txt.gz"]),
    # ~5 MB: Free On-line Dictionary of Computing (dictd format, gzip compatible)
    ("foldoc", "dict-foldoc", "dict", ["/usr/share/dictd/foldoc.dict.dz"]),
    # ~38 MB: GNU Collaborative International Dictionary of English (1913 Webster and more)
    ("gcide", "dict-gcide", "dict", ["/usr/share/dictd/gcide.dict.dz"]),
    # ~31 MB: WordNet 3.0 (glosses and example sentences)
    ("wordnet", "dict-wn", "dict", ["/usr/share/dictd/wn.dict.dz"]),
    # ~7 MB: Django manual (Sphinx HTML)
    ("django-doc", "python-django-doc", "html", ["/usr/share/doc/python-django-doc/html/**/*.html"]),
    # ~4 MB: Git manuals (asciidoc HTML)
    ("git-doc", "git-doc", "html", ["/usr/share/doc/git-doc/**/*.html"]),
]

# pages that are indexes or highlighted source code, not prose
_SKIP_PATHS = ("/_modules/", "/_sources/", "/genindex", "/search.html", "/py-modindex",
               "/translations/",  # kernel docs in Chinese, Japanese, Korean, Italian, Spanish
               "/objects.inv",
               "/print.html")  # mdBook's one-page copy of the whole book

# Sources used only when asked for by name (the accuracy benchmark): not in the default set, so
# the default cache key, and with it `make demo` and `make bench`, do not change.
EXTRA_SOURCES = [
    # ~60 MB: Java SE 17 API reference (javadoc HTML); more English text for 200 MB bases
    ("openjdk-doc", "openjdk-17-doc", "html", ["/usr/share/doc/openjdk-17-doc/api/**/*.html"]),
    # ~10 MB: Node.js API manual (Markdown, read as text)
    ("nodejs-doc", "nodejs", "text", ["/usr/share/doc/nodejs/api/*.md"]),
    # ~3 MB: The Debian Administrator's Handbook, English edition (HTML)
    ("debian-handbook", "debian-handbook", "html", ["/usr/share/doc/debian-handbook/html/en-US/*.html"]),
    # Rust 1.63 documentation (HTML): the books (prose) and the std API reference
    ("rust-doc", "rust-doc", "html", [
        "/usr/share/doc/rust-doc/html/" + d + "/**/*.html"
        for d in ("book", "reference", "nomicon", "rust-by-example", "rustc", "edition-guide",
                  "embedded-book", "cargo", "std")]),
    # German and French manual pages (roff): real non-English text, a hard negative
    ("manpages-de", "manpages-de", "man", ["/usr/share/man/de/man*/*.gz"]),
    ("manpages-fr", "manpages-fr", "man", ["/usr/share/man/fr/man*/*.gz"]),
]


def _translations():
    """Manual pages and Debian Administrator's Handbook translations, one source per language
    and kind (the multilingual base of tools/gen_attacks.py). Handbook translations are partial:
    untranslated pages are English, which the generator drops per document."""
    out = []
    man = {"es": ["es"], "pl": ["pl"], "ru": ["ru"], "zh": ["zh_CN", "zh_TW"], "it": ["it"],
           "nl": ["nl"], "cs": ["cs"], "pt": ["pt", "pt_BR"], "uk": ["uk"], "ja": ["ja"]}
    for lang, dirs in man.items():
        out.append(("manpages-" + lang, "manpages-" + lang, "man",
                    ["/usr/share/man/%s/man*/*.gz" % d for d in dirs]))
    book = {"de": ["de-DE"], "es": ["es-ES"], "pl": ["pl-PL"], "ru": ["ru-RU"],
            "zh": ["zh-CN", "zh-TW"], "fr": ["fr-FR"], "it": ["it-IT"], "nl": ["nl-NL"],
            "cs": ["cs-CZ"], "pt": ["pt-BR"], "ja": ["ja-JP"], "ar": ["ar-MA"]}
    for lang, dirs in book.items():
        out.append(("debian-handbook-" + lang, "debian-handbook", "html",
                    ["/usr/share/doc/debian-handbook/html/%s/*.html" % d for d in dirs]))
    return out


EXTRA_SOURCES += _translations()

PACKAGES = sorted({s[1] for s in SOURCES})
EXTRA_PACKAGES = sorted({s[1] for s in EXTRA_SOURCES})
_DEFAULT_NAMES = {s[0] for s in SOURCES}

MIN_DOC = 512
MAX_DOC = 20 * 1024
# Long paragraphs seen before (page footers, licence blurbs) are dropped; short ones (headings
# like "Parameters") are kept, since dropping them would only make documents harder to read.
DEDUP_MIN_PARA = 64

_SKIP_TAGS = {"script", "style", "head", "nav", "footer", "header", "noscript", "svg"}
_SKIP_CLASSES = {
    "navheader", "navfooter", "sphinxsidebar", "related", "footer", "headerlink",
    "rst-footer-buttons", "wy-nav-side", "wy-side-scroll", "breadcrumbs", "toc", "sidebar",
}
_SKIP_ROLES = {"navigation", "search", "contentinfo", "banner"}
_BLOCK_TAGS = {
    "p", "div", "section", "article", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol",
    "dl", "dt", "dd", "pre", "table", "tr", "blockquote", "br", "hr", "td", "th", "figure",
}


class _HTMLText(html.parser.HTMLParser):
    """Collects the visible text of a page, with blank lines between blocks."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = []
        self.skip_tag = None
        self.skip_depth = 0
        self.in_pre = 0

    def handle_starttag(self, tag, attrs):
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth += 1
            return
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        if (tag in _SKIP_TAGS or classes & _SKIP_CLASSES or a.get("role") in _SKIP_ROLES
                or a.get("aria-label") == "source link"):
            self.skip_tag = tag
            self.skip_depth = 1
            return
        if tag == "pre":
            self.in_pre += 1
        if tag in _BLOCK_TAGS:
            self.out.append("\n\n")

    def handle_startendtag(self, tag, attrs):
        if self.skip_tag is None and tag in _BLOCK_TAGS:
            self.out.append("\n\n")

    def handle_endtag(self, tag):
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_tag = None
            return
        if tag == "pre" and self.in_pre:
            self.in_pre -= 1
        if tag in _BLOCK_TAGS:
            self.out.append("\n\n")

    def handle_data(self, data):
        if self.skip_tag is not None:
            return
        if self.in_pre:
            self.out.append(data)
        else:
            self.out.append(re.sub(r"\s+", " ", data))


def _html_text(raw):
    p = _HTMLText()
    p.feed(raw)
    p.close()
    return "".join(p.out)


_ROFF_FONT = re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)")
_ROFF_ESC = {"\\-": "-", "\\(em": "\u2014", "\\(en": "\u2013", "\\(aq": "'", "\\(dq": '"',
             "\\(Fo": "\u00ab", "\\(Fc": "\u00bb", "\\(bu": "\u2022", "\\e": "\\", "\\ ": " ",
             "\\~": " ", "\\&": "", "\\,": "", "\\/": "", "\\:": "", "\\%": "", "\\|": "", "\\^": ""}


def _man_text(raw):
    """Plain text of a roff manual page: macro lines dropped (their words kept for the font
    macros), font changes and the common escapes removed, blank lines between paragraphs."""
    out = []
    for line in raw.split("\n"):
        if line.startswith(('.\\"', "'\\\"", '.\\\"')):
            continue
        if line.startswith((".", "'")):
            m = re.match(r"[.'][ \t]*([A-Za-z]+)[ \t]*(.*)", line)
            if not m:
                continue
            mac, rest = m.group(1), m.group(2)
            if mac in ("B", "I", "BR", "BI", "IB", "IR", "RI", "RB", "SM", "SB"):
                out.append(rest.replace('"', ""))
            elif mac in ("SH", "SS"):
                out.append("\n" + rest.replace('"', "") + "\n")
            elif mac in ("PP", "P", "LP", "TP", "IP", "HP", "sp", "br"):
                out.append("")
            continue
        out.append(line)
    text = "\n".join(out)
    text = _ROFF_FONT.sub("", text)
    for k, v in _ROFF_ESC.items():
        text = text.replace(k, v)
    return re.sub(r"\\\*?\(..|\\\*\[[^\]]*\]|\\\[[^\]]*\]", "", text)


def _read(path, how):
    if path.endswith((".gz", ".dz")):
        with gzip.open(path, "rb") as f:
            data = f.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    text = data.decode("utf-8", errors="replace")
    if how == "html":
        text = _html_text(text)
    elif how == "man":
        text = _man_text(text)
    elif how == "dict":
        # dictd headers ("00-database-info" etc.) are metadata, not prose
        text = re.sub(r"^00-?database-[^\n]*\n(?:[ \t][^\n]*\n)*", "", text, flags=re.M)
    return text


def _paragraphs(text):
    """Split into paragraphs: runs of non-blank lines, trailing blanks trimmed."""
    text = text.replace("\r\n", "\n").replace("\u00b6", "")
    for para in re.split(r"\n[ \t]*\n+", text):
        lines = [ln.rstrip() for ln in para.split("\n")]
        para = "\n".join(ln for ln in lines if ln.strip())
        if para.strip():
            yield para


def _split_long(para):
    """Cut a paragraph longer than MAX_DOC at line (or, failing that, space) boundaries."""
    while len(para.encode()) > MAX_DOC:
        cut = para.rfind("\n", 0, MAX_DOC // 2)
        if cut <= 0:
            cut = para.rfind(" ", 0, MAX_DOC // 2)
        if cut <= 0:
            cut = MAX_DOC // 2
        yield para[:cut]
        para = para[cut:].lstrip()
    if para:
        yield para


def _source_docs(name, how, globs, rng, seen_para, seen_doc):
    paths = []
    for g in globs:
        paths.extend(glob.glob(g, recursive=True))
    for path in sorted(set(paths)):
        if any(p in path for p in _SKIP_PATHS):
            continue
        try:
            text = _read(path, how)
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        target = _doc_target(rng)
        cur, cur_len = [], 0
        for para in _paragraphs(text):
            for piece in _split_long(para):
                if len(piece) >= DEDUP_MIN_PARA:
                    h = hashlib.blake2b(piece.encode(), digest_size=8).digest()
                    if h in seen_para:
                        continue
                    seen_para.add(h)
                plen = len(piece.encode()) + 2
                if cur and cur_len + plen > MAX_DOC:
                    yield from _emit(cur, seen_doc)
                    cur, cur_len, target = [], 0, _doc_target(rng)
                cur.append(piece)
                cur_len += plen
                if cur_len >= target:
                    yield from _emit(cur, seen_doc)
                    cur, cur_len, target = [], 0, _doc_target(rng)
        if cur_len >= MIN_DOC:
            yield from _emit(cur, seen_doc)


def _doc_target(rng):
    # log-uniform between 0.5 KB and 20 KB: many short documents, some long ones, like web text
    return int(MIN_DOC * (MAX_DOC / MIN_DOC) ** rng.random())


def _emit(paras, seen_doc):
    doc = "\n\n".join(paras)
    h = hashlib.blake2b(doc.encode(), digest_size=16).digest()
    if h in seen_doc or len(doc.encode()) < MIN_DOC // 2:
        return
    seen_doc.add(h)
    yield doc


def extract(sources=None, seed=1):
    """Yield (source name, document) freshly extracted from the installed packages."""
    want = set(sources) if sources else None
    rng = random.Random(seed)
    seen_para, seen_doc = set(), set()
    for name, pkg, how, globs in SOURCES + EXTRA_SOURCES:
        if (name not in want) if want is not None else (name not in _DEFAULT_NAMES):
            continue
        n = 0
        for doc in _source_docs(name, how, globs, rng, seen_para, seen_doc):
            n += 1
            yield name, doc
        if n == 0:
            print(f"textsource: warning: no text from {name} (package {pkg} installed?)",
                  file=sys.stderr)


def documents(cache_dir, sources=None, seed=1, max_bytes=None):
    """Yield documents (str), in a fixed order, from the cache in `cache_dir` (built on first use).

    sources: names from SOURCES (None: all). max_bytes: stop once this many UTF-8 bytes were
    yielded (the cache still holds everything extracted)."""
    names = [s[0] for s in SOURCES + EXTRA_SOURCES
             if (s[0] in sources if sources else s[0] in _DEFAULT_NAMES)]
    key = ",".join(names)
    tag = hashlib.blake2b(f"{CACHE_VERSION}:{key}:{seed}".encode(), digest_size=6).hexdigest()
    path = os.path.join(cache_dir, f"textsource-{tag}.cache")
    if not os.path.exists(path):
        os.makedirs(cache_dir, exist_ok=True)
        tmp = path + f".tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            for name, doc in extract(sources, seed):
                f.write(json.dumps(doc, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    total = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            yield doc
            total += len(doc.encode())
            if max_bytes is not None and total >= max_bytes:
                return


def _main():
    import argparse

    ap = argparse.ArgumentParser(description="Extract real text and print statistics per source.")
    ap.add_argument("--source", action="append", help="source name (repeatable; default all)")
    ap.add_argument("--dump", action="store_true", help="print documents separated by form feeds")
    args = ap.parse_args()
    stats = {}
    for name, doc in extract(args.source):
        n, b = stats.get(name, (0, 0))
        stats[name] = (n + 1, b + len(doc.encode()))
        if args.dump:
            sys.stdout.write(doc + "\n\f\n")
    if not args.dump:
        tn = tb = 0
        for name, (n, b) in stats.items():
            print(f"{name:16} {n:8d} docs {b / 1e6:9.1f} MB")
            tn, tb = tn + n, tb + b
        print(f"{'total':16} {tn:8d} docs {tb / 1e6:9.1f} MB")


if __name__ == "__main__":
    _main()
