/*
 * The administration commands of coffred that work on a data directory
 * directly (the server may be running at the same time): init, user add,
 * space create, space path.  Each returns 0 or -errno with err_set().
 */
#ifndef COFFRE_SERVER_ADMIN_H
#define COFFRE_SERVER_ADMIN_H

/* listen may be NULL (default 127.0.0.1:8443); index NULL: SQLite in
 * DATADIR, else a PostgreSQL URL (coffred.conf's index key).
 * chunks: NULL or "dir" (DATADIR/spaces/NAME/chunks), or
 * s3://HOST:PORT/BUCKET with s3_key_file (checked: 0600, two lines, the
 * bucket answers a list). */
/* ledger: NULL or "dir" (DATADIR/spaces/NAME/ledger.git), "index" or
 * "postgresql" (in the index; postgresql needs a PostgreSQL index).
 * join: a further node of the data directory join, whose stores must all
 * be shared: its keys and configuration are copied, the TLS certificate
 * is this node's own; no index, chunks or ledger with it. */
struct admin_init_args {
	const char *listen, *index, *chunks, *s3_key_file, *ledger, *join;
};
int admin_init(const char *datadir, const struct admin_init_args *a);
int admin_user_add(const char *datadir, const char *login, const char *phone,
		   const char *password_file);
/* kind may be NULL (private). */
int admin_space_create(const char *datadir, const char *space,
		       const char *owner, const char *kind,
		       const char *plan_spec);
/* Print the absolute path of the space's bare repository on stdout. */
int admin_space_path(const char *datadir, const char *space);
/* Copy a space's ledger to a new bare repository dir (ledger_clone). */
int admin_space_clone(const char *datadir, const char *space, const char *dir);
/*
 * Set the space's own quota: size in bytes or with K, M, G or T, "none"
 * for unlimited (whatever quota_default says), "default" to drop it (the
 * space follows quota_default again).  Takes effect at once, on
 * a running coffred too: the quota is read at each commit.
 */
int admin_space_quota(const char *datadir, const char *space, const char *size);

/* +E.164: '+' then 8..15 digits, the first not 0.  0 or -EINVAL. */
int phone_validate(const char *phone);

/*
 * `coffred invite DATADIR [--days N]`: print a new one-use sign-up
 * invitation code, valid N days (SIGNUP_INVITE_DAYS by default), for
 * signup = invite.
 */
int admin_invite(const char *datadir, const char *days);

/*
 * `coffred legacy open DATADIR LOGIN --mandate REF --notary NOTARY`, after
 * the operator checked the notary's mandate: LOGIN's account is frozen
 * (no login, every session ended), and each space LOGIN owned alone goes
 * to NOTARY (access_legacy_open: every other access revoked but the
 * trusted persons'); spaces with other owners are left as they are.  Each
 * step is an event naming the mandate.  Refused while coffred serves
 * DATADIR.
 */
int admin_legacy_open(const char *datadir, const char *login,
		      const char *mandate, const char *notary);

#endif /* COFFRE_SERVER_ADMIN_H */
