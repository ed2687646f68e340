// Package tsa issues, requests and verifies RFC 3161 trusted timestamps.
//
// A timestamp token is a CMS SignedData (RFC 5652) whose content is a
// TSTInfo: the SHA-256 of some data (the message imprint), the time the
// authority saw it (genTime), a serial number and the authority's policy.
// It proves that the data existed at genTime to anyone who trusts the
// authority's root certificate.
//
// The package has three parts:
//
//   - Authority: a built-in time-stamping authority with its own
//     self-signed root, for the embedded default that needs nothing
//     running. Authority.Timestamp stamps a digest in process;
//     Authority.Handler serves the same authority over HTTP (RFC 3161
//     section 3.4), so it can also act as the office's TSA server.
//   - Request and Client: the HTTP client for an external authority.
//   - Verify and VerifyDigest: offline verification of a token against a
//     pool of trusted roots.
//
// # Token form
//
// Authority.Timestamp, Request and Client.Timestamp return a DER
// TimeStampResp (RFC 3161 section 2.4.2): the PKIStatusInfo followed by the
// TimeStampToken, with the TSA certificate included in the token (certReq
// true). This is the form `openssl ts -reply` writes and `openssl ts
// -verify -in` reads, kept in bundles as timestamp.tsr. Token extracts the
// bare TimeStampToken (ContentInfo) from it, which `openssl ts -verify
// -token_in` reads. Verify accepts either form.
//
// To check a token without shopwatch:
//
//	openssl ts -verify -data manifest.json -in timestamp.tsr -CAfile tsa-root.pem
//	openssl ts -reply -in timestamp.tsr -text      # shows genTime, serial, policy
//
// # What Verify checks
//
// The CMS signature over the signed attributes and the TSTInfo; that the
// signed content type is id-ct-TSTInfo; that the ESS signing-certificate
// attribute (RFC 5035 v2, or RFC 2634 v1) names the certificate that
// signed; that this certificate chains to one of the given roots at
// genTime, and that it carries exactly one extended key usage,
// id-kp-timeStamping, in a critical extension (RFC 3161 section 2.3); and
// that the message imprint equals the SHA-256 of the data. The underlying
// library (github.com/digitorus/timestamp) checks none of the chain, the
// key usage or the imprint; this package does.
//
// # Files of the built-in authority
//
// LoadOrCreateAuthority keeps the authority in a folder of its own
// (mode 0700), created on first use:
//
//	root.pem   the self-signed root certificate (PEM "CERTIFICATE"): ECDSA
//	           P-256, CA, path length 0, valid 30 years; the file to hand
//	           to verifiers (tsa-root.pem in bundles)
//	root.key   the root's private key, PKCS #8 PEM "PRIVATE KEY", mode 0600;
//	           used only to issue the signing certificate
//	tsa.pem    the signing certificate (PEM "CERTIFICATE") issued by the
//	           root: ECDSA P-256, key usage digitalSignature, extended key
//	           usage id-kp-timeStamping (critical), valid 20 years
//	tsa.key    its private key, PKCS #8 PEM "PRIVATE KEY", mode 0600
//
// The four files are written into a temporary folder beside the target and
// renamed into place in one step, so the folder is complete or absent and,
// when several processes start at once, one creates it and the others load
// it. Loading refuses key files that others can read, keys that do not
// match their certificates and a signing certificate the root did not
// issue.
//
// root.key need not be on the capture host, and should not be: whoever
// holds it can issue another signing certificate. CreateOffline (shopwatch
// tsa init --offline) makes the four files on an offline machine, and
// Install (shopwatch tsa install) copies root.pem, tsa.pem and tsa.key,
// never root.key, into the node's folder; the authority then loads and
// issues tokens without the root's private key.
//
// Tokens are signed with ECDSA P-256 over SHA-256, carry a 160-bit random
// serial number, genTime in whole seconds (UTC) from the authority's clock,
// the nonce of the request (Timestamp makes one as Request does) and the
// policy DefaultPolicy unless WithPolicy sets another. Request and
// Timestamp refuse a reply that does not carry back the nonce they sent. The clock is
// the host's: the capture environment record is what shows it was right.
package tsa
