#!/usr/bin/env python3
"""Benchmark `etcd-snapshot save --s3` (upload overlapped with the stream) against what k3s
does (save, then upload the file), and `ls --s3` over many objects, against `aws`.

Usage:
  bench/s3_bench.py [--fill 20000,780] [--runs 3] [--warmup 1] [--objects 10000]
                    [--tool .build/release/etcd-snapshot] [--etcd-version 3.5]
                    [--only save|ls] [--server-cpu N] [--tmp-base DIR] [--json FILE]

It starts a throwaway etcd (scripts/etcd-bin.sh) filled with Tests/Fixtures/fill-etcd.py
(--fill N,M: N small keys, M 1-MiB blobs; the default gives about 1 GB) and moto's S3
server with signatures checked (Tests/Servers/moto-s3.py), both on 127.0.0.1. Then, alternating:

  overlapped   TOOL save --s3 ...                   (one process: stream, file, upload)
  sequential   TOOL save  ...;  aws s3 cp FILE s3://bucket/...   (what k3s does: save,
               then upload the file; the aws cli as the tool a user would reach for)

--runs times each after --warmup unmeasured rounds; objects and files are removed after
every run, each of which gets a fresh moto (it keeps objects in memory and slows down as it
grows). Printed: wall time min and median, peak RSS of each process (ru_maxrss), and the
ratio overlapped / sequential. With --server-cpu N moto runs alone on CPU N and everything
else on the other CPUs, as if the store were another machine; without it, all share.

Then --objects snapshot objects, each with a .metadata sidecar, are put in a folder and
`TOOL ls --s3` (the table: list pages only) and `TOOL ls --s3 -o json` (list pages plus
every sidecar) are timed against `aws s3 ls` of the same
folder (list pages only).

moto is the S3 server here: one Python process that keeps objects in memory; its
throughput, not the network, bounds the upload. Real stores behave differently; the
ratio, not the absolute time, is the point. This is a benchmark, not a test: it exits
non-zero if a run fails, but it does not judge the numbers.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from save_bench import (  # noqa: E402  (shared helpers of the save benchmark)
    BenchError, Etcd, State, etcd_bin, log, machine_info, parse_fill, run_measured, tail,
)

REPO = os.path.dirname(HERE)
SCRIPTS = os.path.join(REPO, "scripts")
SERVERS = os.path.join(REPO, "Tests", "Servers")
FIXTURES = os.path.join(REPO, "Tests", "Fixtures")
BUCKET = "bench"


class Moto:
    def __init__(self, workdir, cpu=None):
        self.log_path = os.path.join(workdir, "moto.log")
        logf = open(self.log_path, "ab")
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        self.proc = subprocess.Popen(pin + [sys.executable, os.path.join(SERVERS, "moto-s3.py"), "--port", "0", "--bucket", BUCKET],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=logf, start_new_session=True)
        logf.close()
        line = self.proc.stdout.readline().decode()
        if not line.startswith("{"):
            raise BenchError(f"moto-s3.py did not start:\n{tail(self.log_path)}")
        info = json.loads(line)
        self.endpoint = info["endpoint"]
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID=info["access_key"], AWS_SECRET_ACCESS_KEY=info["secret_key"],
                        AWS_DEFAULT_REGION="us-east-1")
        for k in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
            self.env.pop(k, None)

    def oracle(self, *args):
        r = subprocess.run([sys.executable, os.path.join(SERVERS, "s3-oracle.py"), "--endpoint", f"http://{self.endpoint}",
                            "--bucket", BUCKET, *args], capture_output=True, text=True, env=self.env)
        if r.returncode != 0:
            raise BenchError(f"s3-oracle.py {' '.join(args)} failed: {r.stderr[-2000:]}")
        return json.loads(r.stdout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def s3_flags(moto, folder):
    return ["--s3", "--s3-endpoint", moto.endpoint, "--s3-insecure", "--s3-bucket", BUCKET, "--s3-folder", folder]


def only_snapshot(d):
    names = [n for n in os.listdir(d) if not n.startswith(".") and os.path.isfile(os.path.join(d, n))]
    if len(names) != 1:
        raise BenchError(f"expected one snapshot in {d}, found {names}")
    return os.path.join(d, names[0])


def run_overlapped(a, etcd, moto, workdir, logs):
    out = os.path.join(workdir, "out-overlapped")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [a.tool, "save", "--endpoints", etcd.url, "--dir", out, "--name", "bench"] + s3_flags(moto, "overlapped")
    rc, wall, rss = run_measured(cmd, logs["overlapped"], env=moto.env)
    if rc != 0:
        raise BenchError(f"save --s3 failed ({rc}):\n{tail(logs['overlapped'])}")
    size = os.path.getsize(only_snapshot(out))
    objects = moto.oracle("objects", "overlapped/")
    if not any(o["size"] == size for o in objects):
        raise BenchError(f"save --s3 exited 0 but the bucket has no object of {size} bytes: {objects}")
    shutil.rmtree(out, ignore_errors=True)
    return {"wall_s": wall, "rss_kib": rss, "bytes": size}


def run_sequential(a, etcd, moto, workdir, logs):
    out = os.path.join(workdir, "out-sequential")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [a.tool, "save", "--endpoints", etcd.url, "--dir", out, "--name", "bench"]
    rc, wall_save, rss_save = run_measured(cmd, logs["sequential"], env=moto.env)
    if rc != 0:
        raise BenchError(f"save failed ({rc}):\n{tail(logs['sequential'])}")
    path = only_snapshot(out)
    size = os.path.getsize(path)
    cp = ["aws", "--endpoint-url", f"http://{moto.endpoint}", "s3", "cp", "--only-show-errors", path,
          f"s3://{BUCKET}/sequential/{os.path.basename(path)}"]
    rc, wall_cp, rss_cp = run_measured(cp, logs["sequential"], env=moto.env)
    if rc != 0:
        raise BenchError(f"aws s3 cp failed ({rc}):\n{tail(logs['sequential'])}")
    shutil.rmtree(out, ignore_errors=True)
    return {"wall_s": wall_save + wall_cp, "save_s": wall_save, "cp_s": wall_cp, "rss_kib": rss_save,
            "cp_rss_kib": rss_cp, "bytes": size}


def summarize(runs):
    times = [r["wall_s"] for r in runs]
    s = {"runs": len(runs), "min_s": min(times), "median_s": statistics.median(times),
         "peak_rss_mib": max(r["rss_kib"] for r in runs) / 1024, "bytes": max(r["bytes"] for r in runs)}
    if "cp_s" in runs[0]:
        s["save_median_s"] = statistics.median(r["save_s"] for r in runs)
        s["cp_median_s"] = statistics.median(r["cp_s"] for r in runs)
        s["cp_peak_rss_mib"] = max(r["cp_rss_kib"] for r in runs) / 1024
    return s


def bench_save(a, etcd, workdir):
    logs = {k: os.path.join(workdir, f"{k}.log") for k in ("overlapped", "sequential")}
    runners = {"overlapped": run_overlapped, "sequential": run_sequential}
    results = {"overlapped": [], "sequential": []}
    for i in range(a.warmup + a.runs):
        order = ("overlapped", "sequential") if i % 2 == 0 else ("sequential", "overlapped")
        for kind in order:
            # A fresh server for every run: moto keeps growing (and slowing) as objects come and go.
            moto = Moto(workdir, a.server_cpu)
            try:
                r = runners[kind](a, etcd, moto, workdir, logs)
            finally:
                moto.stop()
            tag = "warm-up" if i < a.warmup else f"run {i - a.warmup + 1}"
            extra = f" (save {r['save_s']:.2f} s + aws s3 cp {r['cp_s']:.2f} s)" if "cp_s" in r else ""
            log(f"  {tag:<8} {kind:<11} {r['wall_s']:7.2f} s{extra}  RSS {r['rss_kib'] / 1024:6.1f} MiB")
            if i >= a.warmup:
                results[kind].append(r)
    s = {k: summarize(v) for k, v in results.items()}
    s["ratio"] = {"min": s["overlapped"]["min_s"] / s["sequential"]["min_s"],
                  "median": s["overlapped"]["median_s"] / s["sequential"]["median_s"]}
    o, q = s["overlapped"], s["sequential"]
    log("")
    log(f"== save to S3, snapshot {o['bytes'] / 1e6:.0f} MB, {o['runs']} runs each")
    log(f"{'how':<44} {'min s':>7} {'median s':>9} {'peak RSS MiB':>13}")
    log(f"{'etcd-snapshot save --s3 (overlapped)':<44} {o['min_s']:>7.2f} {o['median_s']:>9.2f} {o['peak_rss_mib']:>13.1f}")
    log(f"{'etcd-snapshot save, then aws s3 cp (k3s way)':<44} {q['min_s']:>7.2f} {q['median_s']:>9.2f} "
        f"{q['peak_rss_mib']:>13.1f}  (aws: {q['cp_peak_rss_mib']:.1f})")
    log(f"   of which save {q['save_median_s']:.2f} s, aws s3 cp {q['cp_median_s']:.2f} s (medians)")
    log(f"ratio overlapped/sequential: min {s['ratio']['min']:.2f}, median {s['ratio']['median']:.2f}")
    return s


def bench_ls(a, moto, workdir, source_snapshot, sidecar):
    folder = "many"
    t0 = time.time()
    moto.oracle("fill", f"{folder}/on-demand-node9-", str(a.objects), source_snapshot)
    moto.oracle("fill", f"{folder}/.metadata/on-demand-node9-", str(a.objects), sidecar)
    log(f"  put {a.objects} objects and {a.objects} sidecars in {time.time() - t0:.0f} s")
    logs = os.path.join(workdir, "ls.log")
    empty = os.path.join(workdir, "empty-dir")
    os.makedirs(empty, exist_ok=True)
    res = {"table": [], "tool": [], "aws": []}

    def timed_ls(extra, out):
        """Runs `TOOL ls --s3 EXTRA` with stdout in `out`; returns (wall seconds, rusage)."""
        cmd = [a.tool, "ls", "--dir", empty] + extra + s3_flags(moto, folder)
        with open(out, "wb") as f:
            t = time.perf_counter()
            p = subprocess.Popen(cmd, stdout=f, stderr=open(logs, "ab"), env=moto.env)
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t
        if os.waitstatus_to_exitcode(status) != 0:
            raise BenchError(f"ls --s3 {' '.join(extra)} failed:\n{tail(logs)}")
        return wall, ru

    for i in range(a.warmup + a.runs):
        out = os.path.join(workdir, "ls.txt")
        wall_table, ru_table = timed_ls([], out)
        with open(out) as f:
            rows = f.read().splitlines()
        if len(rows) != a.objects + 1:
            raise BenchError(f"ls --s3 (table) printed {len(rows) - 1} rows, not {a.objects}")
        out = os.path.join(workdir, "ls.json")
        wall, ru = timed_ls(["-o", "json"], out)
        with open(out) as f:
            listed = json.load(f)
        if len(listed) != a.objects or not all(e.get("hasMetadata") for e in listed):
            raise BenchError(f"ls --s3 listed {len(listed)} entries (with metadata: {sum(1 for e in listed if e.get('hasMetadata'))})")
        rc, wall_aws, rss_aws = run_measured(["aws", "--endpoint-url", f"http://{moto.endpoint}", "s3", "ls",
                                              f"s3://{BUCKET}/{folder}/"], logs, env=moto.env)
        if rc != 0:
            raise BenchError(f"aws s3 ls failed:\n{tail(logs)}")
        if i >= a.warmup:
            res["table"].append((wall_table, ru_table.ru_maxrss))
            res["tool"].append((wall, ru.ru_maxrss))
            res["aws"].append((wall_aws, rss_aws))
        log(f"  {'warm-up' if i < a.warmup else 'run'}: etcd-snapshot ls --s3 {wall_table:.2f} s "
            f"({ru_table.ru_maxrss / 1024:.1f} MiB), ls --s3 -o json {wall:.2f} s ({ru.ru_maxrss / 1024:.1f} MiB), "
            f"aws s3 ls {wall_aws:.2f} s ({rss_aws / 1024:.1f} MiB)")
    s = {k: {"min_s": min(w for w, _ in v), "median_s": statistics.median(w for w, _ in v),
             "peak_rss_mib": max(r for _, r in v) / 1024} for k, v in res.items()}
    log("")
    log(f"== ls over {a.objects} objects with sidecars")
    log(f"etcd-snapshot ls --s3 (table, pages only):   min {s['table']['min_s']:.2f} s, median "
        f"{s['table']['median_s']:.2f} s, {s['table']['peak_rss_mib']:.1f} MiB")
    log(f"etcd-snapshot ls --s3 -o json (pages + {a.objects} sidecars): min {s['tool']['min_s']:.2f} s, median "
        f"{s['tool']['median_s']:.2f} s, {s['tool']['peak_rss_mib']:.1f} MiB")
    log(f"aws s3 ls (pages only):                  min {s['aws']['min_s']:.2f} s, median {s['aws']['median_s']:.2f} s, "
        f"{s['aws']['peak_rss_mib']:.1f} MiB")
    log(f"ratio table/aws: min {s['table']['min_s'] / s['aws']['min_s']:.2f}, "
        f"median {s['table']['median_s'] / s['aws']['median_s']:.2f} (target at most 1.5)")
    log(f"ratio json/aws:  min {s['tool']['min_s'] / s['aws']['min_s']:.2f}, median {s['tool']['median_s'] / s['aws']['median_s']:.2f}")
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fill", type=parse_fill, default=(20000, 780), metavar="N,M")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--objects", type=int, default=10000)
    ap.add_argument("--only", choices=("save", "ls"))
    ap.add_argument("--tool", default=os.path.join(REPO, ".build", "release", "etcd-snapshot"))
    ap.add_argument("--etcd-version", default="3.5", choices=("3.4", "3.5"))
    ap.add_argument("--tmp-base", default=None)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--server-cpu", type=int, metavar="N",
                    help="pin the S3 server (moto) to CPU N, as if it ran on another machine; default: unpinned, "
                         "sharing the CPUs with etcd and the tools")
    a = ap.parse_args()

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    a.tool = os.path.abspath(a.tool)
    if not os.access(a.tool, os.X_OK):
        raise BenchError(f"no etcd-snapshot at {a.tool}: `swift build -c release` or --tool PATH")
    if shutil.which("aws") is None:
        raise BenchError("the aws cli is needed: pip install awscli")
    base = os.path.abspath(a.tmp_base or tempfile.gettempdir())
    workdir = tempfile.mkdtemp(prefix="s3-bench-", dir=base)
    State.workdirs.append(workdir)
    moto = None
    etcd = Etcd(etcd_bin(a.etcd_version, "etcd"), workdir)
    State.etcds.append(etcd)
    results = {"machine": machine_info()}
    try:
        log(f"machine: {results['machine']}")
        if a.server_cpu is not None:
            # etcd and the tools on the other CPUs, the S3 server alone on its own.
            others = sorted(os.sched_getaffinity(0) - {a.server_cpu})
            if not others:
                raise BenchError("--server-cpu needs at least two CPUs")
            os.sched_setaffinity(0, others)
        etcd.start()
        moto = Moto(workdir, a.server_cpu)
        small, big = a.fill if a.only != "ls" else (50, 0)
        t0 = time.time()
        r = subprocess.run([sys.executable, os.path.join(FIXTURES, "fill-etcd.py"), "--endpoint", etcd.url, "--small", str(small),
                            "--big", str(big), "--quiet"], stdin=subprocess.DEVNULL, capture_output=True)
        if r.returncode != 0:
            raise BenchError(f"fill-etcd.py failed: {r.stderr.decode()[-2000:]}")
        log(f"etcd {etcd.url} filled in {time.time() - t0:.0f} s: db {int(etcd.status().get('dbSize', 0)) / 1e6:.0f} MB; "
            f"moto at {moto.endpoint}")
        if a.only in (None, "save"):
            results["save"] = bench_save(a, etcd, workdir)
        if a.only in (None, "ls"):
            # A small real snapshot and its record, copied as every object and sidecar.
            src = os.path.join(workdir, "ls-source")
            subprocess.run([a.tool, "save", "--endpoints", etcd.url, "--dir", src, "--name", "x"], check=True,
                           capture_output=True) if a.only == "ls" else None
            if a.only != "ls":
                small_etcd = Etcd(etcd_bin(a.etcd_version, "etcd"), tempfile.mkdtemp(dir=workdir))
                State.etcds.append(small_etcd)
                small_etcd.start()
                subprocess.run([a.tool, "save", "--endpoints", small_etcd.url, "--dir", src, "--name", "x"], check=True,
                               capture_output=True)
                small_etcd.stop()
            snap = only_snapshot(src)
            results["ls"] = bench_ls(a, moto, workdir, snap, os.path.join(src, ".metadata", os.path.basename(snap)))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=2)
        return 0
    finally:
        if moto:
            moto.stop()
        etcd.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"s3_bench: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("s3_bench: interrupted", file=sys.stderr)
        sys.exit(130)
