#!/usr/bin/env bash
# Make a throwaway test PKI for a loopback etcd (needs only openssl; OpenSSL 3.x).
#
# Usage: Tests/Fixtures/make-certs.sh DIR
#
# Writes into DIR (created if missing; existing files are overwritten):
#   ca.pem ca-key.pem                 test CA ("etcd-snapshot test CA")
#   server.pem server-key.pem         server cert, SAN IP:127.0.0.1 DNS:localhost,
#                                     extendedKeyUsage serverAuth+clientAuth
#   client.pem client-key.pem         client cert CN=root (clientAuth), signed by the CA;
#                                     with etcd --client-cert-auth the CN is the etcd user
#   client-nobody.pem client-nobody-key.pem
#                                     client cert CN=nobody, signed by the CA
#   other-ca.pem other-ca-key.pem     an unrelated CA ("wrong CA" tests)
#   rogue-client.pem rogue-client-key.pem
#                                     CN=root but signed by the other CA (bad client cert)
# Keys are EC P-256 in PKCS#8 PEM ("BEGIN PRIVATE KEY"), mode 600. Certificates are
# valid for 10 years from now. Quiet unless something fails; the result is
# checked with `openssl verify` before exiting.
set -euo pipefail

if [[ $# -ne 1 || $1 == -h || $1 == --help ]]; then
  sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
command -v openssl >/dev/null || { echo "make-certs.sh: openssl not found (apt-get install -y openssl)" >&2; exit 1; }

out=$1
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log=$work/openssl.log

# Run a command; on failure show everything openssl said and stop.
run() {
  if ! "$@" >>"$log" 2>&1; then
    echo "make-certs.sh: command failed: $*" >&2
    cat "$log" >&2
    exit 1
  fi
}

newkey() { run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; chmod 600 "$1"; }

# newca NAME CN  -> $work/NAME.pem, $work/NAME-key.pem
newca() {
  newkey "$work/$1-key.pem"
  run openssl req -x509 -new -key "$work/$1-key.pem" -sha256 -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$work/$1.pem"
}

# newcert NAME CN CA EKU [SAN] -> $work/NAME.pem, $work/NAME-key.pem, signed by $work/CA.pem
newcert() {
  local name=$1 cn=$2 ca=$3 eku=$4 san=${5:-}
  newkey "$work/$name-key.pem"
  run openssl req -new -key "$work/$name-key.pem" -subj "/CN=$cn" -out "$work/$name.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid"
    if [[ -n $san ]]; then echo "subjectAltName=$san"; fi
  } >"$work/$name.ext"
  run openssl x509 -req -in "$work/$name.csr" -CA "$work/$ca.pem" -CAkey "$work/$ca-key.pem" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 -extfile "$work/$name.ext" \
    -out "$work/$name.pem"
}

newca ca "etcd-snapshot test CA"
newca other-ca "etcd-snapshot unrelated CA"
newcert server etcd-server ca serverAuth,clientAuth "IP:127.0.0.1,DNS:localhost"
newcert client root ca clientAuth
newcert client-nobody nobody ca clientAuth
newcert rogue-client root other-ca clientAuth

# Sanity checks: the good certs chain to the CA, the rogue one does not.
run openssl verify -CAfile "$work/ca.pem" "$work/server.pem" "$work/client.pem" "$work/client-nobody.pem"
run openssl verify -CAfile "$work/other-ca.pem" "$work/rogue-client.pem"
if openssl verify -CAfile "$work/ca.pem" "$work/rogue-client.pem" >/dev/null 2>&1; then
  echo "make-certs.sh: rogue-client.pem unexpectedly verifies against ca.pem" >&2
  exit 1
fi

for f in ca other-ca server client client-nobody rogue-client; do
  install -m 644 "$work/$f.pem" "$out/$f.pem"
  install -m 600 "$work/$f-key.pem" "$out/$f-key.pem"
done
