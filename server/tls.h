/*
 * The server's TLS identity: a self-signed certificate made with OpenSSL at
 * `coffred init`.  The key is EC P-256; the certificate says CN=coffred,
 * subjectAltName IP:127.0.0.1, IP:::1, DNS:localhost, and is a CA
 * (basicConstraints CA:TRUE) so clients can trust it with --cacert.
 */
#ifndef COFFRE_SERVER_TLS_H
#define COFFRE_SERVER_TLS_H

#define TLS_VALID_DAYS 3650

/*
 * Write key_path (PEM PKCS#8, mode 0600) and cert_path (PEM, 0644), each
 * atomically.  0 or -errno (-EIO for OpenSSL failures) with err_set().
 */
int tls_generate(const char *key_path, const char *cert_path);

#endif /* COFFRE_SERVER_TLS_H */
