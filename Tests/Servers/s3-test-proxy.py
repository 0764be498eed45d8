#!/usr/bin/env python3
"""Fault-injecting HTTP/1.1 proxy for the S3 tests (reverse or forward mode).

Usage:
  Tests/Servers/s3-test-proxy.py --upstream HOST:PORT [--listen-port 0] [--listen-host 127.0.0.1]
                           [--tls-cert FILE --tls-key FILE] [--control-port 0]
                           [--faults JSON|@FILE] [--upstream-timeout 300] [--verbose]
  Tests/Servers/s3-test-proxy.py --mode forward [--listen-port 0] [--control-port 0]
                           [--faults JSON|@FILE] [--verbose]

Modes
  reverse (default)  The tool under test uses http(s)://127.0.0.1:PORT as its S3 endpoint.
                     Each request is forwarded BYTE-FOR-BYTE (request line, headers
                     including Host, body) to --upstream over plain http, one upstream
                     connection per request; the response is relayed as it came. Nothing
                     is rewritten, so SigV4 signatures stay valid. Keep-alive on the client
                     side works: the upstream's `Connection: close` (werkzeug, hence
                     moto, sends it on every response) is the one thing changed in a
                     response, dropped when the response is delimited (Content-Length,
                     chunked, HEAD, 204/304) and the client asked for keep-alive, so the
                     client can reuse its connection as with real S3; the proxy opens a
                     new upstream connection per request. With --tls-cert/--tls-key the
                     listening side speaks TLS (HTTP/1.1 only, ALPN http/1.1); the
                     upstream stays plain http.
  forward            An HTTP forward proxy (HTTPS_PROXY/HTTP_PROXY). `CONNECT host:port`
                     is answered `200 Connection established` and bytes are tunnelled both
                     ways. An absolute-form request `GET http://host:port/p?q HTTP/1.1` is
                     sent to host:port with the request line turned into origin-form
                     (`GET /p?q HTTP/1.1`); headers, Host included, are left untouched.
                     `localhost` and any name ending in `.localhost` resolve to 127.0.0.1,
                     so virtual-host style (`BUCKET.localhost:PORT`) works without DNS.

Request bodies are passed through by Content-Length or as raw `Transfer-Encoding:
chunked` framing; responses by Content-Length, chunked, or until close (HEAD, 1xx, 204 and
304 have none). `Expect: 100-continue` works (the upstream's 100 is relayed; for a fault
the proxy sends its own 100 before reading the body).

Faults (both modes, forwarded requests only; rules are tried in order, the first that
matches and is not spent applies):
  {"method": "PUT", "path_regex": "\\\\.db$", "query_contains": "partNumber=2",
   "action": "status", "status": 503, "code": "SlowDown", "times": 2}
  match fields (all optional; an omitted field matches anything):
    method          HTTP method, case-insensitive
    path_regex      re.search() on the path as sent (percent-encoded) or on its decoded form
    query_contains  one or more whole query parameters as sent, e.g. "partNumber=2" (does
                    not match partNumber=20), "uploadId" (any value), "uploads",
                    "partNumber=2&uploadId=X" (must appear in this order)
  actions:
    status   answer `status` (default 503) with an S3 XML error
             <Error><Code>CODE</Code><Message>MESSAGE</Message><RequestId>fault</RequestId>
             </Error> (Content-Type application/xml; optional "code", "message", and
             "headers": {"Retry-After": "1"}), without contacting the upstream; the
             request body is read and discarded first, the connection stays usable
    reset    read `after_bytes` (default 0) bytes of the request body (as on the wire),
             then close the client socket with RST (SO_LINGER 0), no answer
    stall    read the request, then answer nothing for `seconds` (default 3600), then
             close (FIN); ends early if the client closes
    lose_answer  forward the request, read the upstream's whole answer and drop it, then
             answer `status` (default 503) with an S3 XML error as `status` does: the
             work was done, its answer lost
    stall_body  forward the request, relay the response head and the first `after_bytes`
             (default 0) bytes of its body, then send nothing for `seconds` (default
             3600) and close; ends early if the client closes
    delay    sleep `seconds` (default 1), then forward normally
  times     how many matching requests get the fault; omitted or null: unlimited
  Only a rule with "method": "CONNECT" applies to CONNECT (forward mode); its path_regex
  is tried on "host:port" (status, reset, stall and delay work there too).

Control API, on the same listener (and on --control-port, plain http, if given), at paths
no S3 request uses (in forward mode as origin-form requests to the proxy itself):
  GET  /__proxy/stats   -> {"requests": [{"method": "PUT", "path": "/b/k",
                            "query": "partNumber=2&uploadId=..", "status": 200,
                            "fault": null, "target": "127.0.0.1:9000",
                            "http_status": 200}, ...],
                            "connects": ["127.0.0.1:9443", ...]}
                           status = what the client got: an int; "reset" or "stall" for
                           those faults; "client_closed" if the client went away before
                           the answer; null while still in flight. http_status = status if
                           it is an int, else null (for decoders that want one type).
                           fault = null, "status", "reset", "stall" or "delay".
                           target = "host:port" the request went (or would have gone) to.
                           range, if_match = the request's Range and If-Match headers, or null.
                           Control requests are not recorded.
  POST /__proxy/faults  body: a JSON list of rules (or one rule): replaces all rules
                           -> {"ok": true, "rules": N}; 400 {"error": ...} if invalid
  GET  /__proxy/faults  -> the rules, "times" = what is left
  POST /__proxy/reset   clears the stats and the rules -> {"ok": true}

On start it prints ONE line of JSON on stdout and flushes: {"port": P, "control_port": C}
(C is null without --control-port); nothing else goes to stdout. Diagnostics go to stderr
with --verbose only. SIGTERM/SIGINT exit 0 at once.

Python 3.11 standard library only.
"""
import argparse
import http
import json
import os
import re
import select
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse

IO_CHUNK = 64 * 1024
MAX_LINE = 64 * 1024
MAX_HEADERS = 200
MAX_CONTROL_BODY = 1 << 20
CONNECT_TIMEOUT = 10.0
IDLE_TIMEOUT = 600.0
EXPECT_WAIT = 1.0  # how long to wait for the upstream's 100 Continue before sending anyway
STATS_PREFIX = "/__proxy"

VERBOSE = False
STOP = threading.Event()


def log(msg):
    if VERBOSE:
        sys.stderr.write(f"s3-test-proxy: {msg}\n")
        sys.stderr.flush()


class BadRequest(Exception):
    pass


class ClientGone(Exception):
    """The client side failed or closed (read or write)."""


class UpstreamError(Exception):
    pass


# ------------------------------------------------------------------------------- HTTP
class Head:
    """A request or response head, kept as raw bytes plus a parsed view."""

    def __init__(self, raw_first, raw_lines, headers):
        self.raw_first = raw_first  # first line, with its line ending
        self.raw_lines = raw_lines  # header lines (raw) + the empty line
        self.first = raw_first.decode("latin-1").rstrip("\r\n")
        self.headers = headers

    @property
    def raw_rest(self):
        return b"".join(self.raw_lines)

    @property
    def raw(self):
        return self.raw_first + self.raw_rest

    def without_connection_close(self):
        """The raw head with the `close` token taken out of Connection headers (a
        hop-by-hop header; every other byte unchanged)."""
        out = [self.raw_first]
        for ln in self.raw_lines:
            name, sep, value = ln.decode("latin-1").partition(":")
            if sep and name.strip().lower() == "connection":
                tokens = [t.strip() for t in value.split(",") if t.strip()]
                kept = [t for t in tokens if t.lower() != "close"]
                if len(kept) != len(tokens):
                    if kept:
                        out.append(f"{name}: {', '.join(kept)}\r\n".encode("latin-1"))
                    continue
            out.append(ln)
        return b"".join(out)

    def get_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def get(self, name):
        vals = self.get_all(name)
        return vals[-1] if vals else None

    def has_token(self, name, token):
        for v in self.get_all(name):
            if token in (t.strip().lower() for t in v.split(",")):
                return True
        return False


def read_head(f):
    """Reads a head from a buffered reader. None on a clean EOF before any byte."""
    line = f.readline(MAX_LINE + 1)
    while line in (b"\r\n", b"\n"):  # RFC 9112 2.2: ignore empty lines before a request
        line = f.readline(MAX_LINE + 1)
    if not line:
        return None
    if len(line) > MAX_LINE or not line.endswith(b"\n"):
        raise BadRequest("request/status line too long or truncated")
    rest = []
    headers = []
    while True:
        h = f.readline(MAX_LINE + 1)
        if not h:
            raise BadRequest("connection closed inside the head")
        if len(h) > MAX_LINE or not h.endswith(b"\n"):
            raise BadRequest("header line too long")
        rest.append(h)
        if h in (b"\r\n", b"\n"):
            break
        if len(rest) > MAX_HEADERS:
            raise BadRequest("too many header lines")
        name, sep, value = h.decode("latin-1").partition(":")
        if not sep or not name.strip():
            raise BadRequest(f"bad header line {h[:80]!r}")
        headers.append((name.strip(), value.strip()))
    return Head(line, rest, headers)


def framing(head, request_method=None, status=None):
    """("none"|"length"|"chunked"|"close", n). For responses give the request method."""
    is_response = status is not None
    if is_response and (request_method == "HEAD" or 100 <= status < 200
                        or status in (204, 304)):
        return ("none", 0)
    te = ",".join(head.get_all("transfer-encoding"))
    if te.strip():
        codings = [c.strip().lower() for c in te.split(",") if c.strip()]
        if codings[-1] == "chunked":
            return ("chunked", 0)
        if is_response:
            return ("close", 0)
        raise BadRequest("request Transfer-Encoding without chunked last")
    cls = {v.strip() for v in head.get_all("content-length")}
    if cls:
        if len(cls) != 1 or not next(iter(cls)).isdigit():
            raise BadRequest(f"bad Content-Length {sorted(cls)}")
        return ("length", int(next(iter(cls))))
    return ("close", 0) if is_response else ("none", 0)


def copy_exact(src, dst, n, on_src_error=ClientGone):
    while n > 0:
        try:
            b = src.read1(min(n, IO_CHUNK))
        except OSError as e:
            raise on_src_error(f"read: {e}") from e
        if not b:
            raise on_src_error(f"EOF with {n} body bytes still expected")
        dst(b)
        n -= len(b)


def copy_chunked(src, dst, on_src_error=ClientGone):
    """Copies a chunked body with its framing untouched (chunk sizes, extensions, trailers)."""

    def line():
        try:
            ln = src.readline(MAX_LINE + 1)
        except OSError as e:
            raise on_src_error(f"read: {e}") from e
        if not ln.endswith(b"\n"):
            raise on_src_error("EOF or overlong line in a chunked body")
        return ln

    while True:
        ln = line()
        dst(ln)
        try:
            size = int(ln.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise on_src_error(f"bad chunk size line {ln[:40]!r}") from None
        if size == 0:
            break
        copy_exact(src, dst, size, on_src_error)
        dst(line())  # CRLF after the chunk data
    while True:  # trailer section, ends with an empty line
        ln = line()
        dst(ln)
        if ln in (b"\r\n", b"\n"):
            return


def copy_body(src, dst, fr, on_src_error=ClientGone):
    kind, n = fr
    if kind == "length":
        copy_exact(src, dst, n, on_src_error)
    elif kind == "chunked":
        copy_chunked(src, dst, on_src_error)
    elif kind == "close":
        while True:
            try:
                b = src.read1(IO_CHUNK)
            except OSError as e:
                raise on_src_error(f"read: {e}") from e
            if not b:
                return
            dst(b)


class _Enough(Exception):
    pass


def discard(_b):
    pass


def reason(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def build_response(status, headers, body):
    lines = [f"HTTP/1.1 {status} {reason(status)}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), body


DEFAULT_CODES = {400: "BadRequest", 403: "AccessDenied", 404: "NoSuchKey",
                 409: "OperationAborted", 412: "PreconditionFailed",
                 429: "SlowDown", 500: "InternalError", 501: "NotImplemented",
                 502: "BadGateway", 503: "SlowDown", 504: "GatewayTimeout"}


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def s3_error(status, code, message, request_id="fault", extra_headers=()):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{xml_escape(code)}</Code><Message>{xml_escape(message)}</Message>"
            f"<RequestId>{xml_escape(request_id)}</RequestId></Error>").encode()
    headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id),
               ("Date", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())),
               ("Server", "s3-test-proxy")]
    headers += list(extra_headers)
    return build_response(status, headers, body)


def json_response(status, obj):
    body = (json.dumps(obj) + "\n").encode()
    return build_response(status, [("Content-Type", "application/json")], body)


def resolve(host):
    h = host.lower().rstrip(".")
    if h == "localhost" or h.endswith(".localhost"):
        return "127.0.0.1"
    if h.startswith("[") and h.endswith("]"):
        return h[1:-1]
    return host


def split_hostport(s, default_port=None):
    """'host:port', '[v6]:port' -> (host, port) with host as written."""
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise ValueError(f"bad address {s!r}")
        host, rest = s[:end + 1], s[end + 1:]
        if rest.startswith(":"):
            return host, int(rest[1:])
        if rest:
            raise ValueError(f"bad address {s!r}")
    else:
        host, sep, port = s.rpartition(":")
        if sep and host:
            return host, int(port)
        host = s
    if default_port is None:
        raise ValueError(f"port missing in {s!r}")
    return host, default_port


def parse_absolute(target):
    """'http://host[:port]/p?q' -> (host, port, 'p?q' in origin-form)."""
    if not target[:7].lower() == "http://":
        raise BadRequest("forward proxy: expected an absolute http:// URL or CONNECT")
    rest = target[7:]
    cut = len(rest)
    for ch in "/?":
        i = rest.find(ch)
        if 0 <= i < cut:
            cut = i
    authority, origin = rest[:cut], rest[cut:]
    authority = authority.rpartition("@")[2]
    if not authority:
        raise BadRequest("no host in the request URL")
    if not origin.startswith("/"):
        origin = "/" + origin
    try:
        host, port = split_hostport(authority, 80)
    except ValueError as e:
        raise BadRequest(str(e)) from None
    return host, port, origin


# ------------------------------------------------------------------------------ rules
MATCH_FIELDS = {"method", "path_regex", "query_contains"}
ACTION_FIELDS = {"action", "status", "code", "message", "headers", "times", "seconds",
                 "after_bytes"}
ACTIONS = {"status", "reset", "stall", "stall_body", "lose_answer", "delay"}


class Rule:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a rule must be a JSON object")
        unknown = set(spec) - MATCH_FIELDS - ACTION_FIELDS
        if unknown:
            raise ValueError(f"unknown rule fields {sorted(unknown)}")
        self.action = spec.get("action")
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {sorted(ACTIONS)}, got {self.action!r}")
        self.method = spec.get("method")
        if self.method is not None:
            self.method = str(self.method).upper()
        self.path_regex = spec.get("path_regex")
        self._re = re.compile(self.path_regex) if self.path_regex is not None else None
        self.query_contains = spec.get("query_contains")
        if self.query_contains is not None and not isinstance(self.query_contains, str):
            raise ValueError("query_contains must be a string")
        self.status = int(spec.get("status", 503))
        if not 100 <= self.status <= 599:
            raise ValueError("status must be 100..599")
        self.code = str(spec.get("code") or DEFAULT_CODES.get(self.status, "InjectedFault"))
        self.message = str(spec.get("message") or
                           f"Injected by s3-test-proxy (HTTP {self.status} {self.code})")
        hdrs = spec.get("headers") or {}
        if not isinstance(hdrs, dict):
            raise ValueError("headers must be an object")
        self.headers = [(str(k), str(v)) for k, v in hdrs.items()]
        times = spec.get("times")
        self.times = None if times is None else int(times)
        default_seconds = {"stall": 3600.0, "stall_body": 3600.0, "delay": 1.0}.get(self.action, 0.0)
        self.seconds = float(spec.get("seconds", default_seconds))
        self.after_bytes = int(spec.get("after_bytes", 0))
        self.spec = dict(spec)

    def describe(self):
        d = dict(self.spec)
        d["times"] = self.times
        return d

    def matches(self, method, path, query):
        if self.method is None:
            if method == "CONNECT":
                return False
        elif self.method != method.upper():
            return False
        if self._re is not None:
            if not (self._re.search(path) or self._re.search(urllib.parse.unquote(path))):
                return False
        if self.query_contains is not None:
            if not query_has(query, self.query_contains):
                return False
        return True


def query_has(query, needle):
    """needle appears in query starting at a parameter start and ending at a parameter
    end, or right before the '=' of the last parameter it covers."""
    if needle == "":
        return True
    start = 0
    while True:
        i = query.find(needle, start)
        if i < 0:
            return False
        end = i + len(needle)
        if (i == 0 or query[i - 1] == "&") and (
                end == len(query) or query[end] == "&"
                or (query[end] == "=" and "=" not in needle.rsplit("&", 1)[-1])):
            return True
        start = i + 1


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.requests = []
        self.connects = []

    def set_rules(self, specs):
        if isinstance(specs, dict):
            specs = [specs]
        if not isinstance(specs, list):
            raise ValueError("expected a JSON list of rules")
        rules = [Rule(s) for s in specs]
        with self.lock:
            self.rules = rules
        return len(rules)

    def match(self, method, path, query):
        with self.lock:
            for r in self.rules:
                if r.times is not None and r.times <= 0:
                    continue
                if r.matches(method, path, query):
                    if r.times is not None:
                        r.times -= 1
                    return r
        return None

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    def record_connect(self, label):
        with self.lock:
            self.connects.append(label)

    def snapshot(self):
        with self.lock:
            reqs = []
            for e in self.requests:
                e = dict(e)
                e["http_status"] = e["status"] if isinstance(e["status"], int) else None
                reqs.append(e)
            return {"requests": reqs, "connects": list(self.connects)}

    def rules_json(self):
        with self.lock:
            return [r.describe() for r in self.rules]

    def reset(self):
        with self.lock:
            self.rules = []
            self.requests = []
            self.connects = []


# ------------------------------------------------------------------------- connection
class Connection:
    def __init__(self, server, sock, addr):
        self.srv = server
        self.state = server.state
        self.cfg = server.cfg
        self.sock = sock
        self.addr = addr
        self.rfile = None
        self.closed = False

    # -- client I/O
    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise ClientGone(f"write: {e}") from e

    def send_response(self, resp, head_only=False):
        head, body = resp
        self.send(head if head_only else head + body)

    def close(self, rst=False):
        if self.closed:
            return
        self.closed = True
        if rst:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
            except OSError:
                pass
        else:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        # the makefile() reader holds a reference: the fd closes only when both are closed
        try:
            if self.rfile is not None:
                self.rfile.close()
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def run(self):
        try:
            if self.srv.tls_ctx is not None:
                self.sock.settimeout(30)
                try:
                    self.sock = self.srv.tls_ctx.wrap_socket(self.sock, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    log(f"{self.addr}: TLS handshake failed: {e}")
                    return
            self.sock.settimeout(self.cfg.idle_timeout)
            self.rfile = self.sock.makefile("rb", buffering=IO_CHUNK)
            while not STOP.is_set():
                try:
                    head = read_head(self.rfile)
                except BadRequest as e:
                    log(f"{self.addr}: bad request: {e}")
                    try:
                        self.send_response(json_response(400, {"error": str(e)}))
                    except ClientGone:
                        pass
                    return
                except OSError:
                    return
                if head is None:
                    return
                try:
                    keep = self.handle_one(head)
                except ClientGone as e:
                    log(f"{self.addr}: client gone: {e}")
                    return
                except BadRequest as e:
                    log(f"{self.addr}: bad request: {e}")
                    try:
                        self.send_response(json_response(400, {"error": str(e)}))
                    except ClientGone:
                        pass
                    return
                if not keep:
                    return
        finally:
            self.close()

    def handle_one(self, head):
        parts = head.first.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise BadRequest(f"bad request line {head.first[:100]!r}")
        method, target, version = parts
        client_keep = (version == "HTTP/1.1" and not head.has_token("connection", "close"))
        expect = head.has_token("expect", "100-continue")

        if target == STATS_PREFIX or target.startswith(STATS_PREFIX + "/"):
            return self.control(method, target, head, client_keep, expect)
        if self.srv.kind == "control":
            self.discard_body(head, expect)
            self.send_response(json_response(404, {"error": "control port: only /__proxy/*"}))
            return client_keep

        if self.cfg.mode == "forward":
            if method == "CONNECT":
                return self.tunnel(target, head)
            host, port, origin = parse_absolute(target)
            upstream = (resolve(host), port)
            label = f"{host}:{port}"
            out_head = f"{method} {origin} {version}\r\n".encode("latin-1") + head.raw_rest
        else:
            if method == "CONNECT":
                self.send_response(s3_error(405, "MethodNotAllowed",
                                            "reverse proxy: CONNECT not supported", "proxy"))
                return False
            if not target.startswith("/"):
                raise BadRequest("reverse proxy: origin-form request target expected")
            upstream = self.cfg.upstream
            label = self.cfg.upstream_label
            origin = target
            out_head = head.raw
        path, _, query = origin.partition("?")
        fr = framing(head)  # BadRequest -> 400 and close

        entry = {"method": method, "path": path, "query": query, "status": None,
                 "fault": None, "target": label, "http_status": None,
                 "range": head.get("range"), "if_match": head.get("if-match")}
        self.state.record(entry)
        rule = self.state.match(method, path, query)
        t0 = time.monotonic()
        try:
            keep = self.apply(rule, entry, head, fr, expect, client_keep, method, out_head,
                              upstream)
        except ClientGone:
            if entry["status"] is None:
                entry["status"] = "client_closed"
            raise
        finally:
            log(f"{self.addr[0]}:{self.addr[1]} {method} {label} {origin[:120]} -> "
                f"{entry['status']} fault={entry['fault']} "
                f"{time.monotonic() - t0:.3f}s")
        return keep

    def apply(self, rule, entry, head, fr, expect, client_keep, method, out_head, upstream):
        if rule is not None:
            entry["fault"] = rule.action
            if rule.action == "delay":
                STOP.wait(rule.seconds)
            elif rule.action == "status":
                self.discard_body(head, expect, fr)
                entry["status"] = rule.status
                self.send_response(s3_error(rule.status, rule.code, rule.message,
                                            extra_headers=rule.headers),
                                   head_only=(method == "HEAD"))
                return client_keep
            elif rule.action == "reset":
                entry["status"] = "reset"
                if rule.after_bytes > 0 and fr[0] != "none":
                    if expect:
                        self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                    got = [0]

                    def count(b):
                        got[0] += len(b)
                        if got[0] >= rule.after_bytes:
                            raise _Enough()

                    try:
                        copy_body(self.rfile, count, fr)
                    except (_Enough, ClientGone):
                        pass
                self.close(rst=True)
                return False
            elif rule.action == "stall":
                entry["status"] = "stall"
                try:
                    self.discard_body(head, expect, fr)
                except ClientGone:
                    return False
                self.hold(rule.seconds)
                return False
        stall = rule if rule is not None and rule.action in ("stall_body", "lose_answer") else None
        return self.forward(entry, fr, expect, client_keep, method, out_head, upstream, stall)

    def discard_body(self, head, expect, fr=None):
        fr = fr or framing(head)
        if fr[0] == "none" or (fr[0] == "length" and fr[1] == 0):
            return
        if expect:
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        copy_body(self.rfile, discard, fr)

    def hold(self, seconds):
        """Answer nothing for `seconds`; stop early if the client closes."""
        deadline = time.monotonic() + seconds
        while not STOP.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                self.sock.settimeout(min(left, 0.5))
                if not self.sock.recv(IO_CHUNK):
                    return  # client closed
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except OSError:
                return

    # -- forwarding
    def forward(self, entry, fr, expect, client_keep, method, out_head, upstream, stall=None):
        try:
            up = socket.create_connection(upstream, timeout=CONNECT_TIMEOUT)
        except OSError as e:
            entry["status"] = 502
            log(f"upstream {upstream}: connect failed: {e}")
            self.send_response(s3_error(502, "BadGateway",
                                        f"s3-test-proxy: cannot connect to upstream: {e}",
                                        "proxy"), head_only=(method == "HEAD"))
            return False  # the request body (if any) was not read
        upfile = None
        try:
            up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            up.settimeout(self.cfg.upstream_timeout)
            upfile = up.makefile("rb", buffering=IO_CHUNK)

            def up_send(b):
                try:
                    up.sendall(b)
                except OSError as e:
                    raise UpstreamError(f"write: {e}") from e

            up_send(out_head)
            has_body = not (fr[0] == "none" or (fr[0] == "length" and fr[1] == 0))
            body_sent = not has_body
            final = None
            if has_body and expect:
                # relay the upstream's 100 Continue (or its early final answer)
                r, _, _ = select.select([up], [], [], EXPECT_WAIT)
                if r:
                    h = self.read_upstream_head(upfile)
                    status = self.status_of(h)
                    if 100 <= status < 200:
                        self.send(h.raw)
                    else:
                        final = (h, status)
            if final is None and not body_sent:
                try:
                    copy_body(self.rfile, up_send, fr)  # ClientGone on the client side
                    body_sent = True
                except UpstreamError as e:
                    log(f"upstream stopped reading the body: {e}")  # try its answer
            while final is None:
                h = self.read_upstream_head(upfile)
                status = self.status_of(h)
                if 100 <= status < 200 and status != 101:
                    self.send(h.raw)
                    continue
                final = (h, status)
            h, status = final
            entry["status"] = status
            rfr = framing(h, request_method=method, status=status)
            keep = (client_keep and body_sent and rfr[0] != "close"
                    and h.first.startswith("HTTP/1.1"))
            # werkzeug (moto) says `Connection: close` on every response; drop that
            # hop-by-hop token so that the client can keep its connection, as with S3.
            if stall is not None and stall.action == "lose_answer":
                copy_body(upfile, discard, rfr, on_src_error=UpstreamError)
                entry["status"] = stall.status
                self.send_response(s3_error(stall.status, stall.code, stall.message,
                                            extra_headers=stall.headers),
                                   head_only=(method == "HEAD"))
                return keep
            self.send(h.without_connection_close() if keep else h.raw)
            if stall is not None:
                left = [stall.after_bytes]

                def send_some(b):
                    if left[0] > 0:
                        self.send(b[:left[0]])
                        left[0] -= min(len(b), left[0])
                    if left[0] <= 0:
                        raise _Enough()

                try:
                    if left[0] > 0:
                        copy_body(upfile, send_some, rfr, on_src_error=UpstreamError)
                except _Enough:
                    pass
                entry["status"] = "stall"
                self.hold(stall.seconds)
                return False
            copy_body(upfile, self.send, rfr, on_src_error=UpstreamError)
            return keep
        except (UpstreamError, BadRequest, OSError) as e:
            # OSError here: upstream read errors/timeouts (client errors are ClientGone)
            log(f"upstream {upstream}: {type(e).__name__}: {e}")
            if entry["status"] is None:
                entry["status"] = 502
                try:
                    self.send_response(s3_error(502, "BadGateway",
                                                f"s3-test-proxy: upstream failed: {e}",
                                                "proxy"), head_only=(method == "HEAD"))
                except ClientGone:
                    pass
            return False
        finally:
            try:
                if upfile is not None:
                    upfile.close()
                up.close()
            except OSError:
                pass

    @staticmethod
    def read_upstream_head(upfile):
        try:
            h = read_head(upfile)
        except BadRequest as e:
            raise UpstreamError(f"bad response: {e}") from None
        except OSError as e:
            raise UpstreamError(f"read: {e}") from e
        if h is None:
            raise UpstreamError("upstream closed without answering")
        return h

    @staticmethod
    def status_of(h):
        parts = h.first.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise UpstreamError(f"bad status line {h.first[:80]!r}")
        return int(parts[1])

    def tunnel(self, target, head):
        try:
            host, port = split_hostport(target)
        except ValueError as e:
            raise BadRequest(str(e)) from None
        label = f"{host}:{port}"
        self.state.record_connect(label)
        rule = self.state.match("CONNECT", label, "")
        if rule is not None:
            log(f"CONNECT {label}: fault {rule.action}")
            if rule.action == "status":
                self.send_response(s3_error(rule.status, rule.code, rule.message,
                                            extra_headers=rule.headers))
                return False
            if rule.action == "reset":
                self.close(rst=True)
                return False
            if rule.action == "stall":
                self.hold(rule.seconds)
                return False
            STOP.wait(rule.seconds)  # delay
        try:
            up = socket.create_connection((resolve(host), port), timeout=CONNECT_TIMEOUT)
        except OSError as e:
            log(f"CONNECT {label}: {e}")
            self.send_response(build_response(502, [("Content-Type", "text/plain")],
                                              f"cannot connect to {label}: {e}\n".encode()))
            return False
        log(f"CONNECT {label}: tunnel open")
        self.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
        up.settimeout(None)
        self.sock.settimeout(None)

        def up_to_client():
            try:
                while True:
                    b = up.recv(IO_CHUNK)
                    if not b:
                        break
                    self.sock.sendall(b)
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                for s in (up, self.sock):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        t = threading.Thread(target=up_to_client, daemon=True)
        t.start()
        try:
            while True:
                b = self.rfile.read1(IO_CHUNK)  # includes anything already buffered
                if not b:
                    break
                up.sendall(b)
            up.shutdown(socket.SHUT_WR)
        except OSError:
            for s in (up, self.sock):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        t.join(self.cfg.idle_timeout)
        try:
            up.close()
        except OSError:
            pass
        log(f"CONNECT {label}: tunnel closed")
        return False

    # -- control API
    def control(self, method, target, head, client_keep, expect):
        fr = framing(head)
        body = bytearray()

        def collect(b):
            body.extend(b)
            if len(body) > MAX_CONTROL_BODY:
                raise BadRequest("control request body too large")

        if not (fr[0] == "none" or (fr[0] == "length" and fr[1] == 0)):
            if expect:
                self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            copy_body(self.rfile, collect, fr)
        path = target.split("?", 1)[0]
        if path == STATS_PREFIX + "/stats" and method in ("GET", "HEAD"):
            resp = json_response(200, self.state.snapshot())
        elif path == STATS_PREFIX + "/faults" and method in ("POST", "PUT"):
            try:
                n = self.state.set_rules(json.loads(bytes(body) or b"[]"))
                resp = json_response(200, {"ok": True, "rules": n})
                log(f"control: {n} fault rule(s) set")
            except (ValueError, TypeError, re.error) as e:
                resp = json_response(400, {"error": f"{type(e).__name__}: {e}"})
        elif path == STATS_PREFIX + "/faults" and method in ("GET", "HEAD"):
            resp = json_response(200, self.state.rules_json())
        elif path == STATS_PREFIX + "/reset" and method == "POST":
            self.state.reset()
            resp = json_response(200, {"ok": True})
            log("control: reset")
        else:
            resp = json_response(404, {"error": f"no control endpoint {method} {path}"})
        self.send_response(resp, head_only=(method == "HEAD"))
        return client_keep


# ---------------------------------------------------------------------------- servers
class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        Connection(self.server, self.request, self.client_address).run()


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, addr, cfg, state, kind, tls_ctx=None):
        self.cfg = cfg
        self.state = state
        self.kind = kind
        self.tls_ctx = tls_ctx
        super().__init__(addr, Handler)

    def shutdown_request(self, request):
        pass  # Connection.run() closed it (a second shutdown/close would undo an RST)

    def handle_error(self, request, client_address):
        if VERBOSE:
            super().handle_error(request, client_address)


def load_faults(arg):
    if arg is None:
        return []
    text = arg
    if arg.startswith("@"):
        with open(arg[1:], encoding="utf-8") as f:
            text = f.read()
    return json.loads(text)


def main(argv=None):
    global VERBOSE
    p = argparse.ArgumentParser(description="fault-injecting S3 test proxy (see docstring)")
    p.add_argument("--mode", choices=("reverse", "forward"), default="reverse")
    p.add_argument("--listen-host", default="127.0.0.1")
    p.add_argument("--listen-port", type=int, default=0)
    p.add_argument("--upstream", help="HOST:PORT (reverse mode)")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--control-port", type=int, default=None)
    p.add_argument("--faults", help="JSON list of rules, or @FILE")
    p.add_argument("--upstream-timeout", type=float, default=300.0)
    p.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    VERBOSE = args.verbose

    if args.mode == "reverse":
        if not args.upstream:
            p.error("reverse mode needs --upstream HOST:PORT")
        try:
            h, port = split_hostport(args.upstream)
        except ValueError as e:
            p.error(str(e))
        args.upstream_label = f"{h}:{port}"
        args.upstream = (resolve(h), port)
    elif args.upstream:
        p.error("--upstream is for reverse mode")
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.tls_cert and args.mode == "forward":
        p.error("--tls-cert is for reverse mode")

    state = State()
    try:
        state.set_rules(load_faults(args.faults))
    except (OSError, ValueError, TypeError, re.error) as e:
        p.error(f"--faults: {e}")

    tls_ctx = None
    if args.tls_cert:
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            tls_ctx.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as e:
            p.error(f"--tls-cert/--tls-key: {e}")
        tls_ctx.set_alpn_protocols(["http/1.1"])

    main_srv = Server((args.listen_host, args.listen_port), args, state, "main", tls_ctx)
    servers = [main_srv]
    control_port = None
    if args.control_port is not None:
        ctl = Server((args.listen_host, args.control_port), args, state, "control")
        servers.append(ctl)
        control_port = ctl.server_address[1]
    for s in servers:
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()

    def on_signal(signum, frame):
        STOP.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    port = main_srv.server_address[1]
    sys.stdout.write(json.dumps({"port": port, "control_port": control_port}) + "\n")
    sys.stdout.flush()
    log(f"{args.mode} proxy on {args.listen_host}:{port}"
        + (" (TLS)" if tls_ctx else "")
        + (f" -> {args.upstream_label}" if args.mode == "reverse" else "")
        + (f", control on {control_port}" if control_port else ""))

    while not STOP.wait(0.5):
        pass
    for s in servers:
        try:
            s.socket.close()
        except OSError:
            pass
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
