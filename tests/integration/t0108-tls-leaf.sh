#!/bin/bash
# The TLS certificate coffred init makes is a leaf issued by the server's
# own TLS CA: the CA is what clients trust, and a certificate signed with
# the leaf's key is trusted by nobody.  The listen address is in the
# subjectAltName; a data directory from before the CA keeps working.  The
# master key may sit outside the data directory (coffred.conf master_key).
# cluster: no -- it checks a node's own TLS certificate and CA; behind HAProxy clients see HAProxy's (tests/cluster/c0001)
. "$TESTLIB/common.sh"
require_cmd curl openssl

server_init
tls=$D/tls
check_eq "init made ca.pem, ca-key.pem, cert.pem, key.pem" \
	"ca-key.pem ca.pem cert.pem key.pem" "$(cd "$tls" && echo *)"
check_eq "both keys are private (0600)" "600 600" \
	"$(stat -c %a "$tls/ca-key.pem" "$tls/key.pem" | xargs)"
openssl x509 -in "$tls/cert.pem" -noout -text >"$T/leaf.txt"
openssl x509 -in "$tls/ca.pem" -noout -text >"$T/ca.txt"
check "the leaf is CA:FALSE" grep -q 'CA:FALSE' "$T/leaf.txt"
check "the leaf cannot sign certificates (no Certificate Sign)" \
	sh -c '! grep -q "Certificate Sign" "$1"' _ "$T/leaf.txt"
check "the leaf is for TLS servers (serverAuth)" \
	grep -q 'TLS Web Server Authentication' "$T/leaf.txt"
check "the CA is CA:TRUE, pathlen:0" grep -q 'CA:TRUE, pathlen:0' "$T/ca.txt"
check "the leaf verifies against the CA as a TLS server" \
	openssl verify -CAfile "$tls/ca.pem" -purpose sslserver "$tls/cert.pem"

# An attacker holding the leaf key signs a certificate for another name.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/evil.key" -subj /CN=evil.example -out "$T/evil.csr" 2>/dev/null
openssl x509 -req -in "$T/evil.csr" -CA "$tls/cert.pem" -CAkey "$tls/key.pem" \
	-CAcreateserial -days 1 -out "$T/evil.pem" 2>/dev/null
check "a certificate signed with the leaf's key does not verify" \
	sh -c '! openssl verify -CAfile "$1" -untrusted "$2" "$3"' _ \
	"$tls/ca.pem" "$tls/cert.pem" "$T/evil.pem"

# Serving: clients trust ca.pem.
server_start
user_add alice
check_eq "the test library trusts ca.pem" "$tls/ca.pem" "$CACERT"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$tls/ca.pem" \
	"https://127.0.0.1:$PORT/v1/spaces")
check_eq "curl --cacert ca.pem reaches the server (401 without a token)" 401 "$code"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$tls/ca.pem" \
	--resolve "localhost:$PORT:127.0.0.1" "https://localhost:$PORT/v1/spaces")
check_eq "... also by the name localhost" 401 "$code"
client_login a alice
check "coffre login --cacert ca.pem works" test -s "$(cfg_of a)/session.json"
check "coffre keeps that CA" cmp -s "$tls/ca.pem" "$(cfg_of a)/cacert.pem"
server_stop

# The listen address goes into the subjectAltName.
D2=$T/other
"$COFFRED" init "$D2" --listen 127.0.0.7:0 >>"$T/coffred.log" 2>&1
check "init --listen 127.0.0.7:0 names 127.0.0.7 in the subjectAltName" \
	sh -c 'openssl x509 -in "$1" -noout -ext subjectAltName | grep -q "IP Address:127.0.0.7"' \
	_ "$D2/tls/cert.pem"

# A data directory from before the CA: a self-signed cert.pem only.
rm "$tls/ca.pem" "$tls/ca-key.pem"
openssl req -x509 -new -key "$tls/key.pem" -subj /CN=coffred -days 30 \
	-addext "subjectAltName=IP:127.0.0.1" -addext "basicConstraints=critical,CA:TRUE" \
	-out "$tls/cert.pem" 2>/dev/null
server_start
check_eq "an old data directory: the test library trusts its cert.pem" "$tls/cert.pem" "$CACERT"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$tls/cert.pem" \
	"https://127.0.0.1:$PORT/v1/spaces")
check_eq "... and the server still serves it" 401 "$code"

server_stop

# The master key may live outside the data directory (coffred.conf
# master_key): the server reads it there, and says which file it missed.
mkdir -p "$T/etc"
mv "$D/keys/master.key" "$T/etc/master.key"
echo "master_key = $T/etc/master.key" >>"$D/coffred.conf"
server_start
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$CACERT" \
	"https://127.0.0.1:$PORT/v1/spaces")
check_eq "coffred serves with master_key = $T/etc/master.key" 401 "$code"
check "the data directory holds no master key" test ! -e "$D/keys/master.key"
server_stop
mv "$T/etc/master.key" "$T/etc/moved.key"
"$COFFRED" serve "$D" --port-file "$T/port2" >"$T/nokey.log" 2>&1
check_eq "without that file coffred refuses to start (exit 1)" 1 $?
check "... naming the file" grep -q "$T/etc/master.key" "$T/nokey.log"
sed -i 's|^master_key = .*|master_key = etc/master.key|' "$D/coffred.conf"
"$COFFRED" serve "$D" --port-file "$T/port2" >"$T/rel.log" 2>&1
check "a relative master_key is refused with the line number" \
	grep -q 'line [0-9]*: master_key must be an absolute path' "$T/rel.log"

done_testing
