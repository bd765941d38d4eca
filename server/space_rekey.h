/*
 * `coffred space rekey DATADIR SPACE`: give a space made before keys of
 * their own (no chunks.key, its chunk key derived from the master key)
 * one of its own, and re-encrypt its chunks under it, so that destroying
 * the space (coffred expire) shreds every copy of them.  Refused while
 * coffred serves DATADIR.  A space that has its key already: nothing to
 * do, said so.  Rerun after a crash: it finishes.
 */
#ifndef COFFRE_SERVER_SPACE_REKEY_H
#define COFFRE_SERVER_SPACE_REKEY_H

int space_rekey_main(const char *datadir, const char *space);

#endif /* COFFRE_SERVER_SPACE_REKEY_H */
