#!/bin/sh
# Makes the TLS material the compose stack needs between the Signer and the Attestor, and writes the
# Signer's certificate thumbprint into config/attestor.json (`attestor.writers`): only that
# certificate may log entries (POST /rekor/entries over mutual TLS).
#
#   ./gen-certs.sh            # once, before `docker compose up`; again to replace the certificates
#
# certs/ca.pem                  a private CA (P-256) for the stack's internal TLS
# certs/attestor.pem, .key      the Attestor's server certificate (DNS: attestor, localhost)
# certs/signer.pem, .key        the Signer's client certificate (clientAuth)
# Keys are PKCS#8 PEM, mode 0600 (the services read them as root in their containers).
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p certs
days=825

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

key certs/ca.key
openssl req -x509 -new -key certs/ca.key -sha256 -days 3650 -subj "/CN=Stella compose CA" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" -out certs/ca.pem

leaf() { # name subject extensions...
  name=$1 cn=$2; shift 2
  key "certs/$name.key"
  openssl req -new -key "certs/$name.key" -subj "/CN=$cn" -out "certs/$name.csr"
  printf '%s\n' "$@" > "certs/$name.ext"
  openssl x509 -req -in "certs/$name.csr" -CA certs/ca.pem -CAkey certs/ca.key -CAcreateserial \
    -sha256 -days "$days" -extfile "certs/$name.ext" -out "certs/$name.pem"
  rm -f "certs/$name.csr" "certs/$name.ext"
}

leaf attestor "stella-attestor" \
  "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth" "subjectAltName=DNS:attestor,DNS:localhost,IP:127.0.0.1"
leaf signer "stella-signer" \
  "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=clientAuth" "subjectAltName=DNS:signer"
chmod 0644 certs/*.pem

# x5t#S256 = base64url(SHA-256(certificate DER)), unpadded.
x5t=$(openssl x509 -in certs/signer.pem -outform DER | openssl dgst -sha256 -binary \
  | openssl base64 -A | tr '+/' '-_' | tr -d '=')
sed -i.bak -E "s/(\"writers\": \[)[^]]*\]/\1\"$x5t\"]/" config/attestor.json
rm -f config/attestor.json.bak
echo "gen-certs: certs/ written; the Attestor accepts writes from the Signer's certificate $x5t"
