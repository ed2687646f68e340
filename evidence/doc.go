// Package evidence preserves what shopwatch saw on a page so that it holds
// up as evidence: every byte is stored append-only, covered by SHA-256 and
// SM3 digests listed in a manifest, and the manifest is signed with the
// node's Ed25519 key. Bundles exported from it can be checked offline with
// standard tools, without shopwatch. This comment is the specification of
// the stored capture and of the bundle format.
//
// # Digests
//
// A digest is written "<algorithm>:<lowercase hex>": "sha256:" followed by
// 64 hex digits (FIPS 180-4 SHA-256) or "sm3:" followed by 64 hex digits
// (GB/T 32905-2016 SM3). Every artifact carries both.
//
// # Stores
//
// Captures live in a Store (folderstore: a local folder, the default;
// miniostore: a MinIO or S3 bucket) under the keys
// evidence/<evidence id>/<name>. Stores never overwrite a key, check the
// SHA-256 of every object as it is written, and keep nothing that does not
// match. In folderstore the key is the file path below the store folder
// and files are read-only (mode 0444).
//
// # Evidence ids
//
// "ev-" + capture time in UTC as yyyymmddThhmmssZ + "-" + 12 lowercase hex
// digits derived from 128 random bits, e.g. ev-20260301T101500Z-3fa9c2e1b7d0.
//
// # Artifacts of a capture
//
// For the i-th HTTP exchange of the visit (NNN = i from 001, redirects
// first):
//
//	exchanges/NNN-request.http   application/http; msgtype=request
//	    the request line and header fields exactly as sent, ending in the
//	    empty line (CRLF CRLF)
//	exchanges/NNN-response.http  application/http; msgtype=response
//	    the status line and header fields exactly as received, ending in the
//	    empty line, directly followed by the body bytes exactly as received
//	    (content coding such as gzip kept; a chunked body with its chunked
//	    framing, on the static path). The body starts at byte
//	    response_header_size (from NNN.json) and has body_size bytes. Absent
//	    when no response arrived.
//	exchanges/NNN-chain.pem      application/x-pem-file
//	    the certificate chain the server presented, leaf first, as PEM
//	    CERTIFICATE blocks. Only for exchanges made over TLS.
//	exchanges/NNN.json           application/json
//	    {"index", "method", "url", "proto", "status", "remote_addr",
//	     "resolved_ips" (every address the host name resolved to when the
//	     connection was made, in the resolver's order; the address itself
//	     for an address URL; kept for a reused connection), "tls" (over
//	     TLS only: {"version" e.g. "TLS 1.3", "cipher_suite" (IANA name),
//	     "server_name" (SNI sent), "alpn", "resumed", "verified" (the chain
//	     verified against the trusted roots), "certificates" (how many
//	     were presented), "chain" (artifact name of NNN-chain.pem)}),
//	     "started", "finished" (RFC 3339, UTC), "duration_ns",
//	     "content_length" (as announced, -1 unknown), "body_truncated"
//	     (true when the crawler's size cap cut the body), "error",
//	     "request", "response" (artifact names), "request_size",
//	     "response_header_size", "body_size", and for a chunked body
//	     "transfer_encoding" ("chunked") and "payload_size" (the body
//	     de-chunked)}
//
// When the robots.txt of the page's origin was recorded (it is evidence
// of what the site asked of crawlers; it never blocks an inspection), its
// one exchange, redirects not followed, is kept the same way as
// robots/request.http, robots/response.http, robots/chain.pem and
// robots/robots.json (the fields of NNN.json without "index").
//
// Then, once per capture:
//
//	page.html       text/html; charset=utf-8    the page decoded to UTF-8
//	text.txt        text/plain; charset=utf-8   the visible text the rules read
//	screenshot.png  image/png                   the rendered page; on the static path the
//	                                            captured response shown in a browser
//	                                            (nothing fetched again), when one is
//	                                            available; metadata.json's screenshot_by
//	                                            says how it was made or why it is absent
//	page.mhtml      multipart/related           the rendered page as MHTML (a MIME
//	                                            message; browser path only)
//	page.pdf        application/pdf             the rendered page printed to PDF, when
//	                                            asked for
//	snapshots/NNN.png image/png                 timed screenshots of a watched page, in
//	                                            the order taken (NNN from 001)
//	snapshots.json  application/json            [{"index", "name", "at" (RFC 3339,
//	                                            UTC), "size"}], one per snapshot
//	timeline.json   application/json            the texts seen on a watched live page:
//	                                            [{"source", "text", "first_seen",
//	                                            "last_seen", "offset" (into text.txt)}]
//	archive/capture.warc.gz application/warc           the same exchanges as WARC 1.1 records
//	                                            (warcinfo, request, response with the
//	                                            exact bytes and sha256 block/payload
//	                                            digests) for the exchanges and the
//	                                            robots.txt exchange, a metadata record
//	                                            per TLS session (details and PEM
//	                                            chain), resource records for the
//	                                            markup, text, screenshot, MHTML, PDF,
//	                                            snapshots and timeline; one gzip
//	                                            member per record (see evidence/warc)
//	environment.json application/json           the capture-environment check of the
//	                                            session (clock offset against the TSA,
//	                                            proxy variables, hosts-file pins,
//	                                            binary digests; see evidence/envcheck);
//	                                            VerifyBundle reports a failed one
//	network.json    application/json            network provenance: {"url", "final_url",
//	                                            "redirect_chain": one object per
//	                                            exchange, in order: {"index", "url",
//	                                            "status", "location" (of a 3xx, as
//	                                            sent), "remote_addr", "resolved_ips",
//	                                            "proto", "tls_version",
//	                                            "tls_cipher_suite", "error",
//	                                            "exchange" (its NNN.json)}}
//	findings.json   application/json            array of findings raised on the page
//	                                            (rule, law, article, match, snippet,
//	                                            offset into text.txt …)
//	metadata.json   application/json            evidence_id, target_id, visit_id, url,
//	                                            final_url, kind, category, status,
//	                                            content_type, declared_charset,
//	                                            charset_source, charset (the decoder
//	                                            used), title, rendered, mobile
//	                                            (rendered as a phone), ready_by (how
//	                                            the browser judged the page ready:
//	                                            "quiet after 2.3s" or "timeout after
//	                                            15.0s with …"), fetched_at,
//	                                            captured_at (UTC, RFC 3339 with
//	                                            nanoseconds), clock_source,
//	                                            shopwatch_version, host, operator,
//	                                            exchanges, findings, links
//
// # manifest.json
//
// A JSON object (UTF-8, two-space indent, final newline):
//
//	format             "shopwatch-evidence-manifest/1"
//	evidence_id        the evidence id
//	target_id, visit_id, url, final_url
//	captured_at        capture time, RFC 3339 UTC with nanoseconds
//	clock_source       what set the capturing machine's clock
//	host, operator, shopwatch_version
//	signer_key_id      id of the key that signed (see below)
//	findings           number of findings in findings.json
//	artifacts          array of {name, size, media_type, sha256, sm3}, one per
//	                   artifact above, in the order written
//
// The fixed files manifest.json, manifest.sig, signer.pub (and, in bundles,
// SHA256SUMS and README.txt) are not artifacts and are not listed. Readers
// must refuse a format value they do not know; they ignore unknown fields.
//
// # Signature and key
//
// manifest.sig is the raw 64-byte Ed25519 signature (RFC 8032, pure
// Ed25519) over the exact bytes of manifest.json — not base64, not
// re-encoded JSON. signer.pub is the public key as a PEM "PUBLIC KEY" block
// (RFC 8410 SubjectPublicKeyInfo). The key id is "ed25519:" followed by the
// first 16 lowercase hex digits of the SHA-256 of the 32 raw public key
// bytes (the last 32 bytes of the DER key). A valid signature proves the
// manifest is unchanged since signing by that key; that the key belongs to
// the issuing office must be checked by comparing the key id with one
// published out of band (VerifyBundle's WithTrustedKeys).
//
// timestamp.tsr is asked for right after the manifest is made, so its
// genTime and the manifest's captured_at differ by the capture host's
// clock error and seconds: Capture refuses a token further than
// Notary.MaxSkew from captured_at, and VerifyBundle reports such a bundle
// (ErrTimestampSkew; DefaultMaxTimestampSkew, 5 minutes, unless
// WithMaxTimestampSkew says otherwise).
//
// The node key is kept in the data folder as signer.key (PKCS #8 PEM, mode
// 0600) and signer.pub. In the store, manifest.sig and signer.pub are
// written before manifest.json, so a stored manifest always has its
// signature; a capture folder without manifest.json is incomplete.
//
// # Bundle
//
// Export writes one self-contained zip file (name it .zip or .wacz) that is
// also a WACZ 1.1.1 web archive. Its files, in zip order:
//
//	README.txt          what the bundle holds, the export time and program
//	                    ("Exported at:", "Exported by:" lines) and the
//	                    standard-tools script below
//	verify-bundle.sh    that script as a file (signed exports only)
//	manifest.json, manifest.sig, signer.pub   as stored, byte for byte
//	timestamp.tsr, tsa-root.pem               the seal, as stored
//	ledger-proof.json   the ledger inclusion proof of manifest.json, made at
//	                    export (see evidence/ledger)
//	<artifacts>         every artifact the manifest lists, under its name
//	                    (e.g. exchanges/001-response.http; the WARC is
//	                    archive/capture.warc.gz)
//	indexes/index.cdxj  CDXJ index of every response and resource record of
//	                    the archive/*.warc.gz files: "<searchable URL>
//	                    <yyyymmddhhmmss> <JSON>" lines in byte order, the JSON
//	                    {url, digest, mime, offset, length, recordDigest,
//	                    status, filename}, offset and length locating the
//	                    record's gzip member, filename relative to archive/
//	pages/pages.jsonl   {"format": "json-pages-1.0", …} then one line for the
//	                    page: {id: evidence id, url: final URL, ts: capture
//	                    time (RFC 3339), title}
//	extraction-record.json  what the exporting office states in the
//	                    extraction record (CaseRecord): case number and cause
//	                    (none: not a case record), office and address,
//	                    officers with enforcement certificate numbers, the
//	                    party (from the page's licence block or as given);
//	                    present when exported with a record (the CLI always)
//	report.html         the report for people (Chinese with English labels):
//	                    target, times, TSA time, host, operator, key id, TSA
//	                    root digest, ledger position, every artifact with
//	                    size, SHA-256 and SM3, the findings with legal basis,
//	                    the screenshots (linked to their files) and the
//	                    electronic data extraction record (电子数据提取笔录)
//	                    with signature lines for the officers and the party
//	                    and a line for a refusal to sign; rendered
//	                    deterministically from the files above (RenderReport)
//	report.pdf          the same report printed by a headless Chromium with
//	                    the screenshots inlined; absent when exported without
//	                    PDF printing (--no-pdf), which README.txt then says
//	export-manifest.json, export-manifest.sig, export-signer.pub,
//	export-timestamp.tsr, export-tsa-root.pem   the signed export (below)
//	SHA256SUMS          "<sha256 hex>  <name>" lines (the format sha256sum -c
//	                    reads) for every file above, in zip order
//	datapackage.json    WACZ 1.1.1 package descriptor: profile
//	                    "data-package", wacz_version "1.1.1", title,
//	                    description, created (the export time), software,
//	                    mainPageUrl and mainPageDate (the captured page and
//	                    its capture time), home {url, ts} (the same, for the
//	                    WACZ 1.2 draft) and resources [{name, path, hash
//	                    "sha256:<hex>", bytes}] for every file above and
//	                    SHA256SUMS, in zip order; name is the path in lower
//	                    case with characters outside [a-z0-9._/-] as "_"
//	datapackage-digest.json  {"path": "datapackage.json", "hash": "sha256:<hex>"}
//
// and nothing else. WARC files, images and report.pdf are stored in the zip
// uncompressed, everything else deflated. Only manifest.json is signed;
// every other file outside the artifacts is derived at export and is
// recorded twice, in SHA256SUMS and in datapackage.json, so a verifier can
// tell which file changed: the one that disagrees with both records, or
// the record that disagrees with the file and the other record.
// datapackage-digest.json records datapackage.json, whose every field can
// be recomputed from the bundle.
//
// The signed export. With Exporter.Signer (the CLI: the node's key, or a
// person's with --key and --by) export-manifest.json (format
// "shopwatch-export-manifest/1": evidence_id, capture_manifest "sha256:"
// of manifest.json, exported_at, exported_by, software, signer_key_id and
// files [{name, size, media_type, sha256, sm3}]) lists every file derived
// at export: README.txt, verify-bundle.sh, ledger-proof.json, the CDXJ
// index, pages.jsonl, report.html and report.pdf. export-manifest.sig is
// the raw Ed25519 signature over its exact bytes by export-signer.pub, and
// export-timestamp.tsr an RFC 3161 token over them from the notary's TSA,
// whose root is export-tsa-root.pem. The capture's manifest.json and seal
// stay as they are. Every file of a signed export is then a capture file,
// a file export-manifest.json lists, a file of one of the two seals, or one
// of the three hash lists (SHA256SUMS, datapackage.json,
// datapackage-digest.json) that cover all the others, these included, and
// are checked against them. Bundles exported before have no
// export-manifest.json: they verify with a note that their derived files
// are not signed.
//
// To verify a bundle without shopwatch, unpack it and run the script
// README.txt quotes (evidence/testdata/verify-bundle.sh). It uses bash,
// OpenSSL 3 and coreutils only and, in order: sha256sum -c SHA256SUMS;
// checks that no file is missing from SHA256SUMS; openssl pkeyutl -verify
// -pubin -inkey signer.pub -rawin -in manifest.json -sigfile manifest.sig;
// derives the key id from signer.pub; openssl ts -verify -attime GENTIME
// -data manifest.json -in timestamp.tsr -CAfile tsa-root.pem, so the TSA
// certificate is checked at the token's own time; checks that captured_at
// lies within MAX_SKEW_SECONDS (300) of that time; compares every
// artifact's sha256 in manifest.json with SHA256SUMS; checks
// datapackage-digest.json and datapackage.json against SHA256SUMS; and
// checks the SM3 digests with openssl dgst -sm3 where OpenSSL has SM3;
// and, for a signed export, checks export-manifest.sig with openssl
// pkeyutl, export-timestamp.tsr with openssl ts -verify -attime, the
// capture_manifest digest, the SHA-256 and SM3 of every file
// export-manifest.json lists, and that no file lies outside the two
// manifests and the seal files; then recomputes the ledger inclusion
// proof of ledger-proof.json (RFC 9162 leaf and node hashes with
// sha256sum, the audit path walked from leaf_index to the checkpoint's
// root), checks that the checkpoint's note names that size and root, its
// Ed25519 signature with signer.pub and its token with openssl ts -verify;
// and, under a trust file that lists witnesses, verifies each
// co-signature by a listed witness with openssl pkeyutl (the text of
// evidence/witness's package documentation) and fails unless one holds.
// It stops at the first broken item.
//
// VerifyBundle does all of this offline, checks the ledger proof, the
// CDXJ index, pages.jsonl and the reports' form, and reports each problem
// as an *ItemError naming the damaged file, the first problem naming the
// first broken item. Whether the capture itself holds is decided by the
// same check export and the resume of a sweep apply to a stored capture
// (CheckCapture, read through a read-only view of the bundle, with the
// roots the seal is judged against); its verdict is Report.Capture, and
// the other checks say which file is at fault.
//
// # Trust file
//
// A bundle that passes every check is self-consistent only: anyone with an
// Ed25519 key and a time-stamping authority of their own could have made
// it. An office publishes a trust file (TrustFile, trust.yaml): version 1,
// its name (office), its signer key ids with the period each was in use
// (signer_keys: id, valid_from, valid_until, RFC 3339; "" is an open end),
// the roots of the RFC 3161 authorities it trusts by the SHA-256 of their
// DER certificate (tsa_roots: fingerprint "sha256:<64 hex>", subject), and
// the keys of its ledger witnesses (witness_keys). Each entry stays on a
// line of its own, a YAML flow mapping, so that sed and grep read it:
//
//	signer_keys:
//	  - {id: "ed25519:2072542d0a3493e5", valid_from: "2026-12-07T15:42:34Z", valid_until: ""}
//
// Under a trust file (WithTrust; the script's second argument) a bundle is
// TRUSTED only when its signer key is listed and valid at the token's
// genTime and the token chains to a pinned root; anything else is a
// failure naming signer.pub, tsa-root.pem or timestamp.tsr. When the trust
// file lists witness keys (witness_keys: id, name), the checkpoint of
// ledger-proof.json must also carry a valid co-signature by one of them
// (its "cosignatures"; see the package shopwatch/evidence/witness): the
// witness vouches that the ledger was not rewritten since it saw it. A
// bundle without one fails naming ledger-proof.json (ErrNotWitnessed); the
// standard-tools script does not read ledger-proof.json and so does not
// check co-signatures.
//
// # Later versions
//
// Object lock adds no file to the bundle. A later bundle layout may add
// derived files beside report.html; they will be listed in SHA256SUMS and
// datapackage.json like the others, and readers refuse files they do not
// know. The manifest format, digests, keys, signature, seal and the WACZ
// files described here stay as they are. Bundles exported before WACZ
// 1.1.1 have datapackage.json in the WACZ 1.2 draft's form (profile
// "wacz", no wacz_version, no mainPage fields); they still verify, but
// web-archive players refuse them: export again to replay one.
package evidence
