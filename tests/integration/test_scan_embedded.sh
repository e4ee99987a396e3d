#!/bin/sh
# test_scan_embedded.sh - `poisonscan scan` with its embedded Redis and workers: exact counts and
# the documented exit codes (0 clean, 1 flagged, 2 input errors only, 3 usage, 4 infrastructure).
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/corpus"
assert_eq "$(run_rc "$BIN" scan --workers 2 --out "$T/out" "$T/corpus")" 1 "scan of poisoned corpus exit"
check_report "$T/out" "$T/corpus.expected.json"
[ -s "$T/run.out" ] || fail "scan printed no summary"

gen_integ "$T/clean" --seed 2 --poison 0 --no-bad
assert_eq "$(run_rc "$BIN" scan --workers 2 --out "$T/out-clean" "$T/clean")" 0 "scan of clean corpus exit"
check_report "$T/out-clean" "$T/clean.expected.json"

gen_integ "$T/badrec" --seed 3 --poison 0
assert_eq "$(run_rc "$BIN" scan --workers 2 --out "$T/out-bad" "$T/badrec")" 2 \
	"scan of clean corpus with bad records exit"
check_report "$T/out-bad" "$T/badrec.expected.json"

assert_eq "$(run_rc "$BIN" scan --no-such-option "$T/clean")" 3 "scan with a bad option exit"
[ -s "$T/run.log" ] || fail "bad option gave no message"

assert_eq "$(run_rc "$BIN" scan --redis redis://127.0.0.1:1 --redis-retry "$(secs 2)" --out "$T/o5" "$T/clean")" 4 \
	"scan with unreachable Redis exit"
[ -s "$T/run.log" ] || fail "unreachable Redis gave no message"
log "PASS"
