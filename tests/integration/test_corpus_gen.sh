#!/bin/sh
# test_corpus_gen.sh - the test corpora are what the other tests assume: deterministic for a
# seed, different across seeds, and expected.json agrees with an independent recount.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

gen_integ "$T/a"
gen_integ "$T/b"
diff -r "$T/a" "$T/b" >/dev/null || fail "same seed, different corpus"
cmp -s "$T/a.expected.json" "$T/b.expected.json" || fail "same seed, different expected.json"
gen_integ "$T/c" --seed 7
if diff -r "$T/a" "$T/c" >/dev/null; then fail "seeds 1 and 7 gave the same corpus"; fi

python3 "$PS_SOURCE_DIR/tools/verify_corpus.py" "$T/a" "$T/a.expected.json" >&2 ||
	fail "integ corpus does not match its expected.json"
assert_eq "$(json_get "$T/a.expected.json" "len(d['poisoned'])")" 80 "planted poisons"
assert_eq "$(json_get "$T/a.expected.json" "d['files']")" 64 "files"
assert_eq "$(json_get "$T/a.expected.json" "d['errors'] > 0 and d['no_id_records'] > 0")" true \
	"has bad records and id-less records"
assert_eq "$(json_get "$T/a.expected.json" "d['big_file']['bytes'] > 2 * 262144")" true \
	"big file splits at 256K"
# every container spelling is there: multi-frame zstd, multi-member gzip
MULTI=$(python3 - "$T/a" <<'PYEOF'
import glob, os, sys
def multi(ext, magic):
    return sum(open(f, "rb").read().count(magic) >= 2 for f in glob.glob(os.path.join(sys.argv[1], ext)))
print(multi("*.zst", b"\x28\xb5\x2f\xfd") > 0 and multi("*.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00") > 0)
PYEOF
)
assert_eq "$MULTI" True "has multi-frame .zst and multi-member .gz files"

gen_integ "$T/clean" --poison 0 --no-bad
python3 "$PS_SOURCE_DIR/tools/verify_corpus.py" "$T/clean" "$T/clean.expected.json" >&2 ||
	fail "clean corpus does not match its expected.json"
assert_eq "$(json_get "$T/clean.expected.json" "[d['errors'], len(d['poisoned'])]")" "[0, 0]" \
	"clean corpus has no errors, no poisons"
log "PASS"
