#!/bin/bash
# An external RFC 3161 TSA (tsa_url and tsa_ca in coffred.conf), asked over
# HTTP with libcurl: here a small TSA made of `openssl ts -reply` behind a
# Python HTTP server.  Commits (the space's creation included) carry its
# tokens, which stock `openssl ts -verify` accepts with its CA, and which
# `coffred key export --tsa-ca` and fsck trust.  With the TSA gone, commits
# still go through, stamped by coffred's own TSA, and the log says so.
. "$TESTLIB/common.sh"
require_cmd openssl base64 python3

X=$T/ext
mkdir -p "$X"
cat >"$X/ext.cnf" <<EOC
[ ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[ tsa_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
[ tsa ]
default_tsa = tsa1
[ tsa1 ]
dir = $X
serial = $X/serial
crypto_device = builtin
signer_cert = $X/tsa.pem
signer_key = $X/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
EOC
echo 01 >"$X/serial"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$X/ca.key" -out "$X/ca.pem" -subj /CN=ExternalCA -days 30 \
	-config "$X/ext.cnf" -extensions ca >/dev/null 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$X/tsa.key" -out "$X/tsa.csr" -subj /CN=ExternalTSA >/dev/null 2>&1
openssl x509 -req -in "$X/tsa.csr" -CA "$X/ca.pem" -CAkey "$X/ca.key" \
	-CAcreateserial -out "$X/tsa.pem" -days 30 -extfile "$X/ext.cnf" \
	-extensions tsa_ext >/dev/null 2>&1
check "the external TSA's certificate is made" test -s "$X/tsa.pem"

cat >"$X/tsa.py" <<'EOP'
import http.server, subprocess, sys, os
d = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get('Content-Length', 0))
        ok = self.headers.get('Content-Type') == 'application/timestamp-query'
        open(os.path.join(d, 'q.tsq'), 'wb').write(self.rfile.read(n))
        r = subprocess.run(['openssl', 'ts', '-reply', '-config', os.path.join(d, 'ext.cnf'),
                            '-queryfile', os.path.join(d, 'q.tsq'), '-out', os.path.join(d, 'r.tsr')],
                           capture_output=True)
        if not ok or r.returncode != 0:
            self.send_response(400); self.end_headers(); return
        body = open(os.path.join(d, 'r.tsr'), 'rb').read()
        with open(os.path.join(d, 'count'), 'a') as f: f.write('x\n')
        self.send_response(200)
        self.send_header('Content-Type', 'application/timestamp-reply')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
open(os.path.join(d, 'port.tmp'), 'w').write(str(s.server_address[1]))
os.rename(os.path.join(d, 'port.tmp'), os.path.join(d, 'port'))
s.serve_forever()
EOP
python3 "$X/tsa.py" "$X" >"$X/tsa.log" 2>&1 &
TSA_PID=$!
EXTRA_PIDS+=("$TSA_PID")
check "the external TSA listens" wait_for test -s "$X/port"

server_init
printf 'tsa_url = http://127.0.0.1:%s/tsa\ntsa_ca = %s\n' "$(cat "$X/port")" "$X/ca.pem" >>"$D/coffred.conf"
demo_mounts a
R=$(ledger demo)
G() { git --git-dir "$R" "$@"; }

printf 'stamped elsewhere\n' >"$A/f.txt"
check "sync" client_sync a
check "the external TSA was asked" test -s "$X/count"

bad=0
for c in $(G rev-list main); do
	G cat-file commit "$c" >"$T/c"
	G notes --ref=timestamps show "$c" | base64 -d >"$T/t.tsr"
	openssl ts -verify -data "$T/c" -in "$T/t.tsr" -CAfile "$X/ca.pem" >/dev/null 2>&1 || bad=1
done
check_eq "every commit's token verifies with the external TSA's CA alone" 0 $bad
check "the token names the external TSA" \
	sh -c 'openssl ts -reply -in "$1" -text 2>/dev/null | grep -q "ExternalTSA"' _ "$T/t.tsr"
"$COFFRED" key export "$D" --tsa-ca >"$T/cas.pem"
check "key export --tsa-ca holds coffred's CA and the external one" \
	test "$(grep -c 'BEGIN CERTIFICATE' "$T/cas.pem")" = 2
check "openssl ts -verify accepts it with the exported CAs" \
	openssl ts -verify -data "$T/c" -in "$T/t.tsr" -CAfile "$T/cas.pem"

# The TSA goes away: commits still go through, stamped by coffred.
kill "$TSA_PID"
wait "$TSA_PID" 2>/dev/null
printf 'stamped at home\n' >"$A/g.txt"
check "sync without the external TSA" client_sync a
H=$(G rev-parse main)
G cat-file commit "$H" >"$T/c2"
G notes --ref=timestamps show "$H" | base64 -d >"$T/t2.tsr"
check "the new commit's token comes from coffred's own TSA" \
	sh -c 'openssl ts -reply -in "$1" -text 2>/dev/null | grep -q "coffred TSA"' _ "$T/t2.tsr"
check "and verifies with the exported CAs" \
	openssl ts -verify -data "$T/c2" -in "$T/t2.tsr" -CAfile "$T/cas.pem"
check "the log says coffred stamped instead" \
	grep -q "time-stamping by our own TSA: cannot reach the TSA" "$T/coffred.log"

client_umount a
server_stop
check "coffred fsck passes with both TSAs' tokens" "$COFFRED" fsck "$D"

cp -a "$D" "$T/badconf"
sed -i '/^tsa_ca/d' "$T/badconf/coffred.conf"
check "tsa_url without tsa_ca is refused with a clear message" \
	sh -c '! "$1" fsck "$2" 2>"$3" && grep -q "tsa_url and tsa_ca go together" "$3"' _ "$COFFRED" "$T/badconf" "$T/err"
done_testing
