/*
 * The server's TLS identity, made with OpenSSL at `coffred init`, under
 * DATADIR/tls/:
 *
 *   ca.pem, ca-key.pem  the server's TLS CA (EC P-256, CA:TRUE pathlen:0):
 *                       the file clients trust (coffre login --cacert)
 *   cert.pem, key.pem   the certificate coffred serves (EC P-256), issued
 *                       by that CA: CA:FALSE, keyUsage digitalSignature,
 *                       extendedKeyUsage serverAuth, CN=coffred,
 *                       subjectAltName IP:127.0.0.1, IP:::1, DNS:localhost
 *                       and the listen address
 *
 * A data directory made before the CA existed has only cert.pem and
 * key.pem, cert.pem self-signed: it keeps working, and clients keep
 * trusting that cert.pem.
 */
#ifndef COFFRE_SERVER_TLS_H
#define COFFRE_SERVER_TLS_H

#define TLS_VALID_DAYS	3650
#define TLS_CA_DAYS	(365 * 30)
#define TLS_CA_FILE	"ca.pem"
#define TLS_CA_KEY_FILE "ca-key.pem"
#define TLS_CERT_FILE	"cert.pem"
#define TLS_KEY_FILE	"key.pem"

/*
 * Write the four files into tls_dir (keys mode 0600, certificates 0644),
 * each atomically.  listen_host (numeric, may be NULL) goes into the
 * subjectAltName unless it is a loopback or wildcard address.  0 or
 * -errno (-EIO for OpenSSL failures) with err_set().
 */
int tls_generate(const char *tls_dir, const char *listen_host);

#endif /* COFFRE_SERVER_TLS_H */
