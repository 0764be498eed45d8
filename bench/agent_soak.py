#!/usr/bin/env python3
"""Soak of `etcd-snapshot agent`: a snapshot every second for MINUTES while a writer loads etcd.

Usage:
  bench/agent_soak.py [--minutes 10] [--interval 1s] [--retention 3] [--s3-retention 3]
                      [--writes-per-second 200] [--tool .build/release/etcd-snapshot] [--no-s3]

Starts etcd 3.5 and moto's S3 (signatures checked, Tests/Servers/moto-s3.py) on 127.0.0.1, the
agent at `@every INTERVAL` with retention locally and in S3, and a writer putting keys through
etcd's HTTP gateway (and compacting every 30 s, so that the database keeps a steady size). Every 30 s it samples the agent's RSS and open file descriptors
(/proc/PID) and its /metrics; at the end it stops the agent with SIGTERM and checks what is
left: exactly RETENTION snapshots locally and S3-RETENTION in the bucket, no .part, no open
multipart upload, no failure, no skipped tick (a tick that came while the snapshot before it
still ran: on this load none is expected). It prints the samples, the first and last RSS and
descriptor counts, and exits non-zero if a check fails.

There is no other tool to run beside it: k3s's own scheduler needs a k3s server, which this
machine cannot run; the figures are the agent's alone.
"""
import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from save_bench import BenchError, Etcd, etcd_bin, free_ports, log, machine_info, tail  # noqa: E402
from s3_bench import BUCKET, Moto, s3_flags  # noqa: E402

REPO = os.path.dirname(HERE)


def proc_figures(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        try:
            values[name] = float(value)
        except ValueError:
            pass
    return values


def failures(values):
    return sum(v for k, v in values.items() if k.startswith("etcd_snapshot_failures_total"))


class Writer(threading.Thread):
    """Puts keys through etcd's JSON gateway at a steady rate (values of VALUE_SIZE bytes over
    5,000 keys) and compacts the history every 30 s, as kube-apiserver does every 5 minutes:
    the database stays at a steady size instead of growing with every revision."""

    VALUE_SIZE = 256

    def __init__(self, url, per_second):
        super().__init__(daemon=True)
        self.url = url
        self.per_second = per_second
        self.stop = threading.Event()
        self.written = 0
        self.errors = 0
        self.compactions = 0

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"{}")

    def run(self):
        value = base64.b64encode(os.urandom(self.VALUE_SIZE)).decode()
        last_compaction = time.monotonic()
        revision = 0
        period = 1.0 / self.per_second
        next_at = time.monotonic()
        i = 0
        while not self.stop.is_set():
            key = base64.b64encode(f"/soak/key-{i % 5000:05d}".encode()).decode()
            try:
                answer = self.post("/v3/kv/put", {"key": key, "value": value})
                revision = int(answer.get("header", {}).get("revision", revision))
                self.written += 1
                if time.monotonic() - last_compaction >= 30 and revision > 0:
                    self.post("/v3/kv/compaction", {"revision": str(revision)})
                    self.compactions += 1
                    last_compaction = time.monotonic()
            except (OSError, ValueError):
                self.errors += 1
            i += 1
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--interval", default="1s")
    ap.add_argument("--retention", type=int, default=3)
    ap.add_argument("--s3-retention", type=int, default=3)
    ap.add_argument("--writes-per-second", type=int, default=200)
    ap.add_argument("--tool", default=os.path.join(REPO, ".build/release/etcd-snapshot"))
    ap.add_argument("--no-s3", action="store_true")
    a = ap.parse_args()
    if not os.access(a.tool, os.X_OK):
        raise BenchError(f"{a.tool} is not built: swift build -c release --product etcd-snapshot")
    log(f"machine: {machine_info()}")
    work = tempfile.mkdtemp(prefix="agent-soak-")
    etcd = Etcd(etcd_bin("3.5", "etcd"), work)
    moto = None
    agent = None
    writer = None
    try:
        etcd.start()
        env = dict(os.environ)
        args = [a.tool, "agent", "--endpoints", etcd.url, "--dir", os.path.join(work, "snapshots"), "--node-name", "soak",
                "--etcd-snapshot-schedule-cron", f"@every {a.interval}", "--etcd-snapshot-retention", str(a.retention)]
        if not a.no_s3:
            moto = Moto(work)
            env = moto.env
            args += s3_flags(moto, "soak") + ["--s3-retention", str(a.s3_retention)]
        (port,) = free_ports(1)
        args += ["--http-listen", f"127.0.0.1:{port}"]
        agent_log = open(os.path.join(work, "agent.log"), "ab")
        agent = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=agent_log, stderr=agent_log, env=env, start_new_session=True)
        deadline = time.time() + 60
        while True:
            try:
                metrics(port)
                break
            except OSError:
                if agent.poll() is not None or time.time() > deadline:
                    raise BenchError(f"the agent did not start:\n{tail(os.path.join(work, 'agent.log'))}")
                time.sleep(0.2)
        writer = Writer(etcd.url, a.writes_per_second)
        writer.start()
        samples = []
        start = time.time()
        end = start + a.minutes * 60
        log(f"soak: agent pid {agent.pid}, @every {a.interval}, {a.minutes:g} min, writer {a.writes_per_second}/s, "
            f"S3 {'off' if a.no_s3 else 'on'}")
        log(f"{'t (s)':>6} {'RSS MiB':>8} {'fds':>4} {'ok local':>8} {'ok s3':>6} {'failed':>6} {'skipped':>7} {'db MiB':>7}")
        while True:
            now = time.time()
            rss, fds = proc_figures(agent.pid)
            m = metrics(port)
            sample = (now - start, rss, fds, m.get('etcd_snapshot_successes_total{location="local"}', 0),
                      m.get('etcd_snapshot_successes_total{location="s3"}', 0), failures(m),
                      m.get("etcd_snapshot_skipped_ticks_total", 0), m.get("etcd_snapshot_etcd_db_size_bytes", 0))
            samples.append(sample)
            log(f"{sample[0]:6.0f} {rss / 2**20:8.1f} {fds:4d} {sample[3]:8.0f} {sample[4]:6.0f} {sample[5]:6.0f} "
                f"{sample[6]:7.0f} {sample[7] / 2**20:7.1f}")
            if now >= end or agent.poll() is not None:
                break
            time.sleep(min(30, max(0.1, end - now)))
        writer.stop.set()
        writer.join(15)
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(120)
        snapshots = os.path.join(work, "snapshots")
        local = sorted(n for n in os.listdir(snapshots) if n.startswith("etcd-snapshot-soak-"))
        parts = [n for n in os.listdir(snapshots) if n.endswith(".part")]
        problems = []
        if rc != 0:
            problems.append(f"the agent exited {rc} on SIGTERM")
        if len(local) != a.retention:
            problems.append(f"{len(local)} local snapshots, expected {a.retention}")
        if parts:
            problems.append(f".part left: {parts}")
        if moto:
            objects = [o for o in moto.oracle("objects", "soak/") if not o["key"].startswith("soak/.metadata/")]
            if len(objects) != a.s3_retention:
                problems.append(f"{len(objects)} snapshots in S3, expected {a.s3_retention}")
            uploads = moto.oracle("uploads")
            if uploads:
                problems.append(f"open multipart uploads: {uploads}")
        first, last = samples[0], samples[-1]
        if last[5] > 0:
            problems.append(f"{last[5]:.0f} failures")
        if last[6] > 0:
            problems.append(f"{last[6]:.0f} skipped ticks (a snapshot took longer than the interval)")
        log("")
        log(f"duration {last[0]:.0f} s; snapshots {last[3]:.0f} local, {last[4]:.0f} S3; failures {last[5]:.0f}; "
            f"skipped ticks {last[6]:.0f}; writer {writer.written} puts ({writer.errors} errors), {writer.compactions} compactions")
        # The first sample is taken right after start; the second, 30 s in, is after warm-up.
        warm = samples[1] if len(samples) > 2 else first
        log(f"RSS: start {first[1] / 2**20:.1f} MiB, after 30 s {warm[1] / 2**20:.1f} MiB, end {last[1] / 2**20:.1f} MiB, "
            f"max {max(s[1] for s in samples) / 2**20:.1f} MiB")
        log(f"open fds: start {first[2]}, after 30 s {warm[2]}, end {last[2]}, max {max(s[2] for s in samples)}")
        log(f"left: {len(local)} local snapshots (retention {a.retention})"
            + ("" if not moto else f", {a.s3_retention} expected in S3"))
        if problems:
            log("PROBLEMS: " + "; ".join(problems))
            log(tail(os.path.join(work, "agent.log")))
            return 1
        log("checks: retention exact, no .part, no open upload, no failure")
        return 0
    finally:
        if writer:
            writer.stop.set()
        if agent and agent.poll() is None:
            agent.kill()
        if moto:
            moto.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"agent_soak: {e}", file=sys.stderr)
        sys.exit(1)
