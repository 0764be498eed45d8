#!/usr/bin/env bash
# Self-test of the S3 test helpers: Tests/Servers/moto-s3.py and Tests/Servers/s3-test-proxy.py.
#
# Usage: Tests/Servers/test-s3-proxies.sh        (exit 0 = all checks passed; about 15 s)
#
# Starts moto-s3.py (signature checking on) and four proxies: reverse, reverse+TLS (a
# throwaway self-signed certificate made with openssl in a temp dir), forward, and a
# reverse proxy whose control API is on a separate plain port. Then, with boto3/botocore
# and curl (endpoint = a proxy, key pair from moto-s3.py), checks: put/get/list/head
# (keys with ':' '+' ' ', ListObjectsV2 prefix=a/b/ delimiter=/), wrong secret and unknown
# key refused, multipart upload, a `status 503 SlowDown times 1` rule on partNumber=2 that
# botocore's retry gets past (and the stats show), an unsigned request (403), the aws
# cli (cp with multipart, ls), `reset` (curl and a socket see a
# reset), `stall` (2 s, and a stalled attempt that botocore retries), `delay`, chunked
# and Expect: 100-continue request bodies, client keep-alive, the TLS proxy and its
# control API, the forward proxy carrying an https CONNECT (to the TLS proxy) and
# absolute-form requests to mybucket.localhost:MOTO_PORT (virtual-host style, signature
# checked), then SIGTERM: every process exits 0 promptly. All processes are stopped on
# exit (trap). Needs python3 with moto[server] + boto3, openssl, curl.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test-s3-proxies.XXXXXX")
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "test-s3-proxies: FAILED: $*" >&2
  for f in "$TMP"/*.err; do
    [[ -s $f ]] && { echo "--- $f (tail)" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}

# start NAME CMD...: runs CMD in the background (stdout -> $TMP/NAME.out) and waits for
# its one JSON line.
start() {
  local name=$1 pid i
  shift
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  pid=$!
  PIDS+=("$pid")
  eval "PID_${name}=$pid"
  for i in $(seq 300); do
    grep -q '}' "$TMP/$name.out" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || fail "$name exited during startup"
    sleep 0.05
  done
  fail "$name printed no JSON line within 15 s"
}
json() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print("" if v is None else v)' "$@"; }

T0=$SECONDS
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null || fail "openssl"

start moto python3 "$HERE/moto-s3.py" --port 0 --bucket etcd-backups --bucket mybucket
MOTO_PORT=$(json "$TMP/moto.out" port)
start rev python3 "$HERE/s3-test-proxy.py" --listen-port 0 --upstream "127.0.0.1:$MOTO_PORT"
start tls python3 "$HERE/s3-test-proxy.py" --listen-port 0 --upstream "127.0.0.1:$MOTO_PORT" \
  --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" --control-port 0
start fwd python3 "$HERE/s3-test-proxy.py" --mode forward --listen-port 0 --control-port 0
start ctl python3 "$HERE/s3-test-proxy.py" --listen-port 0 --upstream "127.0.0.1:$MOTO_PORT" \
  --control-port 0 --faults '[{"method": "GET", "path_regex": "^/etcd-backups/cli-fault$",
  "action": "status", "status": 500, "times": 1}]'
echo "test-s3-proxies: moto on $MOTO_PORT, reverse $(json "$TMP/rev.out" port)," \
  "tls $(json "$TMP/tls.out" port) (control $(json "$TMP/tls.out" control_port))," \
  "forward $(json "$TMP/fwd.out" port), started in $((SECONDS - T0)) s"

export TMP
timeout 60 python3 - <<'PY' || fail "checks (see above)"
import http.client, json, os, socket, ssl, subprocess, sys, time, urllib.request

import boto3
import botocore
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

TMP = os.environ["TMP"]
for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
    os.environ.pop(var, None)
info = {n: json.load(open(f"{TMP}/{n}.out")) for n in ("moto", "rev", "tls", "fwd", "ctl")}
AK, SK = info["moto"]["access_key"], info["moto"]["secret_key"]
MP = info["moto"]["port"]
RP, TP, FP, CP = (info[n]["port"] for n in ("rev", "tls", "fwd", "ctl"))
TCP, CCP = info["tls"]["control_port"], info["ctl"]["control_port"]
CERT = f"{TMP}/cert.pem"
B = "etcd-backups"
failures = []


def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok or not detail else f": {detail}"))
    if not ok:
        failures.append(name)


def s3(endpoint, retries=1, secret=SK, key=AK, style="path", proxies=None, verify=None,
       **cfg):
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
        region_name="us-east-1", verify=verify,
        config=Config(s3={"addressing_style": style}, proxies=proxies,
                      retries={"total_max_attempts": retries, "mode": "standard"}, **cfg))


def control(port, method, path, body=None, tls=False):
    scheme = "https" if tls else "http"
    req = urllib.request.Request(
        f"{scheme}://127.0.0.1:{port}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    ctx = ssl._create_unverified_context() if tls else None
    with urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                     urllib.request.HTTPSHandler(context=ctx)).open(req) as r:
        return json.load(r)


def sign(method, host, path, secret=SK, headers=None):
    """SigV4 headers (UNSIGNED-PAYLOAD) for a request target `path` sent to Host `host`."""
    req = AWSRequest(method=method, url=f"http://{host}{path}", data=b"",
                     headers=dict(headers or {}, Host=host))
    req.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    S3SigV4Auth(Credentials(AK, secret), "s3", "us-east-1").add_auth(req)
    return list(req.headers.items())


def error_code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


rev = s3(f"http://127.0.0.1:{RP}")

# --- 1. basic operations through the reverse proxy
rev.put_object(Bucket=B, Key="a/b/snap.db", Body=b"hello etcd",
               ContentType="application/octet-stream")
check("reverse: put/get", rev.get_object(Bucket=B, Key="a/b/snap.db")["Body"].read()
      == b"hello etcd")
odd = "odd key:with+plus and space=1.db"
rev.put_object(Bucket=B, Key=odd, Body=b"odd")
check("reverse: key with ':' '+' ' ' '='",
      rev.get_object(Bucket=B, Key=odd)["Body"].read() == b"odd")
lst = rev.list_objects_v2(Bucket=B, Prefix="a/b/", Delimiter="/")
check("reverse: ListObjectsV2 prefix=a/b/ delimiter=/",
      [o["Key"] for o in lst.get("Contents", [])] == ["a/b/snap.db"])
lst = rev.list_objects_v2(Bucket=B, Prefix="a/", Delimiter="/")
check("reverse: common prefixes", lst.get("CommonPrefixes") == [{"Prefix": "a/b/"}])
check("reverse: head", rev.head_object(Bucket=B, Key=odd)["ContentLength"] == 3)
check("wrong secret -> SignatureDoesNotMatch",
      error_code(lambda: s3(f"http://127.0.0.1:{RP}", secret="wrong" + SK)
                 .get_object(Bucket=B, Key="a/b/snap.db")) == "SignatureDoesNotMatch")
check("unknown key -> InvalidAccessKeyId",
      error_code(lambda: s3(f"http://127.0.0.1:{RP}", key="AKIAUNKNOWN000000000")
                 .get_object(Bucket=B, Key="a/b/snap.db")) == "InvalidAccessKeyId")

unsigned = [subprocess.run(["curl", "-sS", "--noproxy", "*", "-w", "%{http_code}",
                           f"http://127.0.0.1:{RP}/{B}/{k}"], capture_output=True,
                          text=True).stdout for k in ("no-such-key", "a/b/snap.db")]
check("unsigned request -> 403 (AccessDenied XML; empty body for an existing key)",
      unsigned[0].endswith("403") and "<Code>AccessDenied</Code>" in unsigned[0]
      and unsigned[1] == "403", unsigned)

# the aws cli (multipart above 8 MiB) through the reverse proxy
env = dict(os.environ, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK,
           AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
           AWS_SHARED_CREDENTIALS_FILE="/dev/null")
with open(f"{TMP}/cli.bin", "wb") as f:
    f.write(os.urandom(9 << 20))
aws = ["aws", "--endpoint-url", f"http://127.0.0.1:{RP}", "s3"]
cps = [subprocess.run(aws + args, capture_output=True, text=True, env=env) for args in (
    ["cp", f"{TMP}/cli.bin", f"s3://{B}/cli dir/cli:1.bin"],
    ["cp", f"s3://{B}/cli dir/cli:1.bin", f"{TMP}/cli.back"],
    ["ls", f"s3://{B}/cli dir/"])]
check("aws cli: cp up (multipart), cp down, ls",
      all(c.returncode == 0 for c in cps) and "cli:1.bin" in cps[2].stdout
      and open(f"{TMP}/cli.bin", "rb").read() == open(f"{TMP}/cli.back", "rb").read(),
      [(c.returncode, c.stderr[-300:]) for c in cps])


def multipart(client, key, sizes=(5 << 20, 5 << 20, 1000)):
    up = client.create_multipart_upload(Bucket=B, Key=key)["UploadId"]
    parts, data = [], b""
    for n, size in enumerate(sizes, 1):
        chunk = bytes([64 + n]) * size
        data += chunk
        etag = client.upload_part(Bucket=B, Key=key, UploadId=up, PartNumber=n,
                                  Body=chunk)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    client.complete_multipart_upload(Bucket=B, Key=key, UploadId=up,
                                     MultipartUpload={"Parts": parts})
    return data


data = multipart(rev, "multi.db")
got = rev.get_object(Bucket=B, Key="multi.db")
check("reverse: multipart upload", got["Body"].read() == data,
      f"etag {got['ETag']}")

# --- 2. status 503 SlowDown once on partNumber=2: botocore retries
control(RP, "POST", "/__proxy/reset")
r = control(RP, "POST", "/__proxy/faults", [{"method": "PUT", "query_contains": "partNumber=2",
            "action": "status", "status": 503, "code": "SlowDown", "times": 1}])
check("control: faults set", r == {"ok": True, "rules": 1}, r)
data = multipart(s3(f"http://127.0.0.1:{RP}", retries=3), "retried.db")
check("fault status: multipart done after retry",
      rev.get_object(Bucket=B, Key="retried.db")["Body"].read() == data)
stats = control(RP, "GET", "/__proxy/stats")
p2 = [(e["status"], e["fault"]) for e in stats["requests"]
      if e["method"] == "PUT" and "partNumber=2" in e["query"]]
check("fault status: stats show 503 then 200 for part 2",
      p2 == [(503, "status"), (200, None)], p2)
check("fault status: rule spent",
      control(RP, "GET", "/__proxy/faults")[0]["times"] == 0)
conn = http.client.HTTPConnection("127.0.0.1", RP)
control(RP, "POST", "/__proxy/faults", [{"method": "GET", "path_regex": "fault-body$",
        "action": "status", "status": 503, "code": "SlowDown"}])
conn.request("GET", "/x/fault-body")
resp = conn.getresponse()
body = resp.read().decode()
check("fault status: S3 XML error body",
      resp.status == 503 and resp.getheader("Content-Type") == "application/xml"
      and "<Code>SlowDown</Code>" in body and "<RequestId>fault</RequestId>" in body, body)
conn.close()

# --- 3. keep-alive on the client side (also across a fault answer)
control(RP, "POST", "/__proxy/faults", [{"method": "GET", "path_regex": "ka-fault$",
        "action": "status", "status": 500, "times": 1}])
conn = http.client.HTTPConnection("127.0.0.1", RP)
ports, statuses = set(), []
for method, path, body in [("PUT", f"/{B}/ka.db", b"keep"), ("GET", f"/{B}/ka.db", None),
                           ("GET", f"/{B}/ka-fault", None), ("HEAD", f"/{B}/ka.db", None),
                           ("GET", f"/{B}/ka.db", None)]:
    hdrs = dict(sign(method, f"127.0.0.1:{RP}", path))
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    resp.read()
    statuses.append(resp.status)
    ports.add(conn.sock.getsockname()[1])
conn.close()
check("keep-alive: 5 requests on one connection", len(ports) == 1
      and statuses == [200, 200, 500, 200, 200], (ports, statuses))

# --- 4. chunked request body and Expect: 100-continue, byte-for-byte
path = f"/{B}/chunked.db"
conn = http.client.HTTPConnection("127.0.0.1", RP)
payload = b"0123456789abcdef" * 1000
conn.request("PUT", path, body=iter([payload[:5000], payload[5000:]]),
             headers=dict(sign("PUT", f"127.0.0.1:{RP}", path)), encode_chunked=True)
st = conn.getresponse().status
conn.close()
check("chunked request body", st == 200 and rev.get_object(Bucket=B, Key="chunked.db")
      ["Body"].read() == payload, st)
path = f"/{B}/expect.db"
hdrs = sign("PUT", f"127.0.0.1:{RP}", path, headers={"Expect": "100-continue"})
s = socket.create_connection(("127.0.0.1", RP), timeout=5)
s.sendall((f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs)
           + "Content-Length: 5\r\nConnection: close\r\n\r\n").encode())
first = s.recv(100)
s.sendall(b"12345")
rest = b""
while chunk := s.recv(65536):
    rest += chunk
s.close()
check("Expect: 100-continue relayed", first.startswith(b"HTTP/1.1 100")
      and b"HTTP/1.1 200" in rest, (first, rest[:60]))

# --- 5. reset: curl and a socket see a connection reset
control(RP, "POST", "/__proxy/faults", [{"method": "PUT", "path_regex": "reset-me",
        "action": "reset", "after_bytes": 1000}])
with open(f"{TMP}/body.bin", "wb") as f:
    f.write(os.urandom(300_000))
cp = subprocess.run(["curl", "-sS", "--noproxy", "*", "-X", "PUT", "-H",
                     "Content-Type: application/octet-stream", "-H", "Expect:",
                     "--data-binary", f"@{TMP}/body.bin",
                     f"http://127.0.0.1:{RP}/{B}/reset-me"], capture_output=True, text=True)
check("fault reset: curl sees a reset", cp.returncode in (55, 56)
      and "reset" in cp.stderr.lower(), (cp.returncode, cp.stderr.strip()))
s = socket.create_connection(("127.0.0.1", RP), timeout=5)
outcome = None
try:
    s.sendall(f"PUT /{B}/reset-me HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n"
              .encode() + b"x" * 1500)
    time.sleep(0.3)
    s.sendall(b"x" * 500)
    outcome = s.recv(100)
except ConnectionResetError as e:
    outcome = e
s.close()
check("fault reset: socket gets ECONNRESET", isinstance(outcome, ConnectionResetError),
      repr(outcome))
try:
    rev.put_object(Bucket=B, Key="reset-me", Body=b"y" * 5000)
    outcome = "no error"
except botocore.exceptions.BotoCoreError as e:  # ConnectionClosedError
    outcome = type(e).__name__
check("fault reset: botocore reports a connection error", outcome != "no error", outcome)
stats = control(RP, "GET", "/__proxy/stats")
got = [(e["status"], e["fault"], e["http_status"]) for e in stats["requests"]
       if e["path"].endswith("reset-me")]
check("fault reset: stats", got == [("reset", "reset", None)] * 3, got)

# --- 6. stall 2 s, stall retried by botocore, delay 1 s
control(RP, "POST", "/__proxy/reset")
control(RP, "POST", "/__proxy/faults", [
    {"method": "GET", "path_regex": "stall-me$", "action": "stall", "seconds": 2,
     "times": 1},
    {"method": "GET", "path_regex": "stall-boto$", "action": "stall", "seconds": 30,
     "times": 1},
    {"method": "GET", "path_regex": "delay-me$", "action": "delay", "seconds": 1}])
conn = http.client.HTTPConnection("127.0.0.1", RP, timeout=10)
t = time.monotonic()
conn.request("GET", f"/{B}/stall-me")
try:
    conn.getresponse()
    outcome = "answered"
except http.client.RemoteDisconnected:
    outcome = "closed"
dt = time.monotonic() - t
conn.close()
check("fault stall: no answer, closed after 2 s", outcome == "closed" and 1.9 <= dt < 4,
      (outcome, dt))
rev.put_object(Bucket=B, Key="stall-boto", Body=b"patience")
t = time.monotonic()
body = s3(f"http://127.0.0.1:{RP}", retries=2, read_timeout=1).get_object(
    Bucket=B, Key="stall-boto")["Body"].read()
dt = time.monotonic() - t
check("fault stall: botocore read timeout then retry", body == b"patience" and 1 <= dt < 5,
      dt)
rev.put_object(Bucket=B, Key="delay-me", Body=b"late")
t = time.monotonic()
body = rev.get_object(Bucket=B, Key="delay-me")["Body"].read()
dt = time.monotonic() - t
check("fault delay: 1 s then normal answer", body == b"late" and 1 <= dt < 3, dt)
got = [(e["path"].rsplit("/", 1)[1], e["status"], e["fault"])
       for e in control(RP, "GET", "/__proxy/stats")["requests"] if e["method"] == "GET"]
check("fault stall/delay: stats", got == [("stall-me", "stall", "stall"),
      ("stall-boto", "stall", "stall"), ("stall-boto", 200, None),
      ("delay-me", 200, "delay")], got)

# --- 6b. stall_body: the head and the first bytes arrive, then nothing
control(RP, "POST", "/__proxy/reset")
control(RP, "POST", "/__proxy/faults", [
    {"method": "GET", "path_regex": "stall-body$", "action": "stall_body", "after_bytes": 1000,
     "seconds": 2, "times": 1}])
rev.put_object(Bucket=B, Key="stall-body", Body=b"z" * 5000)
t = time.monotonic()
resp = s3(f"http://127.0.0.1:{RP}", retries=1, read_timeout=1).get_object(Bucket=B, Key="stall-body")
status = resp["ResponseMetadata"]["HTTPStatusCode"]
got = b""
try:
    while True:
        b = resp["Body"].read(100)
        if not b:
            break
        got += b
    outcome = "complete"
except Exception as e:  # botocore ReadTimeoutError / urllib3 errors
    outcome = type(e).__name__
dt = time.monotonic() - t
check("fault stall_body: 200 head, 1000 of 5000 bytes, then silence (read timeout)",
      status == 200 and got == b"z" * 1000 and outcome != "complete" and 0.9 <= dt < 3,
      (status, len(got), outcome, dt))
got = [(e["status"], e["fault"]) for e in control(RP, "GET", "/__proxy/stats")["requests"]
       if e["path"].endswith("stall-body") and e["method"] == "GET"]
check("fault stall_body: stats", got == [("stall", "stall_body")], got)

# --- 6c. lose_answer: the upstream did the work, the client gets an error
control(RP, "POST", "/__proxy/reset")
control(RP, "POST", "/__proxy/faults", [
    {"method": "PUT", "path_regex": "lost-answer$", "action": "lose_answer", "status": 500,
     "code": "InternalError", "times": 1}])
try:
    s3(f"http://127.0.0.1:{RP}", retries=1).put_object(Bucket=B, Key="lost-answer", Body=b"done")
    outcome = "no error"
except botocore.exceptions.ClientError as e:
    outcome = e.response["Error"]["Code"]
check("fault lose_answer: the client gets the error", outcome == "InternalError", outcome)
check("fault lose_answer: the work was done",
      rev.get_object(Bucket=B, Key="lost-answer")["Body"].read() == b"done")

# --- 7. TLS reverse proxy, its control API on TLS and on the plain control port
tls = s3(f"https://127.0.0.1:{TP}", verify=CERT)
tls.put_object(Bucket=B, Key="tls.db", Body=b"over tls")
check("tls: put/get", tls.get_object(Bucket=B, Key="tls.db")["Body"].read() == b"over tls")
data = multipart(tls, "tls-multi.db", (5 << 20, 100))
check("tls: multipart", rev.get_object(Bucket=B, Key="tls-multi.db")["Body"].read() == data)
st_tls = control(TP, "GET", "/__proxy/stats", tls=True)
st_plain = control(TCP, "GET", "/__proxy/stats")
check("tls: control API on TLS and on --control-port",
      st_tls["requests"] and st_tls["requests"] == st_plain["requests"]
      and st_tls["requests"][0]["target"] == f"127.0.0.1:{MP}")
cp = subprocess.run(["curl", "-sS", "-k", "--noproxy", "*",
                     f"https://127.0.0.1:{TP}/__proxy/stats"], capture_output=True, text=True)
check("tls: curl -k control API", cp.returncode == 0 and '"requests"' in cp.stdout, cp.stderr)
cp = subprocess.run(["curl", "-sS", "--noproxy", "*", "-o", "/dev/null", "-w", "%{http_code}",
                     f"http://127.0.0.1:{CCP}/{B}/x"], capture_output=True, text=True)
check("control port: S3 paths are not served there", cp.stdout == "404", cp.stdout)
# the --faults option (given at startup to the ctl proxy)
ctl = s3(f"http://127.0.0.1:{CP}")
rev.put_object(Bucket=B, Key="cli-fault", Body=b"z")
got = error_code(lambda: ctl.get_object(Bucket=B, Key="cli-fault"))
check("--faults at startup: 500 InternalError", got == "InternalError", got)
check("--faults at startup: spent after once",
      ctl.get_object(Bucket=B, Key="cli-fault")["Body"].read() == b"z")

# --- 8. forward proxy: https CONNECT to the TLS proxy; absolute-form virtual-host style
via = s3(f"https://127.0.0.1:{TP}", verify=CERT, proxies={"https": f"http://127.0.0.1:{FP}"})
via.put_object(Bucket=B, Key="via-connect.db", Body=b"tunnelled")
check("forward: https via CONNECT",
      via.get_object(Bucket=B, Key="via-connect.db")["Body"].read() == b"tunnelled")
vh = s3(f"http://localhost:{MP}", style="virtual", proxies={"http": f"http://127.0.0.1:{FP}"})
vh.put_object(Bucket="mybucket", Key="vhost key:1.db", Body=b"virtual host")
check("forward: virtual-host style put/get (mybucket.localhost)",
      vh.get_object(Bucket="mybucket", Key="vhost key:1.db")["Body"].read()
      == b"virtual host")
check("forward: virtual-host object is in mybucket",
      rev.get_object(Bucket="mybucket", Key="vhost key:1.db")["Body"].read()
      == b"virtual host")
lst = vh.list_objects_v2(Bucket="mybucket", Prefix="vhost ", Delimiter="/")
check("forward: virtual-host list", [o["Key"] for o in lst.get("Contents", [])]
      == ["vhost key:1.db"])
check("forward: virtual-host wrong secret -> SignatureDoesNotMatch",
      error_code(lambda: s3(f"http://localhost:{MP}", style="virtual", secret="x",
                            proxies={"http": f"http://127.0.0.1:{FP}"})
                 .get_object(Bucket="mybucket", Key="vhost key:1.db"))
      == "SignatureDoesNotMatch")
control(FP, "POST", "/__proxy/faults", [{"method": "GET", "path_regex": "vhost",
        "action": "status", "status": 503, "times": 1}])
check("forward: faults apply to absolute-form requests (retried)",
      s3(f"http://localhost:{MP}", style="virtual", retries=2,
         proxies={"http": f"http://127.0.0.1:{FP}"})
      .get_object(Bucket="mybucket", Key="vhost key:1.db")["Body"].read() == b"virtual host")
stats = control(FP, "GET", "/__proxy/stats")
check("forward: stats list the CONNECT target", f"127.0.0.1:{TP}" in stats["connects"],
      stats["connects"])
check("forward: same stats on --control-port",
      control(info["fwd"]["control_port"], "GET", "/__proxy/stats") == stats)
vt = {(e["method"], e["target"], e["status"], e["fault"]) for e in stats["requests"]}
want = {("PUT", f"mybucket.localhost:{MP}", 200, None),
        ("GET", f"mybucket.localhost:{MP}", 200, None),
        ("GET", f"mybucket.localhost:{MP}", 403, None),
        ("GET", f"mybucket.localhost:{MP}", 503, "status")}
check("forward: stats list the absolute-form targets", want <= vt, vt)
check("forward: path in stats is origin-form",
      any(e["path"] == "/vhost%20key%3A1.db" for e in stats["requests"]),
      [e["path"] for e in stats["requests"]])
control(FP, "POST", "/__proxy/reset")
check("control: reset clears", control(FP, "GET", "/__proxy/stats")
      == {"requests": [], "connects": []} and control(FP, "GET", "/__proxy/faults") == [])
r = None
try:
    control(FP, "POST", "/__proxy/faults", [{"action": "explode"}])
except urllib.error.HTTPError as e:
    r = e.code
check("control: invalid rule -> 400", r == 400, r)

print(f"{len(failures)} failure(s)" if failures else "all checks passed")
sys.exit(1 if failures else 0)
PY

# SIGTERM: each process exits 0 promptly.
for name in rev tls fwd ctl moto; do
  pid_var="PID_$name"
  pid=${!pid_var}
  kill -TERM "$pid"
  t=$SECONDS
  rc=0
  wait "$pid" || rc=$?
  ((rc == 0)) || fail "$name exited $rc on SIGTERM"
  ((SECONDS - t <= 3)) || fail "$name took $((SECONDS - t)) s to exit on SIGTERM"
done
echo "PASS SIGTERM: all processes exited 0"
for name in rev tls fwd ctl; do
  [[ $(wc -l <"$TMP/$name.out") -eq 1 ]] || fail "$name wrote more than one line on stdout"
done
echo "test-s3-proxies: OK ($((SECONDS - T0)) s)"
