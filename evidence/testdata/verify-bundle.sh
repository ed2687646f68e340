#!/usr/bin/env bash
# verify-bundle.sh DIR [TRUST-FILE]: check an unpacked shopwatch evidence
# bundle with standard tools only (bash, OpenSSL 3, GNU coreutils, grep, sed):
#
#   unzip BUNDLE.zip -d DIR && bash verify-bundle.sh DIR trust.yaml
#
# TRUST-FILE (or TRUST_FILE in the environment) is the trust.yaml the
# office publishes: the bundle is TRUSTED only when its signer key is
# listed there and valid at the timestamp's time, and the timestamp's root
# is pinned there. Without one the bundle is SELF-CONSISTENT ONLY.
#
# It prints one line per check and stops at the first failure with
# "FAIL <item>: <reason>" and exit status 1. The ledger inclusion proof
# (ledger-proof.json, RFC 9162 hashing) is recomputed with sha256sum, the
# checkpoint's signature and timestamp checked with openssl; under a trust
# file that lists witnesses, a listed witness must have co-signed the
# checkpoint.
# MAX_SKEW_SECONDS (default 300) is the largest gap accepted between
# captured_at in manifest.json and the timestamp's time. With
# REQUIRE_SIGNED_EXPORT=1 a bundle without export-manifest.json fails.
set -u
dir=${1:?usage: verify-bundle.sh UNPACKED-BUNDLE-DIR [TRUST-FILE]}
trust=${2:-${TRUST_FILE:-}}
max_skew=${MAX_SKEW_SECONDS:-300}
case $trust in '' | /*) ;; *) trust=$PWD/$trust ;; esac
[ -z "$trust" ] || [ -r "$trust" ] || { echo "FAIL trust file: cannot read $trust"; exit 2; }
cd "$dir" || exit 2
fail() { echo "FAIL $1: $2"; exit 1; }
ok() { echo "ok   $1: $2"; }
sha() { sha256sum "$1" | cut -c1-64; }
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
# hexbin HEX: the bytes HEX spells; node L R: the RFC 9162 interior node hash.
hexbin() { printf "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }
node() { { printf '\x01'; hexbin "$1"; hexbin "$2"; } | sha256sum | cut -c1-64; }
# json NAME FILE: the string value of a field on a line of its own at the
# indentation given in NAME ("    note" for a checkpoint field).
json() { sed -n "s/^$1\": \"\(.*\)\",\{0,1\}\$/\1/p" "$2" | head -n 1; }

# 1. Every file against SHA256SUMS (written at export).
out=$(sha256sum -c SHA256SUMS 2>&1) || {
	bad=$(printf '%s\n' "$out" | grep -v -e ': OK$' -e '^sha256sum: ' | head -n 1)
	fail "${bad%: *}" "sha256sum -c SHA256SUMS: ${bad##*: }"
}
ok SHA256SUMS "$(wc -l <SHA256SUMS) files match"

# 2. Nothing in the bundle that SHA256SUMS does not list.
extra=$(comm -23 <(find . -type f | sed 's|^\./||' | LC_ALL=C sort) \
	<({ cut -c67- SHA256SUMS; printf '%s\n' SHA256SUMS datapackage.json datapackage-digest.json; } | LC_ALL=C sort) | head -n 1)
[ -z "$extra" ] || fail "$extra" "file not listed in SHA256SUMS"
ok bundle "no unlisted file"

# 3. The Ed25519 signature over the exact bytes of manifest.json.
openssl pkeyutl -verify -pubin -inkey signer.pub -rawin -in manifest.json -sigfile manifest.sig >/dev/null 2>&1 ||
	fail manifest.sig "signature over manifest.json does not verify with signer.pub"
ok manifest.sig "Ed25519 signature over manifest.json verifies"

# 4. The key id, to compare with the one the office publishes.
keyid="ed25519:$(openssl pkey -pubin -in signer.pub -outform DER | tail -c 32 | sha256sum | cut -c1-16)"
grep -qF "\"signer_key_id\": \"$keyid\"" manifest.json || fail signer.pub "$keyid is not the key manifest.json names"
ok signer.pub "key id $keyid (compare with the published one)"

# 5. The RFC 3161 timestamp over manifest.json, chained to the bundled root
#    at the token's own time (-attime): a certificate not valid when the
#    token says it was made fails. Then captured_at against that time.
if [ -e timestamp.tsr ]; then
	stamped=$(openssl ts -reply -in timestamp.tsr -text 2>/dev/null | sed -n 's/^Time stamp: //p')
	gentime=$(date -u -d "$stamped" +%s 2>/dev/null) || fail timestamp.tsr "cannot read the token's time"
	out=$(openssl ts -verify -attime "$gentime" -data manifest.json -in timestamp.tsr -CAfile tsa-root.pem 2>&1) ||
		fail timestamp.tsr "token does not verify over manifest.json against tsa-root.pem at its time $stamped: $(printf '%s\n' "$out" | grep -m 1 -i 'error' | sed 's/.*[Ee]rror://')"
	ok timestamp.tsr "Time stamp: $stamped, verified at that time"
	ok tsa-root.pem "$(openssl x509 -in tsa-root.pem -noout -fingerprint -sha256) (compare with the published one)"
	captured=$(sed -n 's/^  "captured_at": "\(.*\)",$/\1/p' manifest.json)
	at=$(date -u -d "$captured" +%s 2>/dev/null) || fail manifest.json "cannot read captured_at"
	skew=$((gentime > at ? gentime - at : at - gentime))
	[ "$skew" -le "$max_skew" ] ||
		fail manifest.json "captured_at $captured is ${skew}s from the timestamp's time $stamped (at most ${max_skew}s)"
	ok manifest.json "captured_at $captured is within ${max_skew}s of the timestamp's time"
else
	echo "note timestamp.tsr: absent, the bundle is unsealed"
fi

# 6. manifest.json and SHA256SUMS agree on every artifact.
n=0
while read -r hex name; do
	grep -qxF "$hex  $name" SHA256SUMS || fail "$name" "sha256 in manifest.json differs from SHA256SUMS"
	n=$((n + 1))
done < <(paste -d ' ' \
	<(sed -n 's/^      "sha256": "sha256:\([0-9a-f]\{64\}\)",$/\1/p' manifest.json) \
	<(sed -n 's/^      "name": "\(.*\)",$/\1/p' manifest.json))
[ "$n" -gt 0 ] || fail manifest.json "lists no artifact"
ok manifest.json "$n artifacts, each with the digest SHA256SUMS holds"

# 7. The WACZ descriptor: datapackage-digest.json covers datapackage.json,
#    which lists every other file with the digest SHA256SUMS holds.
want=$(sed -n 's/^  "hash": "sha256:\([0-9a-f]\{64\}\)"$/\1/p' datapackage-digest.json)
[ "$want" = "$(sha datapackage.json)" ] || fail datapackage.json "sha256 differs from datapackage-digest.json"
while read -r hex path; do
	if [ "$path" = SHA256SUMS ]; then
		[ "$hex" = "$(sha SHA256SUMS)" ] || fail SHA256SUMS "sha256 differs from datapackage.json"
	else
		grep -qxF "$hex  $path" SHA256SUMS || fail "$path" "datapackage.json and SHA256SUMS disagree"
	fi
done < <(paste -d ' ' \
	<(sed -n 's/^      "hash": "sha256:\([0-9a-f]\{64\}\)",$/\1/p' datapackage.json) \
	<(sed -n 's/^      "path": "\(.*\)",$/\1/p' datapackage.json))
if grep -qxF '  "profile": "data-package",' datapackage.json; then
	grep -qxF '  "wacz_version": "1.1.1",' datapackage.json || fail datapackage.json "profile data-package without wacz_version 1.1.1"
elif ! grep -qxF '  "profile": "wacz",' datapackage.json; then # exported before WACZ 1.1.1
	fail datapackage.json "profile is neither data-package (WACZ 1.1.1) nor wacz (earlier exports)"
fi
ok datapackage.json "WACZ datapackage.json and datapackage-digest.json agree"

# 8. SM3 digests, where OpenSSL has SM3.
if openssl dgst -sm3 /dev/null >/dev/null 2>&1; then
	while read -r hex name; do
		[ "$(openssl dgst -sm3 -r "$name" | cut -c1-64)" = "$hex" ] || fail "$name" "sm3 differs from manifest.json"
	done < <(paste -d ' ' \
		<(sed -n 's/^      "sm3": "sm3:\([0-9a-f]\{64\}\)"$/\1/p' manifest.json) \
		<(sed -n 's/^      "name": "\(.*\)",$/\1/p' manifest.json))
	ok manifest.json "sm3 digests match"
else
	echo "note sm3: this OpenSSL has no SM3; skipped"
fi
# 9. The signed export: export-manifest.json lists every file derived at
#    export (README.txt, this script, the reports …) with SHA-256 and SM3,
#    signed by the exporting key and timestamped. Then every file must be
#    a capture file, a signed derived file, or a file of the two seals.
if [ -e export-manifest.json ]; then
	openssl pkeyutl -verify -pubin -inkey export-signer.pub -rawin -in export-manifest.json -sigfile export-manifest.sig >/dev/null 2>&1 ||
		fail export-manifest.sig "signature over export-manifest.json does not verify with export-signer.pub"
	xkeyid="ed25519:$(openssl pkey -pubin -in export-signer.pub -outform DER | tail -c 32 | sha256sum | cut -c1-16)"
	grep -qF "\"signer_key_id\": \"$xkeyid\"" export-manifest.json || fail export-signer.pub "$xkeyid is not the key export-manifest.json names"
	by=$(sed -n 's/^  "exported_by": "\(.*\)",$/\1/p' export-manifest.json)
	ok export-manifest.sig "Ed25519 signature over export-manifest.json by $by, key id $xkeyid (compare with the published one)"
	grep -qxF "  \"capture_manifest\": \"sha256:$(sha manifest.json)\"," export-manifest.json ||
		fail manifest.json "is not the capture manifest export-manifest.json was signed for"
	if [ -e export-timestamp.tsr ]; then
		xstamped=$(openssl ts -reply -in export-timestamp.tsr -text 2>/dev/null | sed -n 's/^Time stamp: //p')
		xgentime=$(date -u -d "$xstamped" +%s 2>/dev/null) || fail export-timestamp.tsr "cannot read the token's time"
		out=$(openssl ts -verify -attime "$xgentime" -data export-manifest.json -in export-timestamp.tsr -CAfile export-tsa-root.pem 2>&1) ||
			fail export-timestamp.tsr "token does not verify over export-manifest.json against export-tsa-root.pem at its time $xstamped"
		ok export-timestamp.tsr "Time stamp: $xstamped; $(openssl x509 -in export-tsa-root.pem -noout -fingerprint -sha256)"
	else
		echo "note export-timestamp.tsr: absent, the export is not timestamped"
	fi
	n=0
	while read -r hex name; do
		[ -f "$name" ] || fail "$name" "listed in export-manifest.json, missing"
		[ "$(sha "$name")" = "$hex" ] || fail "$name" "sha256 differs from export-manifest.json: changed since the export was signed"
		n=$((n + 1))
	done < <(paste -d ' ' \
		<(sed -n 's/^      "sha256": "sha256:\([0-9a-f]\{64\}\)",$/\1/p' export-manifest.json) \
		<(sed -n 's/^      "name": "\(.*\)",$/\1/p' export-manifest.json))
	[ "$n" -gt 0 ] || fail export-manifest.json "lists no file"
	if openssl dgst -sm3 /dev/null >/dev/null 2>&1; then
		while read -r hex name; do
			[ "$(openssl dgst -sm3 -r "$name" | cut -c1-64)" = "$hex" ] || fail "$name" "sm3 differs from export-manifest.json"
		done < <(paste -d ' ' \
			<(sed -n 's/^      "sm3": "sm3:\([0-9a-f]\{64\}\)"$/\1/p' export-manifest.json) \
			<(sed -n 's/^      "name": "\(.*\)",$/\1/p' export-manifest.json))
	fi
	ok export-manifest.json "$n derived files signed: $(sed -n 's/^      "name": "\(.*\)",$/\1/p' export-manifest.json | tr '\n' ' ')"
	extra=$(comm -23 <(find . -type f | sed 's|^\./||' | LC_ALL=C sort) \
		<({ sed -n 's/^      "name": "\(.*\)",$/\1/p' manifest.json export-manifest.json
			printf '%s\n' manifest.json manifest.sig signer.pub timestamp.tsr tsa-root.pem export-manifest.json \
				export-manifest.sig export-signer.pub export-timestamp.tsr export-tsa-root.pem SHA256SUMS datapackage.json datapackage-digest.json
		} | LC_ALL=C sort) | head -n 1)
	[ -z "$extra" ] || fail "$extra" "neither manifest.json nor export-manifest.json lists it"
	ok bundle "every file is a capture file, a signed derived file or a seal file"
elif [ "${REQUIRE_SIGNED_EXPORT:-0}" = 1 ]; then
	fail export-manifest.json "absent: the export is not signed (REQUIRE_SIGNED_EXPORT=1)"
else
	echo "note export-manifest.json: absent (exported before exports were signed): README.txt, report.html, report.pdf and the other derived files are NOT signed"
fi

# 10. The ledger proof: manifest.json is a leaf of the append-only ledger,
#     under a checkpoint signed by signer.pub and timestamped over its note.
if [ -e ledger-proof.json ]; then
	p=ledger-proof.json
	grep -qxF '  "format": "shopwatch-ledger-proof/1",' $p || fail $p "not a shopwatch-ledger-proof/1 file"
	leaf="sha256:$(sha manifest.json)"
	[ "$(json '  "leaf' $p)" = "$leaf" ] || fail $p "is the proof of another leaf than manifest.json ($leaf)"
	lh=$({ printf '\x00'; printf '%s' "$leaf"; } | sha256sum | cut -c1-64)
	[ "$(json '  "leaf_hash' $p)" = "$lh" ] || fail $p "leaf_hash is not the RFC 9162 hash of the leaf"
	fn=$(sed -n 's/^  "leaf_index": \([0-9]*\),$/\1/p' $p)
	size=$(sed -n 's/^  "tree_size": \([0-9]*\),$/\1/p' $p)
	root=$(json '  "root' $p)
	[ -n "$fn" ] && [ -n "$size" ] && [ "$fn" -lt "$size" ] || fail $p "leaf_index or tree_size missing or out of range"
	sn=$((size - 1)) r=$lh
	for h in $(sed -n '/^  "audit_path": \[\],$/q; /^  "audit_path": \[$/,/^  \],$/p' $p | grep -o '[0-9a-f]\{64\}'); do
		[ "$sn" -gt 0 ] || fail $p "audit path longer than the tree allows"
		if [ $((fn % 2)) = 1 ] || [ "$fn" = "$sn" ]; then
			r=$(node "$h" "$r")
			while [ $((fn % 2)) = 0 ] && [ "$fn" != 0 ]; do fn=$((fn >> 1)) sn=$((sn >> 1)); done
		else
			r=$(node "$r" "$h")
		fi
		fn=$((fn >> 1)) sn=$((sn >> 1))
	done
	[ "$sn" = 0 ] && [ "$r" = "$root" ] || fail $p "the audit path does not lead from manifest.json to root $root"
	# The checkpoint: its note names this tree, signer.pub signed the note,
	# and a token dates it.
	json '    "note' $p | sed 's/\\n/\n/g' | head -c -1 >"$tmp/note"
	[ "$(sed -n 's/^size //p' "$tmp/note")" = "$size" ] && [ "$(sed -n 's/^root //p' "$tmp/note")" = "$root" ] ||
		fail $p "the checkpoint's note does not name size $size and root $root"
	json '    "signature' $p | base64 -d >"$tmp/note.sig" 2>/dev/null || fail $p "checkpoint signature is not base64"
	openssl pkeyutl -verify -pubin -inkey signer.pub -rawin -in "$tmp/note" -sigfile "$tmp/note.sig" >/dev/null 2>&1 ||
		fail $p "the checkpoint's signature does not verify with signer.pub"
	json '    "timestamp' $p | base64 -d >"$tmp/note.tsr" 2>/dev/null || fail $p "checkpoint timestamp is not base64"
	cstamped=$(openssl ts -reply -in "$tmp/note.tsr" -text 2>/dev/null | sed -n 's/^Time stamp: //p')
	cgentime=$(date -u -d "$cstamped" +%s 2>/dev/null) || fail $p "cannot read the checkpoint token's time"
	openssl ts -verify -attime "$cgentime" -data "$tmp/note" -in "$tmp/note.tsr" -CAfile tsa-root.pem >/dev/null 2>&1 ||
		fail $p "the checkpoint's token does not verify over its note against tsa-root.pem"
	ok $p "manifest.json is leaf $(sed -n 's/^  "leaf_index": \([0-9]*\),$/\1/p' $p) of $size, checkpoint signed by $keyid, Time stamp: $cstamped"
else
	echo "note ledger-proof.json: absent, the capture is in no ledger this bundle proves"
fi

# 11. Under the trust file: the signer key is listed and was valid at the
#     timestamp's time, the timestamp's root is pinned, and, when the office
#     lists witnesses, one of them co-signed the ledger checkpoint.
if [ -n "$trust" ]; then
	entries() { sed -n "/^$1:/,/^[^ #]/p" "$trust" | grep '^  - {'; }
	field() { sed -n "s/.*[{ ]$1: \"\([^\"]*\)\".*/\1/p"; }
	office=$(sed -n 's/^office: "\(.*\)"$/\1/p' "$trust" | sed 's/\\"/"/g')
	[ -n "$office" ] || fail "$trust" "not a trust file (no office)"
	[ -e timestamp.tsr ] || fail timestamp.tsr "absent: without a timestamp the capture time rests on the capture host alone"
	# One root only: openssl ts -verify accepted a chain to any certificate
	# of tsa-root.pem, so the one pinned must be the only one there.
	[ "$(grep -c -e '-----BEGIN' tsa-root.pem)" = 1 ] && grep -qxF -e '-----BEGIN CERTIFICATE-----' tsa-root.pem ||
		fail tsa-root.pem "holds other than exactly one certificate: the token may chain to one the trust file does not pin"
	fp="sha256:$(openssl x509 -in tsa-root.pem -outform DER | sha256sum | cut -c1-64)"
	entries tsa_roots | field fingerprint | grep -qxF "$fp" ||
		fail tsa-root.pem "$fp is not a TSA root the trust file of $office pins"
	ok tsa-root.pem "$fp is pinned by the trust file of $office"
	line=$(entries signer_keys | grep -F "id: \"$keyid\"" | head -n 1)
	[ -n "$line" ] || fail signer.pub "$keyid is not a signer key of $office"
	from=$(printf '%s\n' "$line" | field valid_from)
	until=$(printf '%s\n' "$line" | field valid_until)
	[ -z "$from" ] || [ "$gentime" -ge "$(date -u -d "$from" +%s)" ] ||
		fail signer.pub "$keyid is valid from $from, but the timestamp's time is $stamped"
	[ -z "$until" ] || [ "$gentime" -le "$(date -u -d "$until" +%s)" ] ||
		fail signer.pub "$keyid is valid until $until, but the timestamp's time is $stamped"
	ok signer.pub "$keyid is a signer key of $office, valid at the timestamp's time"
	witnessed=""
	if entries witness_keys | grep -q .; then
		[ -e ledger-proof.json ] || fail ledger-proof.json "absent: $office lists witnesses, and no checkpoint here is co-signed"
		# Each co-signature: the witness's raw key, its id, time, signature.
		while read -r wid wkey wtime wsig; do
			entries witness_keys | field id | grep -qxF "$wid" || continue
			{ printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; base64 -d <<<"$wkey"; } >"$tmp/w.der" 2>/dev/null || continue
			[ "ed25519:$(base64 -d <<<"$wkey" | sha256sum | cut -c1-16)" = "$wid" ] || continue
			printf 'shopwatch-witness-cosignature/1\nwitness %s\ntime %s\n' "$wid" "$wtime" >"$tmp/cosigned"
			cat "$tmp/note" >>"$tmp/cosigned"
			base64 -d <<<"$wsig" >"$tmp/w.sig" 2>/dev/null || continue
			openssl pkeyutl -verify -pubin -keyform DER -inkey "$tmp/w.der" -rawin -in "$tmp/cosigned" -sigfile "$tmp/w.sig" >/dev/null 2>&1 || continue
			name=$(entries witness_keys | grep -F "id: \"$wid\"" | field name | head -n 1)
			witnessed="$witnessed, $name ($wid)"
			ok ledger-proof.json "the checkpoint is co-signed by witness $name ($wid) of $office at $wtime"
		done < <(paste -d ' ' \
			<(sed -n 's/^      "witness_key_id": "\(.*\)",$/\1/p' ledger-proof.json) \
			<(sed -n 's/^      "witness_key": "\(.*\)",$/\1/p' ledger-proof.json) \
			<(sed -n 's/^      "time": "\(.*\)",$/\1/p' ledger-proof.json) \
			<(sed -n 's/^      "signature": "\(.*\)"$/\1/p' ledger-proof.json))
		[ -n "$witnessed" ] || fail ledger-proof.json "the checkpoint carries no valid co-signature of a witness $office lists"
		witnessed="; the ledger checkpoint is co-signed by witness ${witnessed#, }"
	fi
	echo "TRUSTED under $trust ($office): VERIFIED with standard tools$witnessed"
else
	echo "SELF-CONSISTENT ONLY: VERIFIED with standard tools, but against nothing from outside the bundle: anyone holding an Ed25519 key and a time-stamping authority could have made it; give the office's trust.yaml as second argument"
fi
