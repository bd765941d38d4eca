#!/bin/bash
# A new space starts with the filing plan of its kind: `coffred space
# create --kind private` makes the private plan's folders with their
# classes in one signed commit, journaled, shown on the drive by role (the
# owner sees the confidential "Dernières volontés", an assistant does not,
# a trusted person granted it sees it alone);
# company and association plans; --plan FILE a plan of one's own, --plan
# none no folder; a bad plan (bad class, unknown parent, a folder twice,
# oversized, missing) is refused with its line and creates nothing.
. "$TESTLIB/common.sh"
require_cmd python3

server_init
for u in alice bob carol dave; do
	user_add $u
done

# folders_of SPACE: the ledger's folders with their classes, "PATH=CLASS"
folders_of() {
	local g c f
	g=$(ledger "$1") || return 1
	git --git-dir "$g" ls-tree -r --name-only -z main |
		while IFS= read -r -d '' f; do
			case /$f in */.coffre-folder) ;; *) continue ;; esac
			c=$(git --git-dir "$g" show "main:$f" | sed -n 's/^class //p')
			f=/$f
			f=${f%/.coffre-folder}
			printf '%s=%s\n' "${f:-/}" "$c"
		done
}
# refused SPACE PATTERN ARG...: space create exits 1 saying PATTERN, and
# leaves no space behind
refused() {
	local sp=$1 pat=$2 out st
	shift 2
	out=$("$COFFRED" space create "$D" "$sp" --owner alice "$@" 2>&1)
	st=$?
	[ "$st" -eq 1 ] || { diag "exit $st: $out"; return 1; }
	printf '%s\n' "$out" | grep -q -- "$pat" || { diag "said: $out"; return 1; }
	! "$COFFRED" space path "$D" "$sp" >/dev/null 2>&1 || { diag "space $sp exists"; return 1; }
	[ ! -e "$D/spaces/$sp" ] || { diag "$D/spaces/$sp left behind"; return 1; }
}

# bad plans first: each is refused before anything is made
printf 'coffre-plan 1\nrestricted /A\nsecret /B\n' >"$T/badclass.plan"
check "a plan with an unknown class is refused at its line" refused x1 "line 3" --plan "$T/badclass.plan"
printf 'coffre-plan 1\nrestricted /A/B\n' >"$T/orphan.plan"
check "a folder before its parent is refused" refused x2 "not named before" --plan "$T/orphan.plan"
printf 'coffre-plan 1\nrestricted /A\npublic /A\n' >"$T/twice.plan"
check "a folder named twice is refused" refused x3 "named twice" --plan "$T/twice.plan"
printf 'restricted /A\n' >"$T/nomagic.plan"
check "a file that is not a plan is refused" refused x4 "coffre-plan 1" --plan "$T/nomagic.plan"
printf 'coffre-plan 1\nrestricted /a/../etc\n' >"$T/dots.plan"
check "a path with .. is refused" refused x5 "line 2" --plan "$T/dots.plan"
python3 -c 'import sys
sys.stdout.write("coffre-plan 1\n" + "".join("restricted /F%d\n" % i for i in range(1001)))' >"$T/many.plan"
check "a plan over 1000 folders is refused" refused x6 "more than 1000" --plan "$T/many.plan"
python3 -c 'import sys; sys.stdout.write("coffre-plan 1\n" + "#" * 300000 + "\n")' >"$T/big.plan"
check "a plan over 256 KiB is refused" refused x7 "bytes" --plan "$T/big.plan"
check "a missing plan file is refused" refused x8 "cannot open" --plan "$T/nope.plan"
check "an unknown kind is refused" refused x9 "must be private" --kind family
mkdir "$T/plans"
refused_plan_dir() { COFFRE_PLAN_DIR="$T/plans" refused x10 "no filing plan"; }
check "a COFFRE_PLAN_DIR without the kind is refused" refused_plan_dir

# the private plan
check "space create --kind private" "$COFFRED" space create "$D" famille --owner alice --kind private
folders_of famille >"$T/famille"
check_eq "the private plan's folders and classes" \
	"/=restricted /Assurances=restricted /Banque=restricted /Dernières volontés=confidential /Famille=restricted /Identité=restricted /Impôts=restricted /Logement=restricted /Santé=confidential /Travail=restricted /Véhicules=restricted" \
	"$(LC_ALL=C sort "$T/famille" | tr '\n' ' ' | sed 's/ $//')"
G=$(ledger famille)
check_eq "one commit for the plan, by the owner, after the owner's membership" \
	"alice|Coffre-Client: coffred filing plan private" \
	"$(git --git-dir "$G" log -1 --format='%an|%(trailers:key=Coffre-Client)' main | sed '/^$/d')"
check_eq "it names each folder made" 10 \
	"$(git --git-dir "$G" log -1 --format=%B main | grep -c '^Coffre-Op: mkdir ')"
check "space create --kind company" "$COFFRED" space create "$D" societe --owner alice --kind company
check "the company plan has its staff folder confidential" grep -qx '/Personnel=confidential' <(folders_of societe)
check "and a nested legal folder" grep -qx '/Juridique/Statuts=restricted' <(folders_of societe)
check "space create --kind association" "$COFFRED" space create "$D" asso --owner alice --kind association
check "the association plan has a public folder" grep -qx '/Documents publics=public' <(folders_of asso)
check "--plan default is the kind's plan" "$COFFRED" space create "$D" famille2 --owner alice --plan default
check_eq "... the same folders as famille" "$(LC_ALL=C sort "$T/famille")" "$(folders_of famille2 | LC_ALL=C sort)"
check "--plan none" "$COFFRED" space create "$D" vide --owner alice --plan none
check_eq "makes no folder" "/=restricted" "$(folders_of vide)"
printf '# mine\ncoffre-plan 1\n\npublic /Ouvert\nconfidential /Ouvert/Secret\n' >"$T/mine.plan"
check "--plan FILE" "$COFFRED" space create "$D" mine --owner alice --plan "$T/mine.plan"
check_eq "makes the file's folders" "/=restricted /Ouvert/Secret=confidential /Ouvert=public" \
	"$(folders_of mine | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
cp "$TESTLIB/../../plans/company.plan" "$T/plans/private.plan"
check "COFFRE_PLAN_DIR replaces the installed plans" \
	env COFFRE_PLAN_DIR="$T/plans" "$COFFRED" space create "$D" autre --owner alice
check "... a private space then gets that plan" grep -qx '/Personnel=confidential' <(folders_of autre)

server_start
for u in alice bob carol dave; do
	client_login $u $u
done
check "coffre member add: an assistant" cf alice member add famille bob --role assistant
check "coffre member add: an intervenant" cf alice member add famille carol --role intervenant
check "bob accepts" cf bob accept famille
check "carol accepts" cf carol accept famille
check "coffre member add: a trusted person" cf alice member add famille dave --role trusted
check "dave accepts" cf dave accept famille
client_mount alice famille
client_mount bob famille
client_mount carol famille
A=$(mnt_of alice)
B=$(mnt_of bob)
C=$(mnt_of carol)
ls_of() { ls -A "$1" 2>&1 | LC_ALL=C sort | tr '\n' '|' | sed 's/|$//'; }
check_eq "the owner's drive shows the plan" \
	"Assurances|Banque|Dernières volontés|Famille|Identité|Impôts|Logement|Santé|Travail|Véhicules" "$(ls_of "$A")"
check_eq "the class shows on the drive" confidential "$(xattr "$A/Dernières volontés" user.coffre.class)"
check_eq "the assistant does not see the confidential folders" \
	"Assurances|Banque|Famille|Identité|Impôts|Logement|Travail|Véhicules" "$(ls_of "$B")"
check_eq "the intervenant sees none (no grant, no public folder)" "" "$(ls_of "$C")"
check "the owner grants the last-wishes folder to the trusted person" \
	cf alice grant "$A/Dernières volontés" dave read
echo "à ouvrir le moment venu" >"$T/wishes.txt"
check "and files a letter there" cp "$T/wishes.txt" "$A/Dernières volontés/lettre.txt"
check "coffre sync --wait" client_sync alice
client_mount dave famille
check_eq "the trusted person sees that folder only" "Dernières volontés" "$(ls_of "$(mnt_of dave)")"
check "and reads the letter" cmp "$T/wishes.txt" "$(mnt_of dave)/Dernières volontés/lettre.txt"
check "the owner files a document in the plan" cp "$TESTLIB/common.sh" "$A/Banque/releve.txt"
check "coffre sync --wait" client_sync alice
check "it is in the ledger" git --git-dir "$G" cat-file -e "main:Banque/releve.txt"
check "the owner can rename a plan folder" mv "$A/Travail" "$A/Emploi"
check "coffre sync --wait" client_sync alice

api "$T/ev.json" GET "/v1/spaces/famille/events?path=/" \
	-H "Authorization: Bearer $(token_of alice)" >/dev/null
check_eq "the journal has the plan's ten folders" 10 \
	"$(json_get "$T/ev.json" 'sum(1 for e in j["events"] if e["kind"] == "mkdir" and e["detail"] == "filing plan" and e["login"] == "alice")')"

"$COFFRED" key export "$D" --allowed-signers >"$T/signers"
check "the plan's commit verifies with stock git" \
	git --git-dir "$G" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/signers" \
	verify-commit "$(git --git-dir "$G" log --format=%H --grep 'filing plan private' main)"
check "coffred fsck" "$COFFRED" fsck "$D"
done_testing
