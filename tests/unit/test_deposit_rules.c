/*
 * The drive's deposit decisions (client/drive/deposit_rules.c), table by table:
 * which names are temporary, which close is a deposit, what a write does
 * with pending content, what a removal and a replayed move do, and how a
 * batch's answer is sorted.  The tables are written from the contract in
 * docs/architecture.md ("The drive's contract").
 */
#include "client/drive/deposit_rules.h"

#include <errno.h>

#include "tests/lib/tap.h"

#define ARRAY_N(a) (sizeof(a) / sizeof((a)[0]))

static void test_deposit_rules_temp_names(void)
{
	static const struct {
		const char *name;
		int temp;
	} rows[] = {
		/* vim */
		{ ".notes.txt.swp", 1 },
		{ ".notes.txt.swo", 1 },
		{ ".notes.txt.swx", 1 },
		{ "notes.txt~", 1 },
		{ "4913", 1 },
		/* LibreOffice */
		{ ".~lock.report.odt#", 1 },
		{ "lu12345abcd.tmp", 1 },
		/* rsync, sed -i, GIO, Python */
		{ ".report.pdf.Xa9bQ2", 1 },
		{ "sedAb12Cd", 1 },
		{ ".goutputstream-1Q2W3E", 1 },
		{ "tmpa1b2_c3d", 1 },
		{ ".py.txt.tmp", 1 },
		{ "film.mkv.part", 1 },
		{ "#draft.org#", 1 },
		/* names people give their documents */
		{ "report.pdf", 0 },
		{ "notes.txt", 0 },
		{ "4914", 0 },
		{ "sed", 0 },
		{ "sedimentary", 0 },
		{ "sed-notes", 0 },
		{ ".bashrc", 0 },
		{ ".swp", 0 },
		{ "~", 0 },
		{ "tmp", 0 },
		{ "template.docx", 0 },
		{ "lunch.txt", 0 },
		{ "#", 0 },
		{ "", 0 },
	};

	for (size_t i = 0; i < ARRAY_N(rows); i++)
		is_int(deposit_name_is_temp(rows[i].name), rows[i].temp,
		       "'%s' is %sa temporary name", rows[i].name,
		       rows[i].temp ? "" : "not ");
	is_int(deposit_name_is_temp(NULL), 0, "no name is not temporary");
}

static void test_deposit_rules_close(void)
{
	static const struct {
		int linked, changed, failed;
		enum deposit_close want;
	} rows[] = {
		{ 1, 1, 0, DEPOSIT_CLOSE_QUEUE },
		{ 1, 0, 0, DEPOSIT_CLOSE_NONE },
		{ 0, 1, 0, DEPOSIT_CLOSE_NONE },
		{ 0, 0, 0, DEPOSIT_CLOSE_NONE },
		{ 1, 1, 1, DEPOSIT_CLOSE_TORN },
		{ 1, 0, 1, DEPOSIT_CLOSE_TORN },
		{ 0, 1, 1, DEPOSIT_CLOSE_TORN },
	};

	for (size_t i = 0; i < ARRAY_N(rows); i++)
		is_int(deposit_on_close(rows[i].linked, rows[i].changed,
					rows[i].failed),
		       rows[i].want,
		       "close: linked %d, changed %d, write failed %d",
		       rows[i].linked, rows[i].changed, rows[i].failed);
}

static void test_deposit_rules_cow(void)
{
	static const struct {
		int has, sealed, trunc;
		enum deposit_cow want;
	} rows[] = {
		{ 0, 0, 0, DEPOSIT_COW_NEW },
		{ 0, 0, 1, DEPOSIT_COW_FRESH },
		{ 1, 0, 0, DEPOSIT_COW_IN_PLACE },
		{ 1, 0, 1, DEPOSIT_COW_IN_PLACE }, /* cut in place */
		{ 1, 1, 0, DEPOSIT_COW_CLONE },
		{ 1, 1, 1, DEPOSIT_COW_FRESH },
	};

	for (size_t i = 0; i < ARRAY_N(rows); i++)
		is_int(deposit_cow(rows[i].has, rows[i].sealed, rows[i].trunc),
		       rows[i].want,
		       "write: staging %d, closed deposit %d, O_TRUNC %d",
		       rows[i].has, rows[i].sealed, rows[i].trunc);
}

static void test_deposit_rules_remove(void)
{
	static const struct {
		int temp, remote, queued, inflight;
		enum deposit_removal want;
	} rows[] = {
		/* vim's swap file, LibreOffice's lock: never sent */
		{ 1, 0, 1, 0, DEPOSIT_REMOVAL_DROP },
		{ 1, 0, 2, 0, DEPOSIT_REMOVAL_DROP },
		/* on its way already: the server hears of the removal */
		{ 1, 0, 1, 1, DEPOSIT_REMOVAL_QUEUE },
		{ 1, 1, 1, 0, DEPOSIT_REMOVAL_QUEUE },
		{ 1, 1, 0, 0, DEPOSIT_REMOVAL_QUEUE },
		/* every other name's closes are deposits */
		{ 0, 0, 1, 0, DEPOSIT_REMOVAL_QUEUE },
		{ 0, 1, 0, 0, DEPOSIT_REMOVAL_QUEUE },
		{ 0, 1, 3, 1, DEPOSIT_REMOVAL_QUEUE },
		/* created, never closed */
		{ 0, 0, 0, 0, DEPOSIT_REMOVAL_NOTHING },
		{ 1, 0, 0, 0, DEPOSIT_REMOVAL_NOTHING },
	};

	for (size_t i = 0; i < ARRAY_N(rows); i++)
		is_int(deposit_on_remove(rows[i].temp, rows[i].remote,
					 rows[i].queued, rows[i].inflight),
		       rows[i].want,
		       "remove: temp %d, on server %d, %d deposits, in flight %d",
		       rows[i].temp, rows[i].remote, rows[i].queued,
		       rows[i].inflight);
}

static void test_deposit_rules_replay_move(void)
{
	static const struct {
		int found, dir, target, empty;
		enum deposit_replay_move want;
	} rows[] = {
		{ 1, 0, 0, 0, DEPOSIT_REPLAY_MOVE },
		{ 1, 1, 0, 0, DEPOSIT_REPLAY_MOVE },
		/* `mv f g` over an existing g */
		{ 1, 0, 1, 0, DEPOSIT_REPLAY_REPLACE },
		{ 1, 1, 2, 1, DEPOSIT_REPLAY_REPLACE },
		{ 1, 1, 2, 0, DEPOSIT_REPLAY_SKIP },
		{ 1, 0, 2, 1, DEPOSIT_REPLAY_SKIP },
		{ 1, 1, 1, 0, DEPOSIT_REPLAY_SKIP },
		{ 0, 0, 0, 0, DEPOSIT_REPLAY_SKIP },
		{ 0, 0, 1, 0, DEPOSIT_REPLAY_SKIP },
	};

	for (size_t i = 0; i < ARRAY_N(rows); i++)
		is_int(deposit_replay_move(rows[i].found, rows[i].dir,
					   rows[i].target, rows[i].empty),
		       rows[i].want,
		       "replayed move: source %d (folder %d), target %d (empty %d)",
		       rows[i].found, rows[i].dir, rows[i].target,
		       rows[i].empty);
}

static void test_deposit_rules_outcome(void)
{
	static const struct {
		int rc, local, bad;
		unsigned n;
		enum deposit_outcome want;
	} rows[] = {
		{ 0, 0, -1, 3, DEPOSIT_OUTCOME_APPLIED },
		{ -ENOENT, 1, 2, 3, DEPOSIT_OUTCOME_LOST },
		{ -EIO, 1, -1, 3, DEPOSIT_OUTCOME_RETRY },
		{ -EACCES, 1, -1, 3, DEPOSIT_OUTCOME_RETRY },
		{ -E2BIG, 0, -1, 3, DEPOSIT_OUTCOME_HALVE },
		{ -E2BIG, 0, -1, 1, DEPOSIT_OUTCOME_RETRY },
		{ -E2BIG, 0, 1, 3, DEPOSIT_OUTCOME_RETRY },
		{ -ECONNREFUSED, 0, -1, 3, DEPOSIT_OUTCOME_RETRY },
		{ -ENOSPC, 0, -1, 3, DEPOSIT_OUTCOME_RETRY },
		{ -EAGAIN, 0, -1, 3, DEPOSIT_OUTCOME_RETRY },
		{ -EEXIST, 0, 1, 3, DEPOSIT_OUTCOME_REFUSED },
		{ -EACCES, 0, 0, 3, DEPOSIT_OUTCOME_REFUSED },
		{ -ENOTEMPTY, 0, 2, 3, DEPOSIT_OUTCOME_REFUSED },
		{ -EINVAL, 0, -1, 3, DEPOSIT_OUTCOME_REFUSED },
	};

	for (size_t i = 0; i < ARRAY_N(rows); i++)
		is_int(deposit_outcome(rows[i].rc, rows[i].local, rows[i].bad,
				       rows[i].n),
		       rows[i].want,
		       "batch: rc %d, local %d, bad op %d, %u ops", rows[i].rc,
		       rows[i].local, rows[i].bad, rows[i].n);
}

static void test_deposit_rules_pending_version(void)
{
	static const struct {
		uint64_t current;
		unsigned place;
		uint64_t want;
	} rows[] = {
		{ 0, 1, 1 }, /* a new file's first close: v1 */
		{ 0, 4, 4 }, /* four closes in a row: v1..v4 */
		{ 3, 1, 4 }, /* the next version of a v3 document */
		{ 3, 2, 5 },
		{ 7, 0, 0 },	      /* no place: no number */
		{ UINT64_MAX, 1, 0 }, /* overflow: no number */
		{ UINT64_MAX - 2, 2, UINT64_MAX },
	};

	for (size_t i = 0; i < ARRAY_N(rows); i++)
		ok(deposit_pending_version(rows[i].current, rows[i].place) ==
			   rows[i].want,
		   "pending version: current %llu, place %u",
		   (unsigned long long)rows[i].current, rows[i].place);
}

static void test_deposit_rules_meta(void)
{
	static const struct {
		int waiting;
		unsigned writers;
		int known;
		enum deposit_meta want;
	} rows[] = {
		{ 1, 0, 1, DEPOSIT_META_REWRITE },
		{ 1, 2, 1, DEPOSIT_META_REWRITE },
		{ 0, 1, 1, DEPOSIT_META_ON_CLOSE },
		{ 0, 1, 0, DEPOSIT_META_ON_CLOSE },
		{ 0, 0, 1, DEPOSIT_META_QUEUE },
		{ 0, 0, 0, DEPOSIT_META_KEEP },
	};

	for (size_t i = 0; i < ARRAY_N(rows); i++)
		is_int(deposit_on_meta(rows[i].waiting, rows[i].writers,
				       rows[i].known),
		       rows[i].want,
		       "meta change: waiting %d, %u writers, known %d",
		       rows[i].waiting, rows[i].writers, rows[i].known);
}

int main(void)
{
	test_deposit_rules_pending_version();
	test_deposit_rules_meta();
	test_deposit_rules_temp_names();
	test_deposit_rules_close();
	test_deposit_rules_cow();
	test_deposit_rules_remove();
	test_deposit_rules_replay_move();
	test_deposit_rules_outcome();
	return tap_done();
}
