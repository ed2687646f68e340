// Package warc writes one captured page as a WARC 1.1 file (ISO 28500:2017,
// "WARC File Format 1.1") and reads such files back for verification.
//
// # File layout
//
// The file is a sequence of records, each compressed as its own gzip member
// (the ".warc.gz" convention), so any record can be decompressed on its own
// from its offset. A record is the version line "WARC/1.1", named fields
// ending in CRLF, an empty line, exactly Content-Length bytes of block, and
// CRLF CRLF. Records appear in this order:
//
//  1. warcinfo (application/warc-fields): software ("shopwatch/<version>"),
//     format ("WARC File Format 1.1"), conformsTo, operator, hostname,
//     config-digest, then the caller's extra fields in name order.
//  2. For each exchange of the page, redirects first, then for the
//     robots.txt exchange of the page's origin when it was recorded:
//     request  (application/http;msgtype=request): block = the request
//     line and header fields exactly as sent;
//     response (application/http;msgtype=response): block = the status
//     line(s) and header fields exactly as received directly followed by
//     the body bytes exactly as kept. Interim 1xx heads, when the crawler
//     kept them, stay in front of the final head. An exchange that got no
//     response has only its request record; one that sent nothing has
//     none.
//     metadata (application/x-pem-file), for an exchange made over TLS:
//     the TLS session, see "TLS sessions" below. It follows the
//     exchange's records and is concurrent to its response (to its request
//     when no response came; to nothing when the handshake itself failed,
//     which is when it matters most: the chain that did not verify).
//  3. resource records for the browser and decoding artifacts, when the
//     page has them: the markup (text/html; charset=utf-8; target
//     urn:shopwatch:rendered-dom:<url> for a rendered page,
//     urn:shopwatch:decoded-html:<url> for the decoded HTTP body), the
//     visible text the rules read (text/plain; charset=utf-8,
//     urn:shopwatch:text:<url>), the screenshot (image/png,
//     urn:shopwatch:screenshot:<url>), the rendered page as MHTML
//     (multipart/related, urn:shopwatch:mhtml:<url>; the block is the
//     whole MIME message, its own headers naming the boundary), the page
//     printed to PDF (application/pdf, urn:shopwatch:pdf:<url>), each timed
//     snapshot (image/png, urn:shopwatch:snapshot:NNN:<url>, NNN from 001
//     in the order taken, as snapshots/NNN.png in the capture), each
//     followed by a metadata record (application/warc-fields,
//     WARC-Refers-To the snapshot, same target) whose one field
//     "snapshot-time" is when it was taken (RFC 3339, UTC), and the
//     timeline of texts seen on a watched live page (application/json,
//     urn:shopwatch:timeline:<url>; the same bytes as timeline.json).
//     <url> is the final URL of the page, or the requested one when there
//     is no final URL.
//
// # Record fields
//
// Every record has WARC-Type, WARC-Record-ID (<urn:uuid:…>, a random
// version 4 UUID), WARC-Date, Content-Type, Content-Length and
// WARC-Block-Digest. WARC-Date is the same on every record of a file: the
// time the capture began, in UTC, RFC 3339 with as many fraction digits as
// needed. Records other than warcinfo carry WARC-Warcinfo-ID naming the
// warcinfo record. request and response records carry WARC-Target-URI (the
// exchange URL, without angle brackets as WARC 1.1 writes it),
// WARC-IP-Address (the peer address, when known) and WARC-Concurrent-To
// naming each other. The block of a response record is the response as
// it crossed the wire: head and body bytes as received, content coding
// (gzip …) and chunked transfer framing included. response and resource
// records carry WARC-Payload-Digest: for a response, the digest of the
// body with any transfer coding removed (the de-chunked entity-body, as
// WARC 1.1 defines the payload of an application/http block; gowarc and
// warcio digest the body as framed, and disagree for chunked records);
// for a resource, of the whole block. A response whose body was cut by the
// crawler's size cap carries "WARC-Truncated: length". When interim 1xx
// heads precede the final head, the body is what follows the final head;
// readers that take the payload to start after the first head (gowarc
// does) compute another payload digest for such a record, while its block
// digest agrees everywhere.
//
// request, response and TLS metadata records also carry the fields
// proposed for WARC in the IIPC warc-specifications issues 42 and 86
// (readers that do not know them ignore them): one WARC-Protocol per
// protocol layer, the HTTP version first ("http/1.1", "h2" …) then the TLS
// version ("tls/1.3"), and WARC-Cipher-Suite with the IANA name of the TLS
// cipher suite.
//
// # TLS sessions
//
// WARC 1.1 leaves recording TLS to its users. The metadata record of an
// exchange made over TLS has the exchange's WARC-Target-URI and
// WARC-IP-Address, and a block that is a PEM file: "name: value" lines
// ending in LF — tls-version ("TLS 1.3"), tls-cipher-suite (IANA name),
// tls-server-name (the SNI sent; absent for an address), tls-alpn,
// tls-resumed and tls-verified ("true" or "false"), then one resolved-ip
// line per address the host name resolved to when the connection was made
// — an empty line, and the certificate chain exactly as the server
// presented it, leaf first, as PEM CERTIFICATE blocks. The lines before
// the first certificate are explanatory text as RFC 7468 (section 5.2)
// allows, so "openssl x509" or "openssl verify -untrusted" read the block
// as it is.
//
// Digests are "sha256:" followed by 64 lowercase hex digits, the SHA-256
// of the exact bytes. (WARC has no registered label for SM3; SM3 digests
// live in the evidence manifest, which covers the WARC file as a whole.)
//
// # Why the writer is written here
//
// The format needed here is small: fixed records, exact block bytes given
// by the crawler and digests computed once over those bytes. Writing it
// directly keeps every byte of a block under our control: nothing is
// re-parsed, re-encoded, de-chunked or normalised on the way to the file.
// The tests read every file they write with an independent reader as well,
// github.com/nlnwa/gowarc in its strict mode (package warctest).
//
// # Reading
//
// NewReader and Read accept gzip-compressed (single- or multi-member) and
// uncompressed WARC 1.0 and 1.1 files. Record.Verify recomputes the sha256
// block and payload digests of a record.
package warc
