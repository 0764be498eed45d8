#!/usr/bin/env python3
"""Benchmark `etcd-snapshot save` against `etcdctl snapshot save` on a real etcd.

Usage:
  bench/save_bench.py [--size-gb 1.0] [--small-mb 130] [--runs 3] [--warmup 1]
                      [--tool .build/release/etcd-snapshot] [--etcd-version 3.5]
                      [--only small|large] [--small-fill N,M] [--large-fill N,M]
                      [--tmp-base DIR] [--json FILE]

For each data set size (a small one, about --small-mb MB, and a large one, about
--size-gb GB) it:
  1. starts a throwaway etcd (full-path binary from scripts/etcd-bin.sh, on free
     127.0.0.1 ports, --quota-backend-bytes 4 GiB, data dir in a temp dir under
     --tmp-base), after checking that the disk has room;
  2. fills it with Tests/Fixtures/fill-etcd.py --small N --big M;
  3. runs, alternating, `TOOL save --endpoints http://127.0.0.1:P --dir D --name bench`
     and `etcdctl --endpoints http://127.0.0.1:P snapshot save F`, --runs times each
     (after --warmup unmeasured runs of each), deleting the outputs after every run;
  4. prints a table: wall time (min, median), MB/s (snapshot file size / median
     time, MB = 10^6 bytes), and peak RSS of the child (ru_maxrss from os.wait4),
     plus the time ratio etcd-snapshot / etcdctl.
Then it stops etcd and removes the temp dir (also on error, Ctrl-C or SIGTERM).

Fill amounts: the presets are those of docs/testing: --small 5000 --big 90 gives
about 130 MB, --small 20000 --big 780 about 1 GB. Other --small-mb / --size-gb
values scale these presets linearly; --small-fill / --large-fill set the
fill-etcd.py amounts (N small keys, M 1-MiB blobs) directly.

This is a benchmark, not a test: it exits non-zero if a run fails, but it does
not judge the numbers.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SCRIPTS = os.path.join(REPO, "scripts")
FIXTURES = os.path.join(REPO, "Tests", "Fixtures")

SMALL_PRESET = (5000, 90, 130)    # fill --small, --big, about MB of database
LARGE_PRESET = (20000, 780, 1000)
QUOTA = 4 << 30
DISK_FACTOR = 3.5  # db + WAL (about the db again) + one snapshot file + margin

TOOL_NAME = "etcd-snapshot"
CTL_NAME = "etcdctl"


class BenchError(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def fmt_mb(n):
    return f"{n / 1e6:.0f} MB"


# --------------------------------------------------------------------------- helpers

def etcd_bin(version, tool):
    r = subprocess.run([os.path.join(SCRIPTS, "etcd-bin.sh"), version, tool],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(r.stderr.strip() or f"no {tool} for etcd {version}")
    return r.stdout.strip()


def free_ports(n):
    import socket
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def first_line(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"
    out = (r.stdout or r.stderr).strip().splitlines()
    if r.returncode != 0 or not out:
        return "unknown"
    return out[0].strip()


def machine_info():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                    break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model,
        "memory": mem,
        "kernel": platform.release(),
    }


def parse_fill(s):
    try:
        a, b = s.split(",")
        return int(a), int(b)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N,M (small keys, big blobs), got {s!r}")


def scaled(preset, target_mb):
    small, big, mb = preset
    f = target_mb / mb
    return max(0, round(small * f)), max(1, round(big * f))


def run_measured(cmd, log_path, env=None, cwd=None):
    """Run cmd to completion; return (exit code, wall seconds, peak RSS in KiB)."""
    with open(log_path, "ab") as logf:
        logf.write(("\n$ " + " ".join(cmd) + "\n").encode())
        logf.flush()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env, cwd=cwd)
        State.child = p
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            State.child = None
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, tell Popen
    return p.returncode, wall, ru.ru_maxrss


def tail(path, n=15):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
        return "\n".join("    " + x for x in lines[-n:])
    except OSError:
        return "    (no log)"


class State:
    child = None  # the measured child running now, killed on interrupt


# --------------------------------------------------------------------------- etcd

class Etcd:
    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir
        self.proc = None
        self.port = None
        self.log_path = os.path.join(workdir, "etcd.log")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        cport, pport = free_ports(2)
        self.port = cport
        peer = f"http://127.0.0.1:{pport}"
        cmd = [self.binary, "--name", "bench", "--data-dir", os.path.join(self.workdir, "data"),
               "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
               "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
               "--initial-cluster", f"bench={peer}",
               "--quota-backend-bytes", str(QUOTA),
               "--logger", "zap", "--log-outputs", "stderr"]
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                         start_new_session=True)
        finally:
            logf.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"etcd exited with {self.proc.returncode}:\n{tail(self.log_path)}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if json.loads(r.read()).get("health") == "true":
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise BenchError(f"etcd not healthy after 30 s:\n{tail(self.log_path)}")

    def status(self):
        req = urllib.request.Request(self.url + "/v3/maintenance/status", data=b"{}",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------- runs

def snapshot_size_in_dir(d):
    """Size of the snapshot file etcd-snapshot wrote in d (largest regular top-level
    file, ignoring hidden files such as .metadata)."""
    best = 0
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if name.startswith(".") or not os.path.isfile(p):
            continue
        best = max(best, os.path.getsize(p))
    return best


def one_run(kind, a, etcd, etcdctl, workdir, logs):
    if kind == TOOL_NAME:
        out_dir = os.path.join(workdir, "out-tool")
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        cmd = [a.tool, "save", "--endpoints", etcd.url, "--dir", out_dir, "--name", "bench"]
        rc, wall, rss = run_measured(cmd, logs[kind])
        size = snapshot_size_in_dir(out_dir) if rc == 0 else 0
        shutil.rmtree(out_dir, ignore_errors=True)
    else:
        out = os.path.join(workdir, "etcdctl.db")
        cmd = [etcdctl, "--endpoints", etcd.url, "snapshot", "save", out]
        env = dict(os.environ, ETCDCTL_API="3")
        rc, wall, rss = run_measured(cmd, logs[kind], env=env)
        size = os.path.getsize(out) if rc == 0 and os.path.exists(out) else 0
        for p in (out, out + ".part"):
            if os.path.exists(p):
                os.remove(p)
    if rc != 0:
        raise BenchError(f"{kind} failed with exit code {rc}:\n{tail(logs[kind])}")
    if size == 0:
        raise BenchError(f"{kind} exited 0 but wrote no snapshot file:\n{tail(logs[kind])}")
    return {"wall_s": wall, "maxrss_kib": rss, "bytes": size}


def summarize(runs):
    times = [r["wall_s"] for r in runs]
    size = max(r["bytes"] for r in runs)
    med = statistics.median(times)
    return {"runs": len(runs), "min_s": min(times), "median_s": med,
            "mb_per_s": size / 1e6 / med if med > 0 else 0.0,
            "peak_rss_mib": max(r["maxrss_kib"] for r in runs) / 1024,
            "snapshot_bytes": size}


def print_table(label, summary):
    log("")
    log(f"== {label}")
    hdr = f"{'tool':<14} {'runs':>4} {'min s':>8} {'median s':>9} {'MB/s':>8} {'peak RSS MiB':>13}"
    log(hdr)
    log("-" * len(hdr))
    for kind in (TOOL_NAME, CTL_NAME):
        s = summary[kind]
        log(f"{kind:<14} {s['runs']:>4} {s['min_s']:>8.2f} {s['median_s']:>9.2f} {s['mb_per_s']:>8.0f} "
            f"{s['peak_rss_mib']:>13.1f}")
    r = summary["ratio"]
    log(f"ratio etcd-snapshot/etcdctl: min {r['min']:.2f}, median {r['median']:.2f}  (< 1 means etcd-snapshot is faster)")
    if summary[TOOL_NAME]["snapshot_bytes"] != summary[CTL_NAME]["snapshot_bytes"]:
        log(f"note: snapshot sizes differ: etcd-snapshot {summary[TOOL_NAME]['snapshot_bytes']} B, "
            f"etcdctl {summary[CTL_NAME]['snapshot_bytes']} B")


def bench_size(label, fill, a, etcd_path, etcdctl, base):
    small, big = fill
    est_mb = small * 0.0021 + big * 1.28  # rough db size in MB (measured: data x 1.22)
    need = int(est_mb * 1e6 * DISK_FACTOR) + (200 << 20)
    free = shutil.disk_usage(base).free
    log("")
    log(f"### {label}: fill --small {small} --big {big} (about {est_mb:.0f} MB of db); "
        f"disk at {base}: need about {need / 1e9:.1f} GB, free {free / 1e9:.1f} GB")
    if free < need:
        raise BenchError(f"NOT ENOUGH FREE DISK at {base} for the {label} data set: need about "
                         f"{need / 1e9:.1f} GB, have {free / 1e9:.1f} GB. Free some space, use "
                         f"--tmp-base on a bigger disk, or lower --size-gb / --small-mb.")
    workdir = tempfile.mkdtemp(prefix=f"save-bench-{label}-", dir=base)
    State.workdirs.append(workdir)
    etcd = Etcd(etcd_path, workdir)
    State.etcds.append(etcd)
    try:
        etcd.start()
        log(f"etcd up at {etcd.url} (data and logs in {workdir})")
        t0 = time.time()
        fill_log = os.path.join(workdir, "fill.log")
        with open(fill_log, "wb") as f:
            r = subprocess.run([sys.executable, os.path.join(FIXTURES, "fill-etcd.py"), "--endpoint", etcd.url,
                                "--small", str(small), "--big", str(big), "--quiet"],
                               stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise BenchError(f"fill-etcd.py failed:\n{tail(fill_log)}")
        st = etcd.status()
        db = int(st.get("dbSize", 0))
        log(f"filled in {time.time() - t0:.0f} s: db size {fmt_mb(db)}, revision {st['header']['revision']}")

        logs = {TOOL_NAME: os.path.join(workdir, "tool.log"), CTL_NAME: os.path.join(workdir, "etcdctl.log")}
        results = {TOOL_NAME: [], CTL_NAME: []}
        for i in range(a.warmup):
            for kind in (TOOL_NAME, CTL_NAME):
                r = one_run(kind, a, etcd, etcdctl, workdir, logs)
                log(f"  warm-up {kind:<13} {r['wall_s']:7.2f} s  {r['maxrss_kib'] / 1024:7.1f} MiB  {fmt_mb(r['bytes'])}")
        for i in range(a.runs):
            order = (TOOL_NAME, CTL_NAME) if i % 2 == 0 else (CTL_NAME, TOOL_NAME)
            for kind in order:
                r = one_run(kind, a, etcd, etcdctl, workdir, logs)
                results[kind].append(r)
                log(f"  run {i + 1} {kind:<13} {r['wall_s']:7.2f} s  {r['maxrss_kib'] / 1024:7.1f} MiB  "
                    f"{fmt_mb(r['bytes'])}")
        summary = {k: summarize(v) for k, v in results.items()}
        summary["ratio"] = {
            "min": summary[TOOL_NAME]["min_s"] / summary[CTL_NAME]["min_s"],
            "median": summary[TOOL_NAME]["median_s"] / summary[CTL_NAME]["median_s"],
        }
        summary["fill"] = {"small": small, "big": big}
        summary["db_size_bytes"] = db
        summary["runs_raw"] = results
        print_table(f"{label}: db {fmt_mb(db)}, snapshot file {fmt_mb(summary[CTL_NAME]['snapshot_bytes'])}",
                    summary)
        return summary
    finally:
        etcd.stop()
        shutil.rmtree(workdir, ignore_errors=True)


State.workdirs = []
State.etcds = []


def cleanup():
    if State.child is not None and State.child.poll() is None:
        State.child.kill()
        try:
            os.waitpid(State.child.pid, 0)
        except ChildProcessError:
            pass
    for e in State.etcds:
        try:
            e.stop()
        except Exception:  # noqa: BLE001 -- best effort
            pass
    for d in State.workdirs:
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="See the top of this file for details.")
    ap.add_argument("--size-gb", type=float, default=1.0, help="large data set, about GB (default 1.0)")
    ap.add_argument("--small-mb", type=float, default=130, help="small data set, about MB (default 130)")
    ap.add_argument("--small-fill", type=parse_fill, metavar="N,M", help="fill amounts for the small set")
    ap.add_argument("--large-fill", type=parse_fill, metavar="N,M", help="fill amounts for the large set")
    ap.add_argument("--only", choices=("small", "large"), help="run only one data set")
    ap.add_argument("--runs", type=int, default=3, help="measured runs of each tool (default 3)")
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured runs of each tool first (default 1)")
    ap.add_argument("--tool", default=os.path.join(REPO, ".build", "release", "etcd-snapshot"),
                    help="etcd-snapshot binary (default .build/release/etcd-snapshot)")
    ap.add_argument("--etcd-version", default="3.5", choices=("3.4", "3.5"),
                    help="etcd and etcdctl version (default 3.5)")
    ap.add_argument("--tmp-base", default=None, help="where the temp dirs go (default: $TMPDIR or /tmp)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    a = ap.parse_args()
    if a.runs < 1:
        ap.error("--runs must be >= 1")
    if a.warmup < 0:
        ap.error("--warmup must be >= 0")

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored

    a.tool = os.path.abspath(a.tool)
    if not (os.path.isfile(a.tool) and os.access(a.tool, os.X_OK)):
        raise BenchError(f"etcd-snapshot binary not found at {a.tool}: build it with "
                         f"`swift build -c release` or pass --tool PATH")
    etcd_path = etcd_bin(a.etcd_version, "etcd")
    etcdctl = etcd_bin(a.etcd_version, "etcdctl")
    base = os.path.abspath(a.tmp_base or tempfile.gettempdir())
    if not os.path.isdir(base):
        raise BenchError(f"--tmp-base {base} is not a directory")

    sets = []
    if a.only in (None, "small"):
        sets.append(("small", a.small_fill or (SMALL_PRESET[:2] if a.small_mb == SMALL_PRESET[2]
                                               else scaled(SMALL_PRESET, a.small_mb))))
    if a.only in (None, "large"):
        sets.append(("large", a.large_fill or (LARGE_PRESET[:2] if a.size_gb * 1000 == LARGE_PRESET[2]
                                               else scaled(LARGE_PRESET, a.size_gb * 1000))))

    info = {
        "machine": machine_info(),
        "etcd": {"path": etcd_path, "version": first_line([etcd_path, "--version"])},
        "etcdctl": {"path": etcdctl, "version": first_line([etcdctl, "version"])},
        "tool": {"path": a.tool, "version": first_line([a.tool, "--version"])},
        "runs": a.runs, "warmup": a.warmup,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    m = info["machine"]
    log(f"machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory']} RAM, Linux {m['kernel']}")
    log(f"etcd:          {etcd_path} ({info['etcd']['version']})")
    log(f"etcdctl:       {etcdctl} ({info['etcdctl']['version']})")
    log(f"etcd-snapshot: {a.tool} ({info['tool']['version']})")
    log(f"runs: {a.runs} measured + {a.warmup} warm-up per tool, alternating; temp dirs under {base}")

    results = {}
    for label, fill in sets:
        results[label] = bench_size(label, fill, a, etcd_path, etcdctl, base)

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"info": info, "results": results}, f, indent=2)
        log(f"\nJSON written to {a.json}")


if __name__ == "__main__":
    code = 0
    try:
        main()
    except BenchError as e:
        print(f"save_bench: ERROR: {e}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print("save_bench: interrupted; cleaning up", file=sys.stderr)
        code = 130
    finally:
        cleanup()
    sys.exit(code)
