#!/usr/bin/env bash
# Run the project's checks: dependencies, format lint, build, tests.
#
# Usage: scripts/test.sh [ARGS...]
#   ARGS are passed to `swift test`, e.g. scripts/test.sh --filter SnapshotTests
#
# Steps (stops at the first failure, exit status non-zero):
#   1. scripts/install-deps.sh   installs etcd 3.4 / 3.5 / openssl if missing and
#                                prints the etcd versions (full paths)
#   2. scripts/lint.sh           swift format lint --strict (the toolchain's swift-format,
#                                .swift-format config; generated code excluded)
#   3. Tests/Servers/test-s3-proxies.sh  self-test of the S3 test servers (moto with signature
#                                checks, the fault-injecting proxy) against boto3 and the aws cli
#      Tests/Servers/test-aws-credentials.sh  the credential test servers (moto's STS, IMDSv2 and
#                                container endpoints) against the aws cli's own credential chain
#   4. swift build --build-tests
#   5. swift test ARGS
# Environment: SKIP_LINT=1 skips step 2.
set -euo pipefail

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

step() { echo; echo "=== test.sh: $*"; }
fail() { echo "test.sh: FAILED: $*" >&2; exit 1; }

command -v swift >/dev/null || fail "swift not found on PATH"

step "dependencies and etcd versions (scripts/install-deps.sh)"
scripts/install-deps.sh || fail "scripts/install-deps.sh"
echo "swift: $(swift --version 2>&1 | sed -n 1p)"

if [[ ${SKIP_LINT:-0} == 1 ]]; then
  step "format lint skipped (SKIP_LINT=1)"
else
  step "scripts/lint.sh (swift format lint --strict)"
  scripts/lint.sh || fail "swift format lint (fix with: swift format format -i on the files named above)"
fi

step "Tests/Servers/test-s3-proxies.sh (the S3 test servers work as the tests expect)"
Tests/Servers/test-s3-proxies.sh || fail "Tests/Servers/test-s3-proxies.sh"
step "Tests/Servers/test-aws-credentials.sh (the credential test servers work as the aws cli expects)"
Tests/Servers/test-aws-credentials.sh || fail "Tests/Servers/test-aws-credentials.sh"

step "swift build --build-tests"
swift build --build-tests || fail "swift build --build-tests"

step "swift test $*"
swift test "$@" || fail "swift test"

step "all passed"
