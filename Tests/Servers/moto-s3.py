#!/usr/bin/env python3
"""An S3 server on loopback that CHECKS SigV4 signatures (moto), for the tests.

Usage:
  Tests/Servers/moto-s3.py [--port 0] [--host 127.0.0.1] [--bucket NAME ...]
                     [--region us-east-1] [--min-part-size N]
                     [--web-identity-token TOKEN] [--sts-duration-seconds N]
                     [--exit-on-stdin-eof] [--verbose]

  --port P             port to listen on (0, the default: the kernel picks a free one)
  --host H             address to bind (default 127.0.0.1)
  --bucket NAME        create this bucket before auth is switched on (repeatable)
  --region R           region of those buckets (default us-east-1)
  --min-part-size N    smallest multipart part (but the last) that CompleteMultipartUpload
                       accepts (moto's S3_UPLOAD_PART_MIN_SIZE; default 5 MiB, as AWS;
                       smaller parts get EntityTooSmall)
  --web-identity-token TOKEN
                       STS AssumeRoleWithWebIdentity (unsigned, as on AWS: the token is the
                       proof) succeeds only with this token; any other gets
                       InvalidIdentityToken (400). Without the option it is refused.
  --sts-duration-seconds N
                       lifetime of the credentials STS issues (default 3600); as on AWS, S3
                       refuses them with ExpiredToken (400) once they have expired
  --exit-on-stdin-eof  also stop when stdin reaches EOF (the parent went away)
  --verbose            log every request (werkzeug's access log) to stderr

What it does, in one process:
  1. runs moto's S3 app (moto.moto_server.werkzeug_app.DomainDispatcherApplication, the
     same app as `moto_server`) in werkzeug's threaded dev server, with the RAW_URI patch
     below active;
  2. while auth is still off (moto's default), creates an IAM user, an access key and an
     inline s3:* policy, a role (etcd-snapshot-test-role) with the same policy for web
     identity, and the --bucket buckets, with boto3 against itself;
  3. switches authentication on: POST /moto-api/reset-auth, body `0`, Content-Type
     text/plain (from then on every request must carry a valid SigV4 signature by that
     key: a wrong secret gets SignatureDoesNotMatch, an unknown key InvalidAccessKeyId);
  4. prints ONE line of JSON on stdout and flushes it:
       {"port": P, "endpoint": "127.0.0.1:P", "access_key": "...", "secret_key": "...",
        "role_arn": "arn:aws:iam::123456789012:role/etcd-snapshot-test-role"}
     Nothing else is ever written to stdout (stray prints go to stderr).
  5. serves until SIGTERM or SIGINT (exit 0), or stdin EOF with --exit-on-stdin-eof.
     If the startup fails the exit status is 1 and nothing is printed on stdout.

Moto does not check payload hashes, clock skew or region; it keeps objects in memory.
Virtual-host style works: a Host header `BUCKET.localhost:P` addresses BUCKET (moto
treats any host with a dot that is not an IP address, and does not start with
`localhost`, as BUCKET.rest).

Needs: Python 3.11, moto[server] 5.2.x (with flask, werkzeug) and boto3 (tested with
moto 5.2.1, werkzeug 3.1.8, flask 3.1.3, boto3/botocore 1.43.11).
"""
import argparse
import datetime
import http.client
import json
import logging
import os
import signal
import sys
import threading

# This process only talks to itself: no proxy, no user AWS configuration, and auth must
# start off (moto reads INITIAL_NO_AUTH_ACTION_COUNT when moto.settings is imported).
for _var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
             "all_proxy", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL",
             "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_IAM", "INITIAL_NO_AUTH_ACTION_COUNT"):
    os.environ.pop(_var, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

# Keep the real stdout for the one JSON line; anything moto or a library prints goes to
# stderr (moto prints, for instance, "Unable to find appropriate backend for ...").
_REAL_STDOUT = sys.stdout
sys.stdout = sys.stderr

USER_NAME = "etcd-snapshot-test"
BOOTSTRAP_KEY = ("bootstrap", "bootstrap")  # any key works while auth is off
S3_ALL_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
})


ROLE_NAME = "etcd-snapshot-test-role"
WEB_IDENTITY = {"token": None, "duration": None}


def load_moto():
    """Imports moto (after the environment is final) and applies the RAW_URI patch.

    Returns the WSGI app (the same as `moto_server` serves) and werkzeug's handler class.
    """
    from flask import has_request_context
    from flask import request as flask_request
    from moto.core import authorization as _auth

    # -----------------------------------------------------------------------------------
    # RAW_URI patch -- taken from the team's shared tool moto_sigv4_server.py
    # (shared/tools/moto_sigv4_server.py), unchanged in substance.
    #
    # With IAM auth on, moto 5.2.1 recomputes the signature from flask's request.url,
    # which werkzeug has already percent-decoded/re-encoded. Valid signatures are then
    # refused (SignatureDoesNotMatch) whenever the path or query holds characters such as
    # '/' in a query value (ListObjectsV2 prefix=a/b/, delimiter=/) or ':' '=' '%' ' '
    # '+' in a key. This hands moto's checker the request target exactly as the client
    # sent it (werkzeug's dev server puts it in environ["RAW_URI"]). Everything else is
    # stock moto.
    # -----------------------------------------------------------------------------------
    from moto import settings
    from moto.s3.exceptions import BucketAccessDeniedError, S3AccessDeniedError

    orig = _auth.ActionAuthenticatorMixin._authenticate_and_authorize_action

    from moto.core.utils import utcnow
    from moto.s3.exceptions import S3ClientError
    from moto.sts.models import sts_backends

    class TokenError(S3ClientError):
        pass

    def is_web_identity_call(self):
        """Ours: the unsigned AssumeRoleWithWebIdentity call, which AWS takes without a
        signature (the web identity token is the proof); checked in the action below."""
        if "Authorization" in self.headers:
            return False
        action = (getattr(self, "data", None) or {}).get("Action") or self.querystring.get("Action")
        if isinstance(action, list):
            action = action[0] if action else None
        return action == "AssumeRoleWithWebIdentity"

    from moto.sts.exceptions import STSClientError
    from moto.sts.responses import TokenResponse

    original_web_identity = TokenResponse.assume_role_with_web_identity

    def web_identity(self):
        token = self._get_param("WebIdentityToken")
        if WEB_IDENTITY["token"] is None or token != WEB_IDENTITY["token"]:
            raise STSClientError("InvalidIdentityToken", "The web identity token that was passed could not be validated by AWS.")
        if WEB_IDENTITY["duration"] is not None:
            original_int = self._get_int_param
            self._get_int_param = lambda name, default=None: (
                WEB_IDENTITY["duration"] if name == "DurationSeconds" else original_int(name, default))
        print(f"moto-s3: AssumeRoleWithWebIdentity for {self._get_param('RoleArn')}", file=sys.stderr)
        return original_web_identity(self)

    TokenResponse.assume_role_with_web_identity = web_identity

    def check_expiry(self):
        """Ours: temporary credentials stop working once they have expired, as on AWS (moto
        keeps accepting them). A request counts as used when it was signed (X-Amz-Date), so
        that a request the test proxy holds back is judged by when the client made it."""
        token = self.headers.get("X-Amz-Security-Token")
        auth = self.headers.get("Authorization") or ""
        if not token or "Credential=" not in auth:
            return
        key_id = auth.split("Credential=", 1)[1].split("/", 1)[0]
        try:
            signed = datetime.datetime.strptime(self.headers.get("X-Amz-Date") or "", "%Y%m%dT%H%M%SZ")
        except ValueError:
            signed = utcnow()
        for backend in sts_backends.values():
            for partition in backend.values():
                for role in partition.assumed_roles:
                    if role.access_key_id == key_id and role.expiration < signed:
                        print(f"moto-s3: ExpiredToken for {key_id}", file=sys.stderr)
                        raise TokenError("ExpiredToken", "The provided token has expired.")

    def patched(self, iam_request_cls, resource="*"):
        if (_auth.ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT):
            if iam_request_cls.__name__ != "S3IAMRequest" and is_web_identity_call(self):
                return None
            check_expiry(self)
        # Ours, not in the shared tool: with auth on, a request without an Authorization
        # header (unsigned, or a presigned URL) makes stock moto fail with HTTP 500
        # (KeyError 'Authorization'). S3 answers 403 AccessDenied; so do we.
        if (iam_request_cls.__name__ == "S3IAMRequest"
                and "Authorization" not in self.headers
                and _auth.ActionAuthenticatorMixin.request_count
                >= settings.INITIAL_NO_AUTH_ACTION_COUNT):
            bucket = (getattr(self, "data", None) or {}).get("BucketName")
            raise BucketAccessDeniedError(bucket) if bucket else S3AccessDeniedError()
        raw = None
        if has_request_context():
            env = flask_request.environ
            raw = env.get("RAW_URI") or env.get("REQUEST_URI")
        if not raw or not raw.startswith("/"):
            return orig(self, iam_request_cls, resource)
        saved = self.uri
        self.uri = "http://moto.invalid" + raw  # only path+query are read from it
        try:
            return orig(self, iam_request_cls, resource)
        finally:
            self.uri = saved

    _auth.ActionAuthenticatorMixin._authenticate_and_authorize_action = patched

    from werkzeug.serving import WSGIRequestHandler

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        create_backend_app,
    )

    class QuietHandler(WSGIRequestHandler):
        """werkzeug's handler; the access log only with --verbose (errors always)."""

        verbose = False

        def log_request(self, code="-", size="-"):
            if self.verbose:
                super().log_request(code, size)

    return DomainDispatcherApplication(create_backend_app), QuietHandler


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="moto S3 server with SigV4 checking, for tests (see the file's docstring)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--bucket", action="append", default=[])
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--min-part-size", type=int, default=None)
    p.add_argument("--web-identity-token", default=None)
    p.add_argument("--sts-duration-seconds", type=int, default=None)
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def bootstrap(endpoint_url, region, buckets):
    """With auth still off: IAM user + key + s3:* policy, buckets. Returns (ak, sk)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=BOOTSTRAP_KEY[0], aws_secret_access_key=BOOTSTRAP_KEY[1],
        region_name=region)
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"},
                 s3={"addressing_style": "path"})
    iam = session.client("iam", endpoint_url=endpoint_url, config=cfg)
    iam.create_user(UserName=USER_NAME)
    key = iam.create_access_key(UserName=USER_NAME)["AccessKey"]
    iam.put_user_policy(UserName=USER_NAME, PolicyName="s3-all",
                        PolicyDocument=S3_ALL_POLICY)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "oidc.example"},
        "Action": "sts:AssumeRoleWithWebIdentity"}]})
    role_arn = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="s3-all", PolicyDocument=S3_ALL_POLICY)
    s3 = session.client("s3", endpoint_url=endpoint_url, config=cfg)
    for name in buckets:
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name,
                             CreateBucketConfiguration={"LocationConstraint": region})
    return key["AccessKeyId"], key["SecretAccessKey"], role_arn


def enable_auth(host, port):
    # The body must be sent raw: form-encoded (curl -d) flask sees no body -> HTTP 500.
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("POST", "/moto-api/reset-auth", body=b"0",
                     headers={"Content-Type": "text/plain"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"reset-auth answered {resp.status}: {body[:200]!r}")
    finally:
        conn.close()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="moto-s3: %(levelname)s %(name)s: %(message)s")
    wlog = logging.getLogger("werkzeug")
    wlog.setLevel(logging.INFO if args.verbose else logging.WARNING)
    if args.min_part_size is not None:
        # moto.settings reads it at import time (default 5 MiB, as AWS)
        os.environ["S3_UPLOAD_PART_MIN_SIZE"] = str(args.min_part_size)
    WEB_IDENTITY["token"] = args.web_identity_token
    WEB_IDENTITY["duration"] = args.sts_duration_seconds
    app, handler = load_moto()
    handler.verbose = args.verbose

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    from werkzeug.serving import make_server

    server = make_server(args.host, args.port, app, threaded=True, request_handler=handler)
    port = server.socket.getsockname()[1]
    os.environ.setdefault("MOTO_PORT", str(port))  # as moto_server does
    serve = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                             name="moto-serve", daemon=True)
    serve.start()

    connect_host = args.host
    if connect_host in ("0.0.0.0", "", "::"):
        connect_host = "127.0.0.1"
    url_host = f"[{connect_host}]" if ":" in connect_host else connect_host
    endpoint = f"{url_host}:{port}"
    try:
        access_key, secret_key, role_arn = bootstrap(f"http://{endpoint}", args.region, args.bucket)
        enable_auth(connect_host, port)
    except Exception as e:  # noqa: BLE001 - report any startup failure plainly
        print(f"moto-s3: startup failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if args.verbose:
        print(f"moto-s3: serving on {endpoint}, auth on, user {USER_NAME}, "
              f"buckets {args.bucket}", file=sys.stderr)

    _REAL_STDOUT.write(json.dumps({"port": port, "endpoint": endpoint,
                                   "access_key": access_key,
                                   "secret_key": secret_key,
                                   "role_arn": role_arn}) + "\n")
    _REAL_STDOUT.flush()

    if args.exit_on_stdin_eof:
        def watch_stdin():
            try:
                while sys.stdin.buffer.read1(65536):
                    pass
            except (OSError, ValueError):
                pass
            stop.set()

        threading.Thread(target=watch_stdin, name="stdin-eof", daemon=True).start()

    while not stop.wait(0.5):
        pass
    # Stop accepting, then exit at once: requests still running are daemon threads.
    closer = threading.Thread(target=server.shutdown, daemon=True)
    closer.start()
    closer.join(2)
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
