#!/bin/sh
# test_metrics.sh - the coordinator's /metrics, scraped every 0.2 s during a distributed scan:
# each scrape parses with the Prometheus client library's parser (Debian's
# python3-prometheus-client) and follows the naming conventions, counters never go down, a scrape
# in the middle of pass 1 shows a partial count, and the last scrape (the job done) shows the
# report's figures: documents, input bytes, shards, input errors, damaged files, flagged triggers
# and documents.
set -eu
# shellcheck source=tests/integration/lib.sh
. "$PS_SOURCE_DIR/tests/integration/lib.sh"

PY=/usr/bin/python3 # Debian's, where python3-prometheus-client is installed
"$PY" -c 'import prometheus_client.parser' 2>/dev/null ||
	fail "Debian's python3-prometheus-client is not installed (make deps)"

gen_integ "$T/corpus"
JOB=mtjob
start_bg coordinator "$BIN" coordinator --redis "$REDIS_URL" --bind "ipc://$T/coord.ipc" \
	--job $JOB --out "$T/out" --shard-size 256K --metrics 127.0.0.1:0 "$T/corpus"
metrics_url() { sed -n "s/.*metrics at '\(http[^']*\)'.*/\1/p" "$T/coordinator.log" | head -n 1; }
wait_for sh -c "grep -q 'metrics at' '$T/coordinator.log'" 60
URL=$(metrics_url)
log "scraping $URL"

cat >"$T/scrape.py" <<'PYEOF'
import sys, time, urllib.request
url, out, deadline = sys.argv[1], sys.argv[2], time.time() + float(sys.argv[3])
n = 0
while time.time() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            assert r.status == 200, r.status
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
            body = r.read().decode("utf-8")
    except (ConnectionError, OSError):
        if n > 0:
            break  # the coordinator is gone
        time.sleep(0.1)
        continue
    n += 1
    with open("%s/%05d.prom" % (out, n), "w", encoding="utf-8") as f:
        f.write(body)
    time.sleep(0.2)
print("%d scrapes" % n, file=sys.stderr)
PYEOF
mkdir "$T/scrapes"
start_bg scraper "$PY" "$T/scrape.py" "$URL" "$T/scrapes" $((300 * SLOW))

# two slow workers: pass 1 lasts long enough to be seen in the middle
for i in 1 2; do
	start_bg "worker$i" "$BIN" worker --connect "ipc://$T/coord.ipc" --redis "$REDIS_URL" \
		--fault-delay-ms $((100 * SLOW))
done
assert_eq "$(wait_exit coordinator 300)" 0 "coordinator exit status"
assert_eq "$(wait_exit scraper 60)" 0 "scraper exit status"
check_report "$T/out" "$T/corpus.expected.json"

"$PY" - "$T/scrapes" "$T/out" <<'PYEOF' || fail "metrics check"
import json, os, re, sys
from prometheus_client.parser import text_string_to_metric_families

d, out = sys.argv[1], sys.argv[2]
files = sorted(os.listdir(d))
assert len(files) >= 5, "only %d scrapes" % len(files)
name_re = re.compile(r"^poisonscan_[a-z0-9_]+$")

def load(path):
    text = open(os.path.join(d, path), encoding="utf-8").read()
    samples, types = {}, {}
    for fam in text_string_to_metric_families(text):
        assert name_re.match(fam.name), fam.name
        assert fam.documentation, "%s has no HELP" % fam.name
        types[fam.name] = fam.type
        for s in fam.samples:
            key = s.name + "".join('{%s="%s"}' % kv for kv in sorted(s.labels.items()))
            samples[key] = s.value
    # conventions: counters end in _total (the parser drops the suffix from the family name)
    for line in text.splitlines():
        if line.startswith("# TYPE ") and line.endswith(" counter"):
            assert line.split()[2].endswith("_total"), line
        if line.startswith("# TYPE ") and line.endswith(" gauge"):
            assert not line.split()[2].endswith("_total"), line
    return samples, types

scrapes = [load(f) for f in files]
counters = [k for k in scrapes[-1][0] if "_total" in k]
assert len(counters) >= 14, counters
for (a, _), (b, _) in zip(scrapes, scrapes[1:]):
    for k in counters:
        assert b.get(k, 0) >= a.get(k, 0), "counter %s went down: %s -> %s" % (k, a.get(k), b.get(k))

docs_key = 'poisonscan_documents_read_total{pass="scan"}'
rep = json.load(open(os.path.join(out, "report.json"), encoding="utf-8"))
final = scrapes[-1][0]
total_docs = rep["corpus"]["documents"]
middle = [s for s, _ in scrapes if 0 < s.get(docs_key, 0) < total_docs
          and s['poisonscan_job_state{state="running"}'] == 1]
assert middle, "no scrape in the middle of pass 1"
assert max(s["poisonscan_workers"] for s, _ in scrapes) == 2
assert any(s["poisonscan_input_bytes_per_second"] > 0 for s in middle)

failed_files = [f for f in rep["error_files"] if f.get("shard_failed")]
want = {
    'poisonscan_job_state{state="done"}': 1,
    'poisonscan_report_written': 1,
    docs_key: total_docs,
    'poisonscan_input_bytes_total{pass="scan"}': rep["corpus"]["bytes"],
    'poisonscan_shards_done_total{pass="scan"}': rep["corpus"]["shards"] - rep["corpus"]["shards_failed"],
    'poisonscan_shards_done_total{pass="confirm"}': rep["corpus"]["shards"] - rep["corpus"]["shards_failed"],
    'poisonscan_plan_shards': rep["corpus"]["shards"],
    'poisonscan_shards_failed_total': rep["corpus"]["shards_failed"],
    'poisonscan_input_errors_total': rep["errors_total"] - rep["corpus"]["shards_failed"],
    'poisonscan_damaged_files': len(rep["error_files"]) - len(failed_files),
    'poisonscan_triggers_flagged': len(rep["triggers"]),
    'poisonscan_triggers_suppressed': len(rep["suppressed"]),
    'poisonscan_documents_flagged': sum(1 for l in open(os.path.join(out, "flagged.jsonl")) if l.strip()),
    'poisonscan_shards_in_flight': 0,
}
for k, v in want.items():
    assert final.get(k) == v, "final %s = %s, the report says %s" % (k, final.get(k), v)
assert final["poisonscan_triggers_flagged"] > 0 and final["poisonscan_damaged_files"] > 0
print("%d scrapes, %d in the middle of pass 1; final figures equal the report's (%d documents, "
      "%d triggers)" % (len(scrapes), len(middle), total_docs, final["poisonscan_triggers_flagged"]),
      file=sys.stderr)
PYEOF
log "ok: /metrics rose to the report's figures"

# a bad or busy address is a configuration error, found before the job starts
st=$(run_rc "$BIN" coordinator --redis "$REDIS_URL" --bind "ipc://$T/c2.ipc" --job bad \
	--out "$T/out2" --metrics nonsense "$T/corpus")
assert_eq "$st" 3 "exit status with --metrics nonsense"
grep -q "expected ADDR:PORT" "$T/run.log" || fail "no reason for the bad --metrics: $(cat "$T/run.log")"
log "PASS"
