#!/usr/bin/env python3
"""EC2 instance metadata (IMDSv2) and container credential endpoints on loopback, for tests.

Usage:
  Tests/Servers/aws-credentials-server.py --moto-endpoint HOST:PORT --role-arn ARN
                                    --web-identity-token TOKEN [--port 0]
                                    [--exit-on-stdin-eof]

There is no EC2 instance or ECS agent here, so this stands in for the two AWS endpoints the
credential chain reads, speaking their documented protocols:

  IMDSv2 (docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html)
    PUT /latest/api/token            needs X-aws-ec2-metadata-token-ttl-seconds (1..21600);
                                     answers a session token
    GET /latest/meta-data/iam/security-credentials/
                                     needs X-aws-ec2-metadata-token (else 401); the role name
    GET /latest/meta-data/iam/security-credentials/ROLE
                                     the role's credentials: {"Code": "Success", "Type":
                                     "AWS-HMAC", "AccessKeyId", "SecretAccessKey", "Token",
                                     "Expiration", "LastUpdated"}
  container credentials (ECS / EKS Pod Identity)
    GET /container/credentials       needs Authorization: the token printed at start (else
                                     401); {"AccessKeyId", "SecretAccessKey", "Token",
                                     "Expiration"}

The credentials are real for the moto server given (Tests/Servers/moto-s3.py started with the same
--web-identity-token): each document is fresh, obtained from moto's STS
AssumeRoleWithWebIdentity, and so they expire when moto's STS says (--sts-duration-seconds
there). Every request is logged on stderr as one JSON line: {"method", "path", "status"}.

Prints ONE line of JSON on stdout at start:
  {"port": P, "imds_endpoint": "http://127.0.0.1:P", "container_uri":
   "http://127.0.0.1:P/container/credentials", "container_token": "..."}
Serves until SIGTERM/SIGINT, or stdin EOF with --exit-on-stdin-eof.
"""
import argparse
import datetime
import http.server
import json
import re
import secrets
import signal
import sys
import threading
import urllib.parse
import urllib.request

ROLE_NAME = "etcd-snapshot-test-role"


def assume(moto_endpoint, role_arn, token):
    body = urllib.parse.urlencode({
        "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": role_arn,
        "RoleSessionName": "credentials-server", "WebIdentityToken": token}).encode()
    with urllib.request.urlopen(f"http://{moto_endpoint}/", data=body, timeout=10) as r:
        xml = r.read().decode()

    def field(name):
        return re.search(f"<{name}>(.*?)</{name}>", xml, re.S).group(1)

    return {"AccessKeyId": field("AccessKeyId"), "SecretAccessKey": field("SecretAccessKey"),
            "Token": field("SessionToken"), "Expiration": field("Expiration")}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--moto-endpoint", required=True)
    p.add_argument("--role-arn", required=True)
    p.add_argument("--web-identity-token", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    args = p.parse_args()

    session_tokens = set()
    container_token = secrets.token_hex(16)
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def answer(self, status, body, content_type="text/plain"):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            print(json.dumps({"method": self.command, "path": self.path, "status": status}),
                  file=sys.stderr, flush=True)

        def credentials(self, imds):
            c = assume(args.moto_endpoint, args.role_arn, args.web_identity_token)
            if imds:
                now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                c = {"Code": "Success", "LastUpdated": now, "Type": "AWS-HMAC", **c}
            return json.dumps(c)

        def do_PUT(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if self.path != "/latest/api/token":
                return self.answer(404, "not found")
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return self.answer(400, "missing or bad X-aws-ec2-metadata-token-ttl-seconds")
            token = secrets.token_hex(16)
            with lock:
                session_tokens.add(token)
            self.answer(200, token)

        def do_GET(self):
            prefix = "/latest/meta-data/iam/security-credentials/"
            if self.path.startswith(prefix):
                with lock:
                    ok = self.headers.get("X-aws-ec2-metadata-token") in session_tokens
                if not ok:
                    return self.answer(401, "")
                role = self.path[len(prefix):]
                if role == "":
                    return self.answer(200, ROLE_NAME)
                if role != ROLE_NAME:
                    return self.answer(404, "not found")
                return self.answer(200, self.credentials(imds=True), "application/json")
            if self.path == "/container/credentials":
                if self.headers.get("Authorization") != container_token:
                    return self.answer(401, json.dumps({"message": "bad authorization token"}), "application/json")
                return self.answer(200, self.credentials(imds=False), "application/json")
            self.answer(404, "not found")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    sys.stdout.write(json.dumps({
        "port": port, "imds_endpoint": f"http://127.0.0.1:{port}",
        "container_uri": f"http://127.0.0.1:{port}/container/credentials",
        "container_token": container_token}) + "\n")
    sys.stdout.flush()
    if args.exit_on_stdin_eof:
        def watch():
            try:
                while sys.stdin.buffer.read1(65536):
                    pass
            except (OSError, ValueError):
                pass
            stop.set()
        threading.Thread(target=watch, daemon=True).start()
    while not stop.wait(0.5):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
