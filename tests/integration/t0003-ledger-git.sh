#!/bin/bash
# The ledger is a plain git repository: stock git reads it, fsck passes,
# authors are the depositors, manifests name the document ids the drive
# shows, and moves and removals never lose history.
. "$TESTLIB/common.sh"

demo_mounts a b
R=$(ledger demo)
G() { git --git-dir "$R" "$@"; }

check "coffred space path names a bare git repository" \
	test "$(git --git-dir "$R" rev-parse --is-bare-repository)" = true

check "mkdir docs and docs/sub/empty in A" mkdir -p "$A/docs/sub/empty"
printf 'first version\n' >"$T/f1"
check "deposit docs/f.txt" cp "$T/f1" "$A/docs/f.txt"
check "sync" client_sync a
printf 'second version, longer\n' >"$T/f2"
check "new version of docs/f.txt" cp "$T/f2" "$A/docs/f.txt"
head -c 3000000 /dev/urandom >"$T/g"
check "deposit docs/g.bin (3 MB)" cp "$T/g" "$A/docs/g.bin"
check "sync" client_sync a

# Author and committer of every commit that deposits (a commit may carry a
# batch of operations: its trailers say what it did).
G log --format='%H' main | while read -r c; do
	G show -s --format=%b "$c" | grep -q '^Coffre-Op: deposit' &&
		G show -s --format='%an %cn' "$c"
done >"$T/authors"
G log --format=%B main >"$T/bodies" 2>&1
check "git log of the ledger works" test -s "$T/bodies"
check "three deposit operations are in the log" \
	test "$(grep -c '^Coffre-Op: deposit ' "$T/bodies")" -ge 3
check "commits with deposits exist" test -s "$T/authors"
check "alice authored every commit with a deposit, coffred committed it" \
	sh -c '! grep -vx "alice coffred" "$1"' _ "$T/authors"
check "git log --format='%an %s' names alice" \
	sh -c 'git --git-dir "$1" log --format="%an %s" main | grep -q "^alice "' _ "$R"
check "commit messages carry Coffre-Op trailers" \
	sh -c 'git --git-dir "$1" log --format=%B main | grep -q "^Coffre-Op: deposit /docs/f.txt"' _ "$R"
check "git fsck --strict passes" G fsck --strict --no-progress
check "an empty folder exists in git as a .coffre-folder blob" \
	sh -c 'git --git-dir "$1" ls-tree --name-only main:docs/sub/empty | grep -qx .coffre-folder' _ "$R"
check "the root folder blob names its class" \
	sh -c 'git --git-dir "$1" show main:.coffre-folder | grep -Eqx "class (public|restricted|confidential)"' _ "$R"

G show main:docs/f.txt >"$T/manifest" 2>&1
doc=$(xattr "$A/docs/f.txt" user.coffre.doc_id)
check "user.coffre.doc_id is 32 hex" grep -Eqx '[0-9a-f]{32}' <<<"$doc"
check "the manifest at main:docs/f.txt is a coffre manifest" \
	grep -qx 'coffre-manifest 1' "$T/manifest"
check "the manifest names the doc id of user.coffre.doc_id" \
	grep -qx "doc $doc" "$T/manifest"
check "the manifest gives the content SHA-256" \
	grep -qx "sha256 $(sha256_of "$T/f2")" "$T/manifest"
check "the manifest says version 2" grep -qx 'version 2' "$T/manifest"
check "the manifest says deposited-by alice" grep -qx 'deposited-by alice' "$T/manifest"
check "the manifest of the 3 MB file lists its chunks" \
	sh -c 'git --git-dir "$1" show main:docs/g.bin | grep -Ec "^chunk [0-9a-f]{64} [0-9]+$" | grep -qv "^0$"' _ "$R"
b_doc_is() { [ "$(xattr "$B/$1" user.coffre.doc_id)" = "$doc" ]; }
check "B sees the same doc id" wait_for b_doc_is docs/f.txt

# Move: same document, same history.
check "mv docs/f.txt docs/sub/moved.txt" mv "$A/docs/f.txt" "$A/docs/sub/moved.txt"
check "sync" client_sync a
check_eq "the moved file keeps its doc id" "$doc" \
	"$(xattr "$A/docs/sub/moved.txt" user.coffre.doc_id)"
check "B sees the move" wait_for test -f "$B/docs/sub/moved.txt"
check "B no longer lists docs/f.txt" wait_for test ! -e "$B/docs/f.txt"
check_eq "B: the moved file keeps its doc id" "$doc" \
	"$(xattr "$B/docs/sub/moved.txt" user.coffre.doc_id)"
check_eq "coffre versions still lists both versions after the move" 2 \
	"$(cf b versions "$B/docs/sub/moved.txt" | wc -l)"
check "B: .versions of the moved file holds v1" \
	cmp "$T/f1" "$B/docs/sub/.versions/moved.txt/v1.txt"
check "the ledger has the manifest at its new path" \
	sh -c 'git --git-dir "$1" show main:docs/sub/moved.txt | grep -qx "doc $2"' _ "$R" "$doc"
check "the ledger no longer has docs/f.txt" \
	sh -c '! git --git-dir "$1" cat-file -e main:docs/f.txt 2>/dev/null' _ "$R"

# Remove: gone from both listings, kept in history.
before=$(G rev-list --count main)
check "rm docs/sub/moved.txt" rm "$A/docs/sub/moved.txt"
check "rmdir docs/sub/empty" rmdir "$A/docs/sub/empty"
check "sync" client_sync a
check "A no longer lists it" test ! -e "$A/docs/sub/moved.txt"
check "B no longer lists it" wait_for test ! -e "$B/docs/sub/moved.txt"
check "B no longer lists the removed folder" wait_for test ! -e "$B/docs/sub/empty"
check "the removal made new commits" test "$(G rev-list --count main)" -gt "$before"
check "the ledger no longer has the file at head" \
	sh -c '! git --git-dir "$1" cat-file -e main:docs/sub/moved.txt 2>/dev/null' _ "$R"
check "git log keeps both deposits of the removed document" \
	test "$(G log --format=%B main -- docs/f.txt | grep -c '^Coffre-Op: deposit /docs/f.txt')" -ge 2
first=$(G log --format=%H --reverse main -- docs/f.txt | head -n1)
check "the first version's manifest is still in history" \
	sh -c 'git --git-dir "$1" show "$2:docs/f.txt" | grep -qx "version 1"' _ "$R" "$first"
check "the unlink is traced in a commit message" \
	sh -c 'git --git-dir "$1" log --format=%B main | grep -q "^Coffre-Op: unlink /docs/sub/moved.txt"' _ "$R"
check "git fsck --strict passes at the end" G fsck --strict --no-progress

check "coffred fsck: chunks, ledger, index, signatures and timestamps agree" \
	"$COFFRED" fsck "$D"
done_testing
