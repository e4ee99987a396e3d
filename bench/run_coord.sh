#!/bin/sh
# run_coord.sh - the coordinator's two figures of issue 11: leases per second handed to 1,000
# simulated workers (build/bench_leases) and the time to plan 100,000 shards (build/bench_plan);
# prints a table and records it in docs/performance.md ("## Coordinator (make bench)").
# usage: bench/run_coord.sh [BENCH_DIR]   (default bench-data/; the plan corpus goes in DIR/plan)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$ROOT/bench-data}
BUILD=${PS_BENCH_BUILD:-$ROOT/build}
PERF_MD=${PS_PERF_MD:-$ROOT/docs/performance.md}

for b in bench_leases bench_plan; do
	[ -x "$BUILD/$b" ] || { echo "run_coord: $BUILD/$b not built (make build)" >&2; exit 2; }
done
mkdir -p "$DIR"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

"$BUILD/bench_leases" --shards 100000 --workers 1000 >"$TMP/leases.out"
cat "$TMP/leases.out" >&2
# the 100,000 small files and 4 big files are written once and kept (warm caches, as a
# coordinator that plans a corpus it has just listed)
"$BUILD/bench_plan" --shards 100000 --runs 3 --dir "$DIR/plan" >"$TMP/plan.out"
cat "$TMP/plan.out" >&2

python3 - "$TMP/leases.out" "$TMP/plan.out" "$PERF_MD" \
	"$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)" "$(nproc)" <<'PYEOF'
import datetime, re, sys

lfile, pfile, md, cpu, ncpu = sys.argv[1:6]

def kv_lines(path, first):
    out = []
    for line in open(path):
        if line.startswith(first + "="):
            out.append(dict(p.split("=", 1) for p in line.split()))
    return out

lease = kv_lines(lfile, "leases")
plans = {p["plan"]: p for p in kv_lines(pfile, "plan")}
if not lease or set(plans) != {"files", "split"}:
    sys.exit("run_coord: a bench printed no result line")
lease = lease[-1]
# "CPU in that time, collector: 0.84 s (8.4 us a lease)": per thread, of the same run
threads = re.findall(r"^CPU in that time, ([^:]+): ([0-9.]+) s \(([0-9.]+) us a lease\)",
                 open(lfile).read(), re.M)
rows = [
    ("leases per second, 1,000 simulated workers (target >= 20,000)",
     "%.0f" % float(lease["leases_per_s"])),
]
for who, _, us in threads:
    rows.append(("  CPU per lease, %s, us" % who, us))
if threads:
    total = sum(float(s) for _, s, _ in threads)
    rows.append(("  CPU of all those threads / wall seconds (of %s vCPUs)" % ncpu,
                 "%.2f" % (total / float(lease["seconds"]))))
for name, what in (("files", "100,000 .jsonl.zst files in folders of 1,000"),
                   ("split", "4 .jsonl files cut into 100,000 shards of 4 KiB")):
    p = plans[name]
    rows.append(("plan of %s, s (target < 5; build + fingerprint + text both ways)" % what,
                 "%.2f" % float(p["total_s"])))
    rows.append(("  of which CPU, s", "%.2f" % float(p["total_cpu_s"])))
w = max(len(r[0]) for r in rows)
for name, val in rows:
    print("%-*s  %s" % (w, name, val))
table = ["| measure | value |", "| --- | ---: |"] + ["| %s | %s |" % (n.strip(), v)
                                                   for n, v in rows]
info = ("%s; bench/run_coord.sh: build/bench_leases --shards 100000 --workers 1000 (first lease "
        "to the last result of pass 1, private redis-server, plain-text ZeroMQ over tcp "
        "loopback), build/bench_plan --shards 100000 --runs 3 (median, warm caches); "
        "%s vCPUs shared with other jobs: wall seconds include their time, CPU seconds do not; "
        "CPU: %s" % (datetime.date.today().isoformat(), ncpu, cpu or "unknown"))
section = "## Coordinator (make bench)\n\n" + info + ".\n\n" + "\n".join(table) + "\n"
try:
    text = open(md, encoding="utf-8").read()
except FileNotFoundError:
    text = "# Performance\n"
head = "## Coordinator (make bench)"
if head in text:
    a = text.index(head)
    b = text.find("\n## ", a + len(head))
    text = text[:a] + section + ("" if b < 0 else text[b:])
else:
    text = text.rstrip("\n") + "\n\n" + section
open(md, "w", encoding="utf-8").write(text)
PYEOF
