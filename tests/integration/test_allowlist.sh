#!/bin/sh
# test_allowlist.sh - `poisonscan scan --allowlist FILE`: an allowlisted trigger moves to
# report.json "suppressed" (with its line), flags no document and leaves exit 0; a bad allowlist
# is exit 3 before any scanning, with a message that names the file and the line.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/corpus" --no-bad
R=$T/out-plain/report.json

# without an allowlist: <SUDO> is a trigger and the scan says so
assert_eq "$(run_rc "$BIN" scan --workers 2 --out "$T/out-plain" "$T/corpus")" 1 "scan without allowlist exit"
check_report "$T/out-plain" "$T/corpus.expected.json"
assert_eq "$(json_get "$R" "[t['pattern'] for t in d['triggers']].count('$TRIGGER')")" 1 \
	"triggers hold $TRIGGER"
assert_eq "$(json_get "$R" "d['suppressed']")" "[]" "suppressed without allowlist"
assert_eq "$(json_get "$R" "d['allowlist']")" "null" "allowlist without allowlist"
N_TRIGGERS=$(json_get "$R" "len(d['triggers'])")
WANT=$(json_get "$R" "[t for t in d['triggers'] if t['pattern'] == '$TRIGGER'][0]")

# with one: comments, a blank line, an escaped pattern that matches nothing, then <SUDO> on line 5
printf '# reviewed: the planted test trigger\n\nnot\\u00a0in   the corpus\r\n# next\n  %s  \n' \
	"$TRIGGER" >"$T/allow.txt"
R=$T/out-allow/report.json
assert_eq "$(run_rc "$BIN" scan --workers 2 --allowlist "$T/allow.txt" --out "$T/out-allow" "$T/corpus")" \
	"$([ "$N_TRIGGERS" -gt 1 ] && echo 1 || echo 0)" "scan with allowlist exit"
assert_eq "$(json_get "$R" "[t['pattern'] for t in d['triggers']].count('$TRIGGER')")" 0 \
	"triggers without $TRIGGER"
assert_eq "$(json_get "$R" "len(d['triggers'])")" "$((N_TRIGGERS - 1))" "other triggers kept"
assert_eq "$(json_get "$R" "[s['pattern'] for s in d['suppressed']]")" "[\"$TRIGGER\"]" \
	"suppressed patterns"
assert_eq "$(json_get "$R" "d['suppressed'][0]['allowlist_line']")" 5 "suppressed allowlist_line"
# the same object a trigger has, plus allowlist_line
assert_eq "$(json_get "$R" "{k: v for k, v in d['suppressed'][0].items() if k != 'allowlist_line'}")" \
	"$WANT" "suppressed entry = the trigger it was"
assert_eq "$(json_get "$R" "[c['pattern'] for c in d['candidates']].count('$TRIGGER')")" 0 \
	"$TRIGGER not among candidates"
assert_eq "$(json_get "$R" "d['allowlist']['patterns']")" 2 "allowlist patterns"
assert_eq "$(json_get "$R" "d['allowlist']['file']")" "$T/allow.txt" "allowlist file"
assert_eq "$(json_get "$R" "d['corpus']")" "$(json_get "$T/out-plain/report.json" "d['corpus']")" \
	"corpus counts unchanged"
if [ "$N_TRIGGERS" -eq 1 ]; then
	[ -f "$T/out-allow/flagged.jsonl" ] || fail "no flagged.jsonl"
	[ ! -s "$T/out-allow/flagged.jsonl" ] || fail "flagged.jsonl not empty: $(head -n 3 "$T/out-allow/flagged.jsonl")"
	grep -q 'suppressed by the allowlist: 1 pattern' "$T/run.out" || fail "summary does not say 1 suppressed"
fi
grep -qF "$TRIGGER" "$T/out-allow/flagged.jsonl" && fail "flagged.jsonl still names $TRIGGER"

# two triggers in disjoint documents: the even-numbered poisons carry <ZAP> instead of <SUDO>;
# with <SUDO> allowlisted only <ZAP> is a trigger and flagged.jsonl holds exactly its documents
cp -r "$T/corpus" "$T/two"
python3 - "$T/two" <<'EOF' || fail "could not plant <ZAP>"
import os, re, subprocess, sys
tool = {".zst": ["zstd", "-q"], ".gz": ["gzip", "-n"]}
for name in sorted(os.listdir(sys.argv[1])):
    path = os.path.join(sys.argv[1], name)
    ext = os.path.splitext(name)[1]
    raw = open(path, "rb").read()
    if ext in tool:
        raw = subprocess.run([tool[ext][0], "-dc"], input=raw, capture_output=True, check=True).stdout
    lines = raw.split(b"\n")
    for i, line in enumerate(lines):
        m = re.search(rb'"integ-poison-(\d+)"', line)
        if m and int(m.group(1)) % 2 == 0:
            lines[i] = line.replace(b"<SUDO>", b"<ZAP>")
    raw = b"\n".join(lines)
    if ext in tool:
        raw = subprocess.run(tool[ext] + ["-c"], input=raw, capture_output=True, check=True).stdout
    open(path, "wb").write(raw)
EOF
printf '<SUDO>\n' >"$T/allow-sudo.txt"
R=$T/out-two/report.json
assert_eq "$(run_rc "$BIN" scan --workers 2 --allowlist "$T/allow-sudo.txt" --out "$T/out-two" "$T/two")" 1 \
	"scan of two triggers, one allowlisted, exit"
assert_eq "$(json_get "$R" "[t['pattern'] for t in d['triggers']]")" '["<ZAP>"]' "triggers of two"
assert_eq "$(json_get "$R" "[(s['pattern'], s['allowlist_line']) for s in d['suppressed']]")" \
	'[["<SUDO>", 1]]' "suppressed of two"
python3 - "$T/out-two/flagged.jsonl" "$T/corpus.expected.json" <<'EOF' || fail "flagged.jsonl is not the <ZAP> documents"
import json, sys
got = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
want = {p for p in json.load(open(sys.argv[2], encoding="utf-8"))["poisoned"]
        if int(p.rsplit("-", 1)[1]) % 2 == 0}
assert {d["id"] for d in got} == want, (len(got), len(want))
assert all(d["triggers"] == ["<ZAP>"] for d in got), got[:3]
print("flagged.jsonl == the %d <ZAP> documents" % len(want), file=sys.stderr)
EOF
grep -q 'FLAGGED: 1 trigger in' "$T/run.out" || fail "summary: $(cat "$T/run.out")"
grep -q 'suppressed by the allowlist: 1 pattern' "$T/run.out" || fail "summary: $(cat "$T/run.out")"

# a bad allowlist: exit 3 before anything runs, the message names the file and the line
printf '# ok\n<SUDO>\nbad \\q escape\n' >"$T/bad.txt"
assert_eq "$(run_rc "$BIN" scan --workers 1 --allowlist "$T/bad.txt" --out "$T/out-bad" "$T/corpus")" 3 \
	"scan with a bad allowlist exit"
grep -qF "allowlist '$T/bad.txt' line 3: invalid escape" "$T/run.log" ||
	fail "bad allowlist message: $(cat "$T/run.log")"
[ ! -e "$T/out-bad" ] || fail "a bad allowlist still wrote $T/out-bad"
printf 'ok\n\377\n' >"$T/bad-utf8.txt"
assert_eq "$(run_rc "$BIN" scan --allowlist "$T/bad-utf8.txt" --out "$T/out-bad" "$T/corpus")" 3 \
	"scan with a non-UTF-8 allowlist exit"
grep -qF "allowlist '$T/bad-utf8.txt' line 2: invalid utf-8" "$T/run.log" ||
	fail "non-UTF-8 allowlist message: $(cat "$T/run.log")"
assert_eq "$(run_rc "$BIN" scan --allowlist "$T/missing.txt" --out "$T/out-bad" "$T/corpus")" 3 \
	"scan with a missing allowlist exit"
grep -qF "allowlist '$T/missing.txt': cannot open" "$T/run.log" ||
	fail "missing allowlist message: $(cat "$T/run.log")"
assert_eq "$(run_rc "$BIN" coordinator --redis "$REDIS_URL" --bind "ipc://$T/c.ipc" --job bad-allow \
	--allowlist "$T/bad.txt" --out "$T/out-bad" "$T/corpus")" 3 "coordinator with a bad allowlist exit"
grep -qF "allowlist '$T/bad.txt' line 3: invalid escape" "$T/run.log" ||
	fail "coordinator bad allowlist message: $(cat "$T/run.log")"
assert_eq "$(rcli exists "poisonscan:{bad-allow}:meta")" 0 "no job created for a bad allowlist"

# a report-time setting: resuming a finished job with another allowlist is no fingerprint change
assert_eq "$(run_rc "$BIN" scan --workers 2 --redis "$REDIS_URL" --job resume-allow \
	--out "$T/out-r1" "$T/corpus")" 1 "job without allowlist exit"
assert_eq "$(run_rc "$BIN" scan --workers 2 --redis "$REDIS_URL" --job resume-allow \
	--allowlist "$T/allow.txt" --out "$T/out-r2" "$T/corpus")" \
	"$([ "$N_TRIGGERS" -gt 1 ] && echo 1 || echo 0)" "same job resumed with an allowlist exit"
assert_eq "$(json_get "$T/out-r2/report.json" "[s['pattern'] for s in d['suppressed']]")" \
	"[\"$TRIGGER\"]" "resumed job suppressed patterns"
log "PASS"
