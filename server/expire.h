/*
 * `coffred expire DATADIR [--now DATE]`: destroy the spaces whose
 * termination grace (coffred.conf termination_grace) is over at now
 * (default: the clock), each leaving in DATADIR/destroyed a certificate of
 * its destruction: SPACE.STAMP.txt, signed by the ledger key (.sig, an SSH
 * signature under namespace coffre-statement) and timestamped (.tsr, RFC
 * 3161), checked with ssh-keygen and openssl (docs/lifecycle.md).  Run
 * daily by coffred-maintenance.timer.  DATE: 2026-12-31 or
 * 2026-12-31T00:00:00Z.  0, or -errno when some space could not be
 * destroyed (the others are).
 */
#ifndef COFFRE_SERVER_EXPIRE_H
#define COFFRE_SERVER_EXPIRE_H

int expire_main(const char *datadir, const char *now);

#endif /* COFFRE_SERVER_EXPIRE_H */
