/*
 * Waking the sync thread: a condition variable and two flags in struct
 * fs.  Apart from sync.c so that the queue (pending.c) and the drive's
 * operations can wake the sender without depending on it.
 */
#include "client/drive/fs_i.h"

void sync_kick(struct fs *fs, int force)
{
	if (force)
		fs->sync_force = 1;
	pthread_cond_signal(&fs->sync_cond);
}

void sync_kick_at(struct fs *fs, int64_t ready_at)
{
	/* asleep until a time before ready_at: it looks again by itself
	 * then, and a wake-up now would only rescan the queue (once per
	 * file closed, while a folder of small files is being copied) */
	if (fs->sync_sleep_until && fs->sync_sleep_until <= ready_at)
		return;
	pthread_cond_signal(&fs->sync_cond);
}
