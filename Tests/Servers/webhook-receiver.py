#!/usr/bin/env python3
"""A webhook receiver for the agent's tests: appends every POST to a file as one JSON line.

Usage: webhook-receiver.py --out FILE [--fail-first N]

Prints "PORT n" once it listens on 127.0.0.1 (port chosen by the system). Each line written
is {"path": ..., "authorization": ..., "body": <the request's JSON>}. With --fail-first N the
first N requests are answered 503 (to prove the agent retries), the rest 204. Exits on
SIGTERM, or after an hour at most.
"""
import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    lock = threading.Lock()
    state = {"seen": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            with lock:
                state["seen"] += 1
                fail = state["seen"] <= args.fail_first
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparsed": raw.decode("utf-8", "replace")}
                with open(args.out, "a") as f:
                    f.write(json.dumps({"path": self.path, "authorization": self.headers.get("Authorization"),
                                        "status": 503 if fail else 204, "body": body}) + "\n")
            self.send_response(503 if fail else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(0))
    signal.alarm(3600)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
