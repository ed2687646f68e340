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
//	    (content coding and transfer framing as the crawler kept them). The
//	    body starts at byte response_header_size (from NNN.json). Absent when
//	    no response arrived.
//	exchanges/NNN.json           application/json
//	    {"index", "method", "url", "proto", "status", "remote_addr",
//	     "started", "finished" (RFC 3339, UTC), "duration_ns",
//	     "content_length" (as announced, -1 unknown), "body_truncated"
//	     (true when the crawler's size cap cut the body), "error",
//	     "request", "response" (artifact names), "request_size",
//	     "response_header_size", "body_size"}
//
// Then, once per capture:
//
//	page.html       text/html; charset=utf-8    the page decoded to UTF-8
//	text.txt        text/plain; charset=utf-8   the visible text the rules read
//	screenshot.png  image/png                   the rendered page (browser path only)
//	archive/capture.warc.gz application/warc           the same exchanges as WARC 1.1 records
//	                                            (warcinfo, request, response with the
//	                                            exact bytes and sha256 block/payload
//	                                            digests) plus resource records for the
//	                                            markup, text and screenshot; one gzip
//	                                            member per record (see evidence/warc)
//	environment.json application/json           the capture-environment check of the
//	                                            session (clock offset against the TSA,
//	                                            proxy variables, hosts-file pins,
//	                                            binary digests; see evidence/envcheck)
//	findings.json   application/json            array of findings raised on the page
//	                                            (rule, law, article, match, snippet,
//	                                            offset into text.txt …)
//	metadata.json   application/json            evidence_id, target_id, visit_id, url,
//	                                            final_url, kind, category, status,
//	                                            content_type, declared_charset,
//	                                            charset_source, charset (the decoder
//	                                            used), title, rendered, fetched_at,
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
// The node key is kept in the data folder as signer.key (PKCS #8 PEM, mode
// 0600) and signer.pub. In the store, manifest.sig and signer.pub are
// written before manifest.json, so a stored manifest always has its
// signature; a capture folder without manifest.json is incomplete.
//
// # Bundle
//
// Export writes a zip file with, at the root:
//
//	manifest.json, manifest.sig, signer.pub   as stored, byte for byte
//	SHA256SUMS   "<sha256 hex>  <name>" lines (the format sha256sum -c reads)
//	             for manifest.json, manifest.sig, signer.pub and then every
//	             artifact; not signed: a convenience for sha256sum, and the
//	             record that lets a verifier tell which of the three signed
//	             files changed when the signature fails
//	README.txt   how to verify with standard tools
//	<artifacts>  under their names, e.g. exchanges/001-response.http
//
// and nothing else. To verify a bundle without shopwatch:
//
//	openssl pkeyutl -verify -pubin -inkey signer.pub -rawin -in manifest.json -sigfile manifest.sig
//	sha256sum -c SHA256SUMS                 # and compare each line with manifest.json
//	openssl dgst -sm3 FILE                  # against the "sm3" values
//
// and check that every file other than the fixed ones is listed in the
// manifest. VerifyBundle does all of this and reports each problem as an
// *ItemError naming the damaged file.
//
// # Later versions
//
// Trusted timestamps (RFC 3161 tokens over manifest.json), a Merkle ledger
// of manifests, WARC/WACZ packaging and object lock add new artifacts or new
// fixed files beside manifest.sig, and a new format value; the digests,
// keys and signature described here stay as they are.
package evidence
