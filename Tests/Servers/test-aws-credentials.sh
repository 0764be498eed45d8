#!/usr/bin/env bash
# Self-test of the credential test servers against the AWS CLI's own credential chain
# (botocore, an implementation independent of ours).
#
# Usage: Tests/Servers/test-aws-credentials.sh        (exit 0 = all checks passed; about 20 s)
#
# Starts Tests/Servers/moto-s3.py with a web identity token and 4-second STS credentials, and
# Tests/Servers/aws-credentials-server.py in front of its STS. Then, with no keys in the
# environment, `aws s3 ls` must work through each source: web identity (STS
# AssumeRoleWithWebIdentity at AWS_ENDPOINT_URL_STS), IMDSv2
# (AWS_EC2_METADATA_SERVICE_ENDPOINT) and container credentials
# (AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN); a wrong web
# identity token and a wrong container token must fail; and STS credentials used after they
# expired must get ExpiredToken. Needs python3 with moto[server] + boto3, and the aws cli.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test-aws-credentials.XXXXXX")
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
  echo "test-aws-credentials: FAILED: $*" >&2
  for f in "$TMP"/*.err; do [[ -s $f ]] && { echo "--- $f (tail)" >&2; tail -n 20 "$f" >&2; }; done
  exit 1
}
ok() { echo "test-aws-credentials: ok: $*"; }
first_line() { # FILE: waits up to 60 s for the first line of FILE
  local i
  for ((i = 0; i < 600; i++)); do
    [[ -s $1 ]] && { head -n 1 "$1"; return 0; }
    sleep 0.1
  done
  return 1
}
json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

TOKEN="web-identity-token-$RANDOM"
BUCKET=credentials-check
python3 "$HERE/moto-s3.py" --bucket "$BUCKET" --web-identity-token "$TOKEN" --sts-duration-seconds 4 \
  >"$TMP/moto.out" 2>"$TMP/moto.err" &
PIDS+=($!)
MOTO=$(first_line "$TMP/moto.out") || fail "moto-s3.py did not start"
ENDPOINT=$(json "$MOTO" endpoint)
ROLE=$(json "$MOTO" role_arn)
python3 "$HERE/aws-credentials-server.py" --moto-endpoint "$ENDPOINT" --role-arn "$ROLE" \
  --web-identity-token "$TOKEN" >"$TMP/creds.out" 2>"$TMP/creds.err" &
PIDS+=($!)
CREDS=$(first_line "$TMP/creds.out") || fail "aws-credentials-server.py did not start"

# A machine with no keys and no AWS configuration; each check adds one source.
base=(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE
  HOME="$TMP" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
  NO_PROXY='*' no_proxy='*')
s3ls=(aws --endpoint-url "http://$ENDPOINT" s3 ls "s3://$BUCKET")
printf %s "$TOKEN" >"$TMP/token"
printf wrong >"$TMP/wrong-token"

"${base[@]}" AWS_WEB_IDENTITY_TOKEN_FILE="$TMP/token" AWS_ROLE_ARN="$ROLE" AWS_ENDPOINT_URL_STS="http://$ENDPOINT" \
  "${s3ls[@]}" >"$TMP/a.err" 2>&1 || fail "aws s3 ls with web identity"
ok "aws cli: web identity through moto's STS"
if "${base[@]}" AWS_WEB_IDENTITY_TOKEN_FILE="$TMP/wrong-token" AWS_ROLE_ARN="$ROLE" AWS_ENDPOINT_URL_STS="http://$ENDPOINT" \
  "${s3ls[@]}" >"$TMP/b.out" 2>&1; then fail "a wrong web identity token was accepted"; fi
grep -q InvalidIdentityToken "$TMP/b.out" || fail "wrong web identity token: $(cat "$TMP/b.out")"
ok "aws cli: a wrong web identity token gets InvalidIdentityToken"

"${base[@]}" AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT="$(json "$CREDS" imds_endpoint)" \
  "${s3ls[@]}" >"$TMP/c.err" 2>&1 || fail "aws s3 ls with IMDSv2: $(cat "$TMP/c.err")"
grep -q '"PUT", "path": "/latest/api/token", "status": 200' "$TMP/creds.err" || fail "the aws cli did not ask for an IMDSv2 token"
ok "aws cli: IMDSv2 (token, role, credentials)"

"${base[@]}" AWS_CONTAINER_CREDENTIALS_FULL_URI="$(json "$CREDS" container_uri)" \
  AWS_CONTAINER_AUTHORIZATION_TOKEN="$(json "$CREDS" container_token)" \
  "${s3ls[@]}" >"$TMP/d.err" 2>&1 || fail "aws s3 ls with container credentials: $(cat "$TMP/d.err")"
ok "aws cli: container credentials"
if "${base[@]}" AWS_CONTAINER_CREDENTIALS_FULL_URI="$(json "$CREDS" container_uri)" AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong \
  "${s3ls[@]}" >"$TMP/e.out" 2>&1; then fail "a wrong container token was accepted"; fi
ok "aws cli: a wrong container token is refused"

python3 - "$ENDPOINT" "$ROLE" "$TOKEN" "$BUCKET" <<'PY' || fail "expired STS credentials"
import re, sys, time, urllib.parse, urllib.request
import boto3, botocore.exceptions
endpoint, role, token, bucket = sys.argv[1:]
body = urllib.parse.urlencode({"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
    "RoleArn": role, "RoleSessionName": "check", "WebIdentityToken": token}).encode()
xml = urllib.request.urlopen(f"http://{endpoint}/", data=body, timeout=10).read().decode()
f = lambda n: re.search(f"<{n}>(.*?)</{n}>", xml).group(1)
s3 = boto3.client("s3", endpoint_url=f"http://{endpoint}", region_name="us-east-1",
    aws_access_key_id=f("AccessKeyId"), aws_secret_access_key=f("SecretAccessKey"), aws_session_token=f("SessionToken"))
s3.list_objects_v2(Bucket=bucket)
time.sleep(5)
try:
    s3.list_objects_v2(Bucket=bucket)
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "ExpiredToken", e.response
else:
    raise SystemExit("expired credentials were accepted")
PY
ok "STS credentials used after they expired get ExpiredToken"
echo "test-aws-credentials: all passed"
