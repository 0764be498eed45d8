#!/usr/bin/env python3
"""Benchmark `etcd-snapshot status` and `etcd-snapshot restore` against `etcdutl snapshot
status|restore` (3.5) and `etcdctl snapshot status|restore` (3.4) on the same snapshot file;
also times `etcd-snapshot verify` (which etcd has no equivalent of: trailer, metadata and full
bbolt check).

Usage:
  bench/inspect_bench.py [--fill N,M] [--runs 3] [--tool .build/release/etcd-snapshot]
                         [--snapshot FILE] [--tmp-base DIR]

Without --snapshot it starts a throwaway etcd 3.5, fills it with Tests/Fixtures/fill-etcd.py
(default --small 20000 --big 780: about 1 GB) and saves a snapshot with etcdctl. Then it
runs the status commands alternately --runs times each (after one warm-up), checks that
all report the same figures, and prints min and median wall time, peak RSS (ru_maxrss of
the child, from os.wait4) and the time ratio against etcdutl. A benchmark, not a test.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from save_bench import (BenchError, Etcd, FIXTURES, SCRIPTS, etcd_bin, first_line, log, machine_info,  # noqa: E402
                        parse_fill, run_measured)


def figures(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed: {r.stderr[-2000:]}")
    line = [x for x in r.stdout.splitlines() if x.startswith("{")][-1]
    d = json.loads(line)
    return {k: d[k] for k in ("hash", "revision", "totalKey", "totalSize")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fill", type=parse_fill, default=(20000, 780))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tool", default=os.path.join(os.path.dirname(SCRIPTS), ".build/release/etcd-snapshot"))
    ap.add_argument("--snapshot")
    ap.add_argument("--tmp-base", default=tempfile.gettempdir())
    a = ap.parse_args()

    etcdutl = etcd_bin("3.5", "etcdutl")
    etcdctl34 = "/usr/bin/etcdctl"
    log(f"machine: {machine_info()}")
    log(f"etcd-snapshot: {a.tool} ({first_line([a.tool, '--version'])})")
    log(f"etcdutl: {etcdutl} ({first_line([etcdutl, 'version'])})")
    log(f"etcdctl: {etcdctl34} ({first_line([etcdctl34, 'version'])})")
    work = tempfile.mkdtemp(prefix="inspect-bench-", dir=a.tmp_base)
    etcd = None
    try:
        snap = a.snapshot
        if not snap:
            etcd = Etcd(etcd_bin("3.5", "etcd"), work)
            etcd.start()
            small, big = a.fill
            log(f"filling {etcd.url} with --small {small} --big {big} ...")
            subprocess.run([sys.executable, os.path.join(FIXTURES, "fill-etcd.py"), "--endpoint", etcd.url,
                            "--small", str(small), "--big", str(big), "--quiet"], check=True,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            snap = os.path.join(work, "snapshot.db")
            subprocess.run([etcd_bin("3.5", "etcdctl"), "--endpoints", etcd.url, "snapshot", "save", snap],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            etcd.stop()
        size = os.path.getsize(snap)
        log(f"snapshot: {snap} ({size / 1e6:.0f} MB)")

        member = ["--name", "m1", "--initial-cluster", "m1=http://127.0.0.1:2380",
                  "--initial-advertise-peer-urls", "http://127.0.0.1:2380"]
        restored = os.path.join(work, "restored")
        tools = {
            "etcd-snapshot status": [a.tool, "status", snap, "-o", "json"],
            "etcdutl status (3.5)": [etcdutl, "snapshot", "status", snap, "-w", "json"],
            "etcdctl status (3.4)": [etcdctl34, "snapshot", "status", snap, "-w", "json"],
            "etcd-snapshot verify": [a.tool, "verify", snap],
            "etcd-snapshot restore": [a.tool, "restore", snap, "--data-dir", restored] + member,
            "etcdutl restore (3.5)": [etcdutl, "snapshot", "restore", snap, "--data-dir", restored] + member,
            "etcdctl restore (3.4)": [etcdctl34, "snapshot", "restore", snap, "--data-dir", restored] + member,
        }
        seen = {name: figures(cmd) for name, cmd in tools.items() if "status" in name}
        if len({json.dumps(v, sort_keys=True) for v in seen.values()}) != 1:
            raise BenchError(f"the tools disagree: {seen}")
        log(f"all status tools agree: {next(iter(seen.values()))}")

        logp = os.path.join(work, "runs.log")
        results = {name: [] for name in tools}
        for i in range(a.runs + 1):
            order = list(tools.items()) if i % 2 == 0 else list(reversed(tools.items()))
            for name, cmd in order:
                shutil.rmtree(restored, ignore_errors=True)
                env = dict(os.environ, ETCDCTL_API="3")
                rc, wall, rss = run_measured(cmd, logp, env=env)
                if rc != 0:
                    raise BenchError(f"{name} exited {rc}; see {logp}")
                if i > 0:
                    results[name].append((wall, rss))
                log(f"  {'warm-up' if i == 0 else f'run {i}'} {name:<22} {wall:6.2f} s {rss / 1024:7.1f} MiB")

        shutil.rmtree(restored, ignore_errors=True)
        log("")
        hdr = f"{'tool':<22} {'runs':>4} {'min s':>7} {'median s':>9} {'peak RSS MiB':>13} {'ratio vs etcdutl (min/median)':>31}"
        log(hdr)
        log("-" * len(hdr))
        for name, rs in results.items():
            baseline = results["etcdutl restore (3.5)" if "restore" in name else "etcdutl status (3.5)"]
            ws = [w for w, _ in rs]
            bs = [w for w, _ in baseline]
            mn, md = min(ws), statistics.median(ws)
            log(f"{name:<22} {len(ws):>4} {mn:>7.2f} {md:>9.2f} {max(r for _, r in rs) / 1024:>13.1f} "
                f"{mn / min(bs):>15.2f} / {md / statistics.median(bs):.2f}")
    finally:
        if etcd:
            etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print(f"inspect_bench: {e}", file=sys.stderr)
        sys.exit(1)
