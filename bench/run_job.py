#!/usr/bin/env python3
"""run_job - the whole job as a user runs it: `poisonscan scan` against a private redis-server,
per corpus, with what Redis held and what it was sent.

  bench/run_job.py CORPUS... [--build build] [--workers 1] [--md docs/performance.md]
                   [--section "Whole job (make bench)"]

For each corpus directory: `zstd -dc` over its files (one thread, the reference speed), then
`poisonscan scan --workers N --redis unix://... --out TMP CORPUS`, with a fresh redis-server each
time. Printed and (with --md) recorded as a table: decompressed bytes (report.json), job time,
MB/s and its ratio to zstd -dc, Redis peak used_memory (INFO; an empty server holds ~1 MB) and its
share of the corpus and bytes per GB, commands and bytes sent to Redis per GB, and the time
spent in each pass (from the coordinator's log). Timings on a shared machine are noisy; the
memory and traffic columns are not.

  bench/run_job.py --pair CORPUS... [--build build] [--md FILE --section S]

instead splits each corpus's files in two halves, scans both at once with `--workers 1` (each its
own coordinator and redis-server), then the whole with `--workers 2` through one coordinator,
and prints both wall times and their ratio (issue 11: at least 0.95x).
"""

import argparse
import datetime
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time


def redis_info(sock):
    out = subprocess.run(["redis-cli", "-s", sock, "info", "all"], capture_output=True,
                         text=True, check=True).stdout
    info = {}
    for line in out.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            info[k] = v.strip()
    return info


def start_redis(tmp):
    sock = os.path.join(tmp, "redis.sock")
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock,
                             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                             "--dir", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        r = subprocess.run(["redis-cli", "-s", sock, "ping"], capture_output=True, text=True)
        if r.stdout.strip() == "PONG":
            return proc, sock
        time.sleep(0.05)
    proc.kill()
    sys.exit("run_job: redis-server did not start")


def corpus_files(d):
    return sorted(f for f in glob.glob(os.path.join(d, "**", "*"), recursive=True)
                  if os.path.isfile(f) and re.search(r"\.(jsonl|jsonl\.zst|jsonl\.gz)$", f))


def zstd_seconds(files):
    """One decompressor process over many files, as `zstd -dc shard-*.zst` runs: a process per
    file would time its start-up too (0.2-1 s over 128 small shards, more than the
    decompression itself), which flattered the ratio until session 34."""
    t0 = time.time()
    for tool, suffix in ((["zstd", "-q", "-dc"], ".zst"), (["gzip", "-dc"], ".gz"), (["cat"], None)):
        group = [f for f in files if (f.endswith(suffix) if suffix else
                                      not f.endswith((".zst", ".gz")))]
        for i in range(0, len(group), 512):
            subprocess.run(tool + group[i:i + 512], stdout=subprocess.DEVNULL, check=True)
    return time.time() - t0


def watch_memory(sock, job, stop, peaks):
    """Largest used_memory seen in each pass (meta's pass field), sampled every 0.2 s."""
    key = "poisonscan:{%s}:meta" % job
    while not stop.wait(0.2):
        r = subprocess.run(["redis-cli", "-s", sock, "eval",
                            "return {redis.call('hget', KEYS[1], 'pass') or '0', "
                            "redis.call('info', 'memory')}", "1", key],
                           capture_output=True, text=True)
        lines = r.stdout.split("\n")
        if r.returncode != 0 or not lines or not lines[0].strip().isdigit():
            continue
        m = re.search(r"used_memory:(\d+)", r.stdout)
        if m:
            p = int(lines[0])
            peaks[p] = max(peaks.get(p, 0), int(m.group(1)))


PASS_RE = re.compile(r"^(\S+)Z .*pass (\d) collected")
AGG_RE = re.compile(r"pass (\d) collected: .* aggregate (\d+) KB")


def pass_aggregates(log):
    """The coordinator's aggregate of each pass in KB (what it holds in memory), from its log."""
    return {int(m.group(1)): int(m.group(2)) for m in AGG_RE.finditer(log)}


def pass_seconds(log, t_start):
    """Seconds from the job's start to each pass's end, from the coordinator's log lines."""
    ends = {}
    for line in log.splitlines():
        m = PASS_RE.match(line)
        if m:
            t = datetime.datetime.fromisoformat(m.group(1)).replace(
                tzinfo=datetime.timezone.utc).timestamp()
            ends[int(m.group(2))] = t - t_start
    out, prev = {}, 0.0
    for p in sorted(ends):
        out[p] = ends[p] - prev
        prev = ends[p]
    return out


def run_one(binary, corpus, workers, extra):
    files = corpus_files(corpus)
    if not files:
        sys.exit("run_job: no input files in %s" % corpus)
    zs = zstd_seconds(files)
    tmp = tempfile.mkdtemp(prefix="ps-job-")
    proc, sock = start_redis(tmp)
    try:
        out = os.path.join(tmp, "out")
        cmd = [binary, "scan", "--workers", str(workers), "--log-level", "info", "--redis",
               "unix://" + sock, "--job", "bench", "--out", out] + extra + [corpus]
        stop, peaks = threading.Event(), {}
        watcher = threading.Thread(target=watch_memory, args=(sock, "bench", stop, peaks))
        watcher.start()
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        secs = time.time() - t0
        stop.set()
        watcher.join()
        if r.returncode not in (0, 1, 2):
            sys.stderr.write(r.stderr[-4000:])
            sys.exit("run_job: scan exited %d on %s" % (r.returncode, corpus))
        info = redis_info(sock)
        with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
            rep = json.load(f)
    finally:
        subprocess.run(["redis-cli", "-s", sock, "shutdown", "nosave"], capture_output=True)
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    nbytes = rep["corpus"]["bytes"]
    gb = nbytes / 1e9
    peak = int(info["used_memory_peak"])
    return {
        "corpus": os.path.basename(os.path.normpath(corpus)),
        "bytes": nbytes,
        "seconds": secs,
        "zstd_seconds": zs,
        "peak": peak,
        "commands": int(info["total_commands_processed"]),
        "net_in": int(info["total_net_input_bytes"]),
        "passes": pass_seconds(r.stderr, t0),
        "pass_peaks": peaks,
        "aggregates": pass_aggregates(r.stderr),
        "triggers": len(rep.get("triggers", [])),
        "selection": rep.get("selection", {}),
        "gb": gb,
    }


def start_scan(binary, corpus, workers, tmp):
    """A `poisonscan scan` of corpus against a fresh private redis-server in tmp, started."""
    proc, sock = start_redis(tmp)
    cmd = [binary, "scan", "--workers", str(workers), "--redis", "unix://" + sock,
           "--job", "bench", "--out", os.path.join(tmp, "out"), corpus]
    return proc, sock, subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)


def finish_scan(proc, sock, scan):
    err = scan.communicate()[1]
    subprocess.run(["redis-cli", "-s", sock, "shutdown", "nosave"], capture_output=True)
    proc.wait(timeout=30)
    if scan.returncode not in (0, 1, 2):
        sys.stderr.write(err[-4000:])
        sys.exit("run_job: scan exited %d" % scan.returncode)


def run_pair(binary, corpus):
    """Issue 11's scaling row: the corpus's files split in two halves (alternate files), each
    scanned by `--workers 1` with its own coordinator and redis-server, both at once (the wall
    time until the later ends); then the whole corpus by `--workers 2` through one coordinator.
    The ratio of the two times is what one coordinator keeps of two independent runs."""
    files = corpus_files(corpus)
    if len(files) < 2:
        sys.exit("run_job: --pair needs 2 or more files in %s" % corpus)
    tmp = tempfile.mkdtemp(prefix="ps-pair-")
    try:
        halves = []
        for h in range(2):
            d = os.path.join(tmp, "half%d" % h, "corpus")
            os.makedirs(d)
            for i, f in enumerate(files[h::2]):
                os.symlink(os.path.abspath(f), os.path.join(d, "%05d-%s" % (i, os.path.basename(f))))
            halves.append(d)
        t0 = time.time()
        runs = [start_scan(binary, d, 1, os.path.dirname(d)) for d in halves]
        for r in runs:
            finish_scan(*r)
        sides = time.time() - t0
        whole = os.path.join(tmp, "whole")
        os.makedirs(whole)
        t0 = time.time()
        finish_scan(*start_scan(binary, os.path.abspath(corpus), 2, whole))
        pair = time.time() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    name = os.path.join(*os.path.normpath(os.path.abspath(corpus)).split(os.sep)[-2:])
    return {"corpus": name, "sides": sides, "pair": pair}


def pair_table(rows):
    lines = ["| corpus | two `--workers 1` runs on the halves, side by side, s | `--workers 2`, one "
             "coordinator, s | ratio (target >= 0.95) |", "|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %.1f | %.1f | %.2fx |" % (r["corpus"], r["sides"], r["pair"],
                                                        r["sides"] / r["pair"]))
    return "\n".join(lines)


def table(rows, workers):
    head = ("| corpus | decompressed MB | job s | job MB/s | vs zstd -dc | Redis peak MB | "
            "peak / corpus | Redis MB per GB | commands per GB | MB sent per GB | "
            "pass seconds (1/2/3/4) | Redis MB by pass (1/2/3/4) | aggregate MB by pass (1/2/3/4) | "
            "patterns counted (confirm / leads; of eligible) |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        mbs = r["bytes"] / r["seconds"] / 1e6
        zmbs = r["bytes"] / r["zstd_seconds"] / 1e6
        passes = "/".join("%.0f" % r["passes"].get(p, 0) for p in (1, 2, 3, 4))
        by_pass = "/".join("%.1f" % (r["pass_peaks"].get(p, 0) / 1e6) for p in (1, 2, 3, 4))
        aggs = "/".join("%.1f" % (r["aggregates"].get(p, 0) * 1024 / 1e6) for p in (1, 2, 3, 4))
        sel = " / ".join("%d of %d" % (r["selection"][p]["counted"], r["selection"][p]["eligible"])
                         if p in r["selection"] else "-" for p in ("confirm", "leads"))
        lines.append("| %s | %.0f | %.1f | %.1f | %.3fx | %.1f | %.2f %% | %.0f | %.0f | %.0f | %s "
                     "| %s | %s | %s |"
                     % (r["corpus"], r["bytes"] / 1e6, r["seconds"], mbs, mbs / zmbs,
                        r["peak"] / 1e6, 100.0 * r["peak"] / r["bytes"], r["peak"] / 1e6 / r["gb"],
                        r["commands"] / r["gb"], r["net_in"] / 1e6 / r["gb"], passes, by_pass, aggs,
                        sel))
    return "\n".join(lines)


def record(md, section, text):
    try:
        doc = open(md, encoding="utf-8").read()
    except FileNotFoundError:
        doc = "# Performance\n"
    block = "## %s\n\n%s\n" % (section, text)
    pat = re.compile(r"^## %s\n.*?(?=^## |\Z)" % re.escape(section), re.S | re.M)
    if pat.search(doc):
        doc = pat.sub(lambda m: block + "\n", doc, count=1).rstrip("\n") + "\n"
    else:
        doc = doc.rstrip("\n") + "\n\n" + block
    open(md, "w", encoding="utf-8").write(doc)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="+")
    ap.add_argument("--build", default=os.environ.get("PS_BENCH_BUILD", "build"))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--md", help="record the table in this Markdown file")
    ap.add_argument("--section", default="Whole job (make bench)")
    ap.add_argument("--scan-arg", action="append", default=[],
                    help="an extra option for poisonscan scan (repeatable)")
    ap.add_argument("--pair", action="store_true",
                    help="instead: 2 workers through one coordinator against two single runs "
                         "side by side on the halves of each corpus")
    args = ap.parse_args()
    binary = os.path.join(args.build, "poisonscan")
    if args.pair:
        text = pair_table([run_pair(binary, c) for c in args.corpus])
        print(text)
        if args.md:
            record(args.md, args.section, "%s; `bench/run_job.py --pair %s`.\n\n%s" % (
                datetime.date.today().isoformat(), " ".join(args.corpus), text))
            print("recorded in %s" % args.md)
        return
    rows = [run_one(binary, c, args.workers, args.scan_arg) for c in args.corpus]
    text = table(rows, args.workers)
    info = ("%s; `poisonscan scan --workers %d` with a private redis-server per corpus; "
            "Redis peak = INFO used_memory_peak (an empty server: ~1 MB); commands and bytes "
            "sent = INFO total_commands_processed and total_net_input_bytes; "
            "zstd -dc = one thread over the same files; Redis MB by pass = the largest used_memory sampled every 0.2 s while meta's pass field said that pass; aggregate = the coordinator's merged state of each pass (its log); command: `bench/run_job.py %s`"
            % (datetime.date.today().isoformat(), args.workers, " ".join(args.corpus)))
    print(text)
    if args.md:
        record(args.md, args.section, info + ".\n\n" + text)
        print("recorded in %s" % args.md)


if __name__ == "__main__":
    main()
