#!/bin/sh
# test_report_html.sh - OUT/report.html in Debian's headless Chromium: a scan with a trigger,
# clusters and damaged files writes it next to report.json; it loads with no console message
# (the check is shown to catch one on a page that logs), holds the chart and every trigger of
# report.json (recovered exactly from the DOM), every cluster and damaged file, loads nothing
# from anywhere; a hostile report (markup and direction overrides in patterns, snippets, file
# names) adds no element and runs nothing. The screenshot stays in BUILD/artifacts/report.png.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

command -v chromium >/dev/null || fail "Debian's chromium is not installed (make deps)"
ARTIFACTS=$(cd "$(dirname "$BIN")" && pwd)/artifacts
mkdir -p "$ARTIFACTS"
# Chromium's sandbox needs user namespaces that a root shell in a container does not give it
SANDBOX=""
[ "$(id -u)" = 0 ] && SANDBOX=--no-sandbox

# chrome OUT_PREFIX URL [flags...]: run headless Chromium on URL; DOM in OUT_PREFIX.dom, its
# console messages (and only those) in OUT_PREFIX.console
chrome() {
	_out=$1
	_url=$2
	shift 2
	# shellcheck disable=SC2086 # $SANDBOX is empty or one flag
	timeout -k 5 $((180 * SLOW)) chromium --headless=new $SANDBOX --disable-gpu --no-first-run \
		--user-data-dir="$T/chrome" --enable-logging=stderr --v=0 --hide-scrollbars "$@" \
		"$_url" >"$_out.dom" 2>"$_out.log" || fail "chromium exited $? on $_url: $(tail -n 5 "$_out.log")"
	grep 'CONSOLE' "$_out.log" >"$_out.console" || true
}

# the console check catches a console message when there is one
printf '<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title></head><body><script>console.error("boom")</script></body></html>\n' >"$T/control.html"
chrome "$T/control" "file://$T/control.html" --dump-dom
grep -q boom "$T/control.console" || fail "the console check did not see a console error"

# a corpus with a trigger and damaged files (integ) and near-duplicate clusters
gen_integ "$T/corpus"
python3 "$PS_SOURCE_DIR/tools/gen_clusters.py" --out "$T/clusters" --cache "$TEXT_CACHE" \
	--docs 600 --banner 120 --shards 16 >"$T/gen2.out" 2>&1 || fail "cluster corpus: $(cat "$T/gen2.out")"
rm -f "$T/clusters/expected.json"
st=$(run_rc "$BIN" scan --workers 2 --out "$T/out" "$T/corpus" "$T/clusters")
assert_eq "$st" 1 "scan exit status (flagged)"
[ -s "$T/out/report.html" ] || fail "no report.html next to report.json"
R=$T/out/report.json
[ "$(json_get "$R" "len(d['triggers'])")" -ge 1 ] || fail "the report has no trigger"
[ "$(json_get "$R" "len(d['clusters'])")" -ge 1 ] || fail "the report has no cluster"
[ "$(json_get "$R" "len(d['error_files'])")" -ge 1 ] || fail "the report has no damaged file"

# self-contained: nothing to fetch (the SVG namespace names, it does not load)
if sed 's|xmlns="http://www.w3.org/2000/svg"||' "$T/out/report.html" |
	grep -E -i -q 'https?:|src=|<link|<script|@import|url\('; then
	fail "report.html refers to something outside itself"
fi

chrome "$T/page" "file://$T/out/report.html" --dump-dom
[ ! -s "$T/page.console" ] || fail "console messages: $(cat "$T/page.console")"
chrome "$T/shot" "file://$T/out/report.html" --window-size=1280,3200 --screenshot="$ARTIFACTS/report.png"
[ ! -s "$T/shot.console" ] || fail "console messages (screenshot): $(cat "$T/shot.console")"

python3 - "$T/page.dom" "$R" "$ARTIFACTS/report.png" <<'PYEOF' || fail "the DOM lacks what report.json has"
import json, struct, sys
from html.parser import HTMLParser

class Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.by_class = [], {}
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        for c in (a.get("class") or "").split():
            self.by_class.setdefault(c, []).append((tag, a))

dom = Dom()
dom.feed(open(sys.argv[1], encoding="utf-8").read())
rep = json.load(open(sys.argv[2], encoding="utf-8"))
ids = {a.get("id") for _, a in dom.tags}
for section in ("verdict", "summary", "chart", "triggers", "candidates", "clusters", "errors"):
    assert section in ids, "no #%s" % section
assert [t for t, a in dom.tags if a.get("id") == "chart"] == ["svg"], "the chart is not an svg"

def patterns(cls, tag):
    return sorted(json.loads(a["data-pattern-json"]) for t, a in dom.by_class.get(cls, []) if t == tag)

want = sorted(t["pattern"] for t in rep["triggers"])
assert patterns("trigger", "section") == want, (patterns("trigger", "section"), want)
assert patterns("trigger", "circle") == want, (patterns("trigger", "circle"), want)
points = len(rep["triggers"]) + len(rep["suppressed"]) + len(rep["candidates"])
assert len(dom.by_class.get("pt", [])) == points, (len(dom.by_class.get("pt", [])), points)
assert len(dom.by_class.get("cluster", [])) == len(rep["clusters"])
assert len(dom.by_class.get("error-file", [])) == min(len(rep["error_files"]), 1000)
assert not [t for t, _ in dom.tags if t in ("script", "img", "iframe", "object", "link")]

png = open(sys.argv[3], "rb").read()
assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", png[16:24])
assert (w, h) == (1280, 3200) and len(png) > 50000, (w, h, len(png))
print("DOM: chart with %d points, %d trigger(s) %s, %d clusters, %d damaged files; screenshot %dx%d, %d bytes"
      % (points, len(want), want, len(rep["clusters"]), len(rep["error_files"]), w, h, len(png)),
      file=sys.stderr)
PYEOF
log "ok: report.html loads cleanly with every trigger; screenshot in $ARTIFACTS/report.png"

# a hostile report: markup and direction overrides where the corpus speaks
python3 - "$R" "$T/hostile.json" <<'PYEOF'
import json, sys
rep = json.load(open(sys.argv[1], encoding="utf-8"))
evil = '</script><script>console.error("pwned")</script><img src=x onerror=console.error(1)>\u202e\u200bZ'
t = rep["triggers"][0]
t["pattern"] = evil
for ex in t["examples"]:
    ex["snippet"] = "before " + evil + " after <style>body{display:none}</style>"
    ex["id"] = "<b>id</b>"
rep["error_files"][0]["file"] = '<iframe src="http://example.com/"></iframe>'
rep["clusters"][0]["representative"]["snippet"] = "<link rel=stylesheet href=http://example.com/x.css>"
json.dump(rep, open(sys.argv[2], "w", encoding="utf-8"))
PYEOF
"$BIN" html "$T/hostile.json" "$T/hostile.html" >/dev/null || fail "poisonscan html exited $?"
chrome "$T/hostile" "file://$T/hostile.html" --dump-dom
[ ! -s "$T/hostile.console" ] || fail "the hostile page ran or loaded something: $(cat "$T/hostile.console")"
python3 - "$T/hostile.dom" <<'PYEOF' || fail "the hostile report added elements"
import json, sys
from html.parser import HTMLParser
class Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.patterns = [], []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "section" and "data-pattern-json" in a:
            self.patterns.append(json.loads(a["data-pattern-json"]))
d = Dom()
d.feed(open(sys.argv[1], encoding="utf-8").read())
bad = [t for t in d.tags if t in ("script", "img", "iframe", "link", "b")]
assert not bad, bad
assert d.tags.count("style") == 1, d.tags.count("style")
assert d.patterns[0].endswith('\u202e\u200bZ') and d.patterns[0].startswith("</script>"), d.patterns
PYEOF
log "ok: a hostile report adds no element and runs nothing"
log "PASS"
