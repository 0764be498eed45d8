#!/usr/bin/env python3
"""Fill an etcd v3 server with a Kubernetes-looking data set, reproducibly.

Usage:
  Tests/Fixtures/fill-etcd.py --endpoint URL [--small N] [--big M] [options]

  # about 130 MB of database
  Tests/Fixtures/fill-etcd.py --endpoint http://127.0.0.1:23790 --small 5000 --big 90
  # about 1 GB
  Tests/Fixtures/fill-etcd.py --endpoint http://127.0.0.1:23790 --small 20000 --big 780
  # TLS with a client certificate, and etcd auth
  Tests/Fixtures/fill-etcd.py --endpoint https://127.0.0.1:23790 --cacert ca.pem \\
      --cert client.pem --key client-key.pem --user root --password secret ...

Python standard library only. It talks to etcd's built-in JSON gRPC gateway
(POST /v3/kv/put with base64 key and value), which etcd 3.4 and 3.5 serve on the
client URL by default.

Data set (the same keys and values for a given --seed, whatever --threads is;
only the order of the puts, hence the revisions, can differ between runs when
--threads > 1):
  * --small N keys  /registry/<resource>/<namespace>/<name>, JSON values of
    ~0.5..4 KiB (like Kubernetes objects stored as JSON; partly compressible).
  * --big M keys    /registry/configmaps/bulk/blob-<i>, each --big-size bytes
    (default 1 MiB, below etcd's 1.5 MiB --max-request-bytes default).
    Content: --random-frac random bytes, the rest base64 text lines.

TLS/auth notes: with --user the script logs in through /v3/auth/authenticate and
sends the token. etcd's gateway refuses any request that presents a client
certificate once auth is enabled ("CommonName of client sending a request against
gateway will be ignored"), so on a --client-cert-auth server fill the data before
`etcdctl auth enable`.

Count afterwards: etcdctl --endpoints=... get --prefix '' --keys-only | grep -c .
"""
import argparse
import base64
import http.client
import json
import random
import ssl
import sys
import threading
import time
import urllib.parse

RESOURCES = ["pods", "services", "endpoints", "secrets", "configmaps",
             "deployments", "replicasets", "events", "leases", "serviceaccounts"]


def small_value(rng, res, ns, name):
    labels = {f"app.kubernetes.io/l{j}": f"v{rng.getrandbits(32):08x}" for j in range(rng.randint(1, 6))}
    containers = [{
        "name": f"c{j}", "image": f"registry.example/img{rng.randint(0, 50)}:v{rng.randint(1, 9)}.{rng.randint(0, 99)}",
        "env": [{"name": f"ENV_{k}", "value": f"{rng.getrandbits(64):016x}"} for k in range(rng.randint(0, 12))],
        "resources": {"requests": {"cpu": f"{rng.randint(1, 999)}m", "memory": f"{rng.randint(1, 999)}Mi"}},
    } for j in range(rng.randint(1, 4))]
    obj = {"apiVersion": "v1", "kind": res[:-1].capitalize(),
           "metadata": {"name": name, "namespace": ns, "uid": f"{rng.getrandbits(128):032x}",
                        "resourceVersion": str(rng.randint(1, 10**9)), "labels": labels,
                        "annotations": {"note": base64.b64encode(rng.randbytes(rng.randint(0, 600))).decode()}},
           "spec": {"containers": containers}}
    return json.dumps(obj, separators=(",", ":")).encode()


def big_value(rng, size, random_frac):
    nrand = int(size * random_frac)
    out = bytearray(rng.randbytes(nrand))
    line_src = 57  # 57 raw bytes -> 76 base64 chars + newline
    while len(out) < size:
        out += base64.b64encode(rng.randbytes(line_src)) + b"\n"
    return bytes(out[:size])


def make_item(seed, big_size, random_frac, kind, i):
    """Key and value of job (kind, i); kind is "s" (small) or "b" (big)."""
    rng = random.Random(seed * 1_000_003 + (0 if kind == "s" else 10**9) + i)
    if kind == "s":
        res = RESOURCES[i % len(RESOURCES)]
        ns = f"ns-{i % 37:02d}"
        name = f"{res[:-1]}-{i:06d}-{rng.getrandbits(20):05x}"
        return f"/registry/{res}/{ns}/{name}".encode(), small_value(rng, res, ns, name)
    return f"/registry/configmaps/bulk/blob-{i:05d}".encode(), big_value(rng, big_size, random_frac)


class AuthError(Exception):
    pass


class Client:
    """One keep-alive HTTP(S) connection to the JSON gateway."""

    def __init__(self, endpoint, ssl_context=None, user=None, password=None, timeout=60):
        u = urllib.parse.urlparse(endpoint)
        if u.scheme not in ("http", "https"):
            raise SystemExit(f"fill-etcd.py: endpoint must be http:// or https://, not {endpoint!r}")
        self.https = u.scheme == "https"
        self.host, self.port = u.hostname, u.port or 2379
        self.ssl_context = ssl_context
        self.user, self.password = user, password
        self.timeout = timeout
        self.conn = None
        self.token = None

    def _connect(self):
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                               context=self.ssl_context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _post(self, path, body):
        if self.conn is None:
            self.conn = self._connect()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = self.token
        self.conn.request("POST", path, body, headers)
        r = self.conn.getresponse()
        return r.status, r.read()

    def authenticate(self):
        body = json.dumps({"name": self.user, "password": self.password})
        status, data = self._post("/v3/auth/authenticate", body)
        if status != 200:
            raise AuthError(f"authenticate as {self.user!r}: HTTP {status}: {data[:300]!r}")
        self.token = json.loads(data)["token"]

    def put(self, key, value):
        body = json.dumps({"key": base64.b64encode(key).decode(),
                           "value": base64.b64encode(value).decode()})
        for attempt in range(5):
            try:
                if self.user is not None and self.token is None:
                    self.authenticate()
                status, data = self._post("/v3/kv/put", body)
                if status == 401 and self.user is not None and attempt < 4:
                    self.token = None  # token expired (--auth-token-ttl): log in again
                    continue
                if status != 200:
                    raise RuntimeError(f"put {key!r}: HTTP {status}: {data[:300]!r}")
                return
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt == 4:
                    raise
                time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", default="http://127.0.0.1:23790", help="client URL (http:// or https://)")
    ap.add_argument("--small", type=int, default=5000, help="number of small Kubernetes-like keys")
    ap.add_argument("--big", type=int, default=90, help="number of big blobs")
    ap.add_argument("--big-size", type=int, default=1 << 20, help="bytes per blob (default 1 MiB)")
    ap.add_argument("--random-frac", type=float, default=0.5, help="random share of each blob")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--cacert", help="CA bundle to verify the server (https)")
    ap.add_argument("--cert", help="client certificate (https, client-cert-auth)")
    ap.add_argument("--key", help="client private key")
    ap.add_argument("--user", help="etcd user name (etcd auth)")
    ap.add_argument("--password", help="etcd password (with --user)")
    ap.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    a = ap.parse_args()
    if (a.cert is None) != (a.key is None):
        ap.error("--cert and --key go together")
    if a.user is not None and a.password is None:
        ap.error("--user needs --password")

    ctx = None
    if urllib.parse.urlparse(a.endpoint).scheme == "https":
        ctx = ssl.create_default_context(cafile=a.cacert)
        if a.cert:
            ctx.load_cert_chain(a.cert, a.key)
    elif a.cacert or a.cert:
        ap.error("--cacert/--cert/--key need an https:// endpoint")

    jobs = [("s", i) for i in range(a.small)] + [("b", i) for i in range(a.big)]

    lock = threading.Lock()
    state = {"next": 0, "bytes": 0, "done": 0}
    errors = []

    def worker():
        c = Client(a.endpoint, ctx, a.user, a.password)
        while True:
            with lock:
                if state["next"] >= len(jobs) or errors:
                    return
                job = jobs[state["next"]]
                state["next"] += 1
            k, v = make_item(a.seed, a.big_size, a.random_frac, *job)
            try:
                c.put(k, v)
            except Exception as e:  # noqa: BLE001 -- reported below
                with lock:
                    errors.append(e)
                return
            with lock:
                state["bytes"] += len(k) + len(v)
                state["done"] += 1

    t0 = time.time()
    ts = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, a.threads))]
    for t in ts:
        t.start()
    last = t0
    while any(t.is_alive() for t in ts):
        time.sleep(0.2)
        if not a.quiet and time.time() - last > 10:
            last = time.time()
            print(f"  {state['done']}/{len(jobs)} keys, {state['bytes']/2**20:.0f} MiB", file=sys.stderr)
    if errors:
        print(f"fill-etcd.py: ERROR: {errors[0]}", file=sys.stderr)
        sys.exit(1)
    dt = max(time.time() - t0, 1e-9)
    print(f"put {state['done']} keys, {state['bytes']/2**20:.1f} MiB of key+value in {dt:.1f} s "
          f"({state['bytes']/2**20/dt:.1f} MiB/s)")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
