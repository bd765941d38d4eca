/*
 * The bridge between the ledger and the server's keys: the ledger asks a
 * struct ledger_prover to sign and stamp each commit; this file answers
 * with the Ed25519 ledger key (SSHSIG, namespace "git", as git expects
 * for gpg.format=ssh) and coffred's own TSA.
 */
#include "server/keys.h"

#include "common/buf.h"
#include "server/ledger.h"
#include "server/sshsig.h"
#include "server/tsa.h"

static int prover_sign(void *arg, const void *data, size_t len, struct buf *sig)
{
	struct keys *k = arg;

	return sshsig_sign(keys_ledger_key(k), "git", data, len, sig);
}

static int prover_stamp(void *arg, const void *data, size_t len,
			struct buf *b64)
{
	return tsa_stamp_b64(arg, data, len, b64);
}

void keys_install_prover(struct keys *k)
{
	struct ledger_prover p = {
		.sign = prover_sign,
		.stamp = prover_stamp,
		.arg = k,
	};

	ledger_set_prover(&p);
}

void keys_uninstall_prover(void)
{
	ledger_set_prover(NULL);
}
