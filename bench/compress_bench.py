#!/usr/bin/env python3
"""Benchmark `etcd-snapshot save --compress` against a plain save and against what a user
would otherwise run: `etcdctl snapshot save` followed by `zstd -1` or `gzip -1`.

Usage:
  bench/compress_bench.py [--small 400000] [--runs 3] [--tool .build/release/etcd-snapshot]
                          [--etcd-version 3.5] [--tmp-base DIR] [--json FILE]

It starts a throwaway etcd (full-path binary from scripts/etcd-bin.sh, 127.0.0.1, free
ports), fills it with Tests/Fixtures/fill-etcd.py --small N --big 0: N Kubernetes-like JSON
objects of ~0.5..4 KiB (400,000 give about 1 GB of database), then, alternating, --runs times
each (after one unmeasured warm-up of each):

  save            TOOL save                                   (the plain file)
  save zstd       TOOL save --compress zstd --compress-level 1
  save zstd:3     TOOL save --compress zstd --compress-level 3 (zstd's own default)
  save gzip       TOOL save --compress gzip --compress-level 1
  save zstd+age   TOOL save --compress zstd --encrypt-recipient age1...  (our default level; issue 11: <= 1.2x save)
  etcdctl+zstd    etcdctl snapshot save F, then zstd -1 -q --rm F  (both timed, peak RSS the larger)
  etcdctl+gzip    etcdctl snapshot save F, then gzip -1 F

and, on one plain snapshot file, the tools alone (`zstd -1 -c F`, `gzip -1 -c F` to
/dev/null) next to our stages alone (the save's extra time over a plain save is what the
stage costs). Then `TOOL restore` of the plain file, of the zstd file and of the zstd+age
file (with --decrypt-identity-file; issue 11: <= 1.5x the plain restore).

It prints, per command: wall time (min, median), MB/s of the plain snapshot, peak RSS of the
child (ru_maxrss), stored size, compression ratio, and the time ratio to a plain save.
This is a benchmark, not a test: it exits non-zero if a run fails, but does not judge.
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import save_bench as sb  # noqa: E402  (etcd process, measured runs, cleanup)

FILL = os.path.join(sb.FIXTURES, "fill-etcd.py")


def only_file(d):
    names = [n for n in os.listdir(d) if not n.startswith(".") and os.path.isfile(os.path.join(d, n))]
    if len(names) != 1:
        raise sb.BenchError(f"expected one snapshot in {d}, found {names}")
    return os.path.join(d, names[0])


def measured(cmds, log):
    """Runs cmds one after another; returns (wall, peak RSS KiB); raises on failure."""
    wall, rss = 0.0, 0
    for cmd in cmds:
        rc, w, r = sb.run_measured(cmd, log)
        if rc != 0:
            raise sb.BenchError(f"{' '.join(cmd)} exited {rc}:\n{sb.tail(log)}")
        wall += w
        rss = max(rss, r)
    return wall, rss


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=400_000, help="Kubernetes-like JSON objects to fill (400000: about 1 GB)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tool", default=os.path.join(sb.REPO, ".build", "release", "etcd-snapshot"))
    ap.add_argument("--etcd-version", default="3.5")
    ap.add_argument("--tmp-base", default=None)
    ap.add_argument("--json", default=None, help="also write the figures here")
    a = ap.parse_args()
    for t in ["zstd", "gzip", "age-keygen"]:
        if shutil.which(t) is None:
            raise sb.BenchError(f"{t} is not installed: run scripts/install-deps.sh")
    if not os.access(a.tool, os.X_OK):
        raise sb.BenchError(f"{a.tool} is not built: swift build -c release")
    etcd_path = sb.etcd_bin(a.etcd_version, "etcd")
    etcdctl = sb.etcd_bin(a.etcd_version, "etcdctl")
    work = tempfile.mkdtemp(prefix="compress-bench-", dir=a.tmp_base)
    sb.State.workdirs.append(work)
    logs = os.path.join(work, "runs.log")
    etcd = sb.Etcd(etcd_path, work)
    sb.State.etcds.append(etcd)
    etcd.start()
    sb.log(f"filling etcd {a.etcd_version} with {a.small} Kubernetes-like JSON objects ...")
    subprocess.run([sys.executable, FILL, "--endpoint", etcd.url, "--small", str(a.small), "--big", "0", "--quiet"],
                   check=True)
    db = int(etcd.status().get("dbSize", 0))
    sb.log(f"database: {sb.fmt_mb(db)}; {sb.machine_info()}")
    out = os.path.join(work, "out")
    key = os.path.join(work, "bench.key")
    subprocess.run(["age-keygen", "-o", key], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", key], check=True, capture_output=True, text=True).stdout.strip()

    def save(extra):
        def run():
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            w, r = measured([[a.tool, "save", "--endpoints", etcd.url, "--dir", out, "--name", "bench"] + extra], logs)
            return w, r, os.path.getsize(only_file(out))
        return run

    def ctl_then(tool):
        def run():
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            f = os.path.join(out, "snap.db")
            w, r = measured([[etcdctl, "--endpoints", etcd.url, "snapshot", "save", f], [tool, "-1", "-q", "--rm", f]
                             if tool == "zstd" else [tool, "-1", f]], logs)
            return w, r, os.path.getsize(only_file(out))
        return run

    kinds = [("save", save([])), ("save zstd", save(["--compress", "zstd", "--compress-level", "1"])),
             ("save zstd:3", save(["--compress", "zstd", "--compress-level", "3"])), ("save gzip", save(["--compress", "gzip", "--compress-level", "1"])),
             ("save zstd+age", save(["--compress", "zstd", "--encrypt-recipient", recipient])),
             ("etcdctl+zstd", ctl_then("zstd")), ("etcdctl+gzip", ctl_then("gzip"))]
    results = {k: [] for k, _ in kinds}
    for i in range(a.runs + 1):
        for k, run in kinds:
            w, r, size = run()
            if i > 0:  # the first round is the warm-up
                results[k].append((w, r, size))
    # One plain file for the tools alone and for restore.
    save([])()
    plain = os.path.join(work, "plain.db")
    shutil.move(only_file(out), plain)
    plain_size = os.path.getsize(plain)
    save(["--compress", "zstd", "--compress-level", "1"])()
    zst = os.path.join(work, "plain.db.zst")
    shutil.move(only_file(out), zst)
    save(["--compress", "zstd", "--encrypt-recipient", recipient])()
    zage = os.path.join(work, "plain.db.zst.age")
    shutil.move(only_file(out), zage)
    tools = {}
    for name, cmd in [("zstd -1 alone", ["sh", "-c", f"zstd -1 -q -c {plain} > /dev/null"]),
                      ("gzip -1 alone", ["sh", "-c", f"gzip -1 -c {plain} > /dev/null"])]:
        tools[name] = [measured([cmd], logs) for _ in range(a.runs)]
    restores = {}
    for name, f, extra in [("restore plain", plain, []), ("restore zstd", zst, []),
                           ("restore zstd+age", zage, ["--decrypt-identity-file", key])]:
        rs = []
        for _ in range(a.runs):
            d = os.path.join(work, "restored")
            shutil.rmtree(d, ignore_errors=True)
            rs.append(measured([[a.tool, "restore", f, "--data-dir", d, "--name", "m1", "--initial-cluster",
                                 "m1=http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380"]
                                + extra], logs))
            shutil.rmtree(d, ignore_errors=True)
        restores[name] = rs

    base = statistics.median(w for w, _, _ in results["save"])
    rows = []
    print(f"\nplain snapshot {sb.fmt_mb(plain_size)}, {a.runs} runs each (median; min in brackets)")
    print(f"{'command':<16}{'time s':>16}{'MB/s':>8}{'peak RSS':>11}{'stored':>10}{'ratio':>7}{'vs save':>9}")
    for k, _ in kinds:
        ws = [w for w, _, _ in results[k]]
        med = statistics.median(ws)
        rss = max(r for _, r, _ in results[k])
        size = results[k][-1][2]
        rows.append({"command": k, "median_s": med, "min_s": min(ws), "peak_rss_kib": rss, "stored_bytes": size,
                     "ratio": plain_size / size, "vs_plain_save": med / base})
        print(f"{k:<16}{med:>9.2f} ({min(ws):>5.2f}){plain_size / 1e6 / med:>8.0f}{rss / 1024:>8.0f} MiB"
              f"{size / 1e6:>7.0f} MB{plain_size / size:>7.2f}{med / base:>8.2f}x")
    for name, rs in list(tools.items()) + list(restores.items()):
        ws = [w for w, _ in rs]
        med = statistics.median(ws)
        rss = max(r for _, r in rs)
        rows.append({"command": name, "median_s": med, "min_s": min(ws), "peak_rss_kib": rss})
        print(f"{name:<16}{med:>9.2f} ({min(ws):>5.2f}){plain_size / 1e6 / med:>8.0f}{rss / 1024:>8.0f} MiB")
    rp = statistics.median(w for w, _ in restores["restore plain"])
    rz = statistics.median(w for w, _ in restores["restore zstd"])
    ra = statistics.median(w for w, _ in restores["restore zstd+age"])
    print(f"restore zstd / restore plain: {rz / rp:.2f}x; restore zstd+age / restore plain: {ra / rp:.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"plain_bytes": plain_size, "db_bytes": db, "runs": a.runs, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: (sb.cleanup(), sys.exit(130)))
    try:
        main()
    except (sb.BenchError, subprocess.CalledProcessError) as e:
        print(f"compress_bench: {e}", file=sys.stderr)
        sb.cleanup()
        sys.exit(1)
    sb.cleanup()
