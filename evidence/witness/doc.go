// Package witness lets ledger checkpoints leave the capture host. A
// witness is another shopwatch node ("shopwatch witness serve") that
// co-signs a capture node's checkpoints, but only while they form one
// append-only history: it keeps, per log, the last checkpoint it
// co-signed, and co-signs a new one only if the capture node proves (with
// an RFC 6962 consistency proof) that the new tree extends that one. A
// capture node that rewrites its ledger, even with its own key, cannot get
// the rewritten checkpoints co-signed, and bundles made from them carry no
// valid co-signature of a witness the office's trust file lists.
//
// # Co-signatures
//
// A co-signature is an Ed25519 signature (RFC 8032) by the witness's key
// over the text
//
//	shopwatch-witness-cosignature/1
//	witness <witness key id: "ed25519:" and 16 hex digits, as evidence.KeyID>
//	time <when the witness co-signed, its clock: RFC 3339 UTC, as Go's time.RFC3339Nano>
//	<the checkpoint note, verbatim (see shopwatch/evidence/ledger)>
//
// each line ending in a line feed (ledger.CosignedText builds it). In JSON
// (the "cosignatures" of ledger-proof.json, the witness's answers) it is
//
//	{"witness_key_id": "ed25519:…", "witness_key": <base64 of the 32-byte
//	 public key>, "time": <RFC 3339>, "signature": <base64 of 64 bytes>}
//
// To check one without shopwatch: write the text above to a file and run
// openssl pkeyutl -verify -rawin with the witness's public key.
//
// # The witness's HTTP API
//
// POST /v1/cosign with a JSON body (at most MaxRequestSize bytes):
//
//	{"checkpoint": <a checkpoint as in checkpoints.jsonl>,
//	 "from_size": <the size of the witness's latest checkpoint of that log, 0 if none>,
//	 "consistency": [<RFC 6962 consistency proof from from_size to the
//	                  checkpoint's size, hex hashes>]}
//
// The witness answers 200 with {"cosignature": {…}} when the checkpoint's
// key is one of the log keys it accepts (the log is named by its log id
// and key id), its signature is valid, its size is not below the last one
// it co-signed of that log, and the proof shows it extends that one (a
// checkpoint of the same size must have the same root). The first
// checkpoint of a log it sees starts that log's history, and a log key
// signs one log: a checkpoint of another log id under a key whose log the
// witness already co-signed is refused, so that a capture node cannot
// start its ledger afresh under a new log id.
//
// The witness also holds the checkpoint's time (the note's time line) to
// its own clock: a checkpoint dated more than the accepted skew (10
// minutes unless WithMaxSkew says otherwise) ahead of the witness's clock
// is refused, and so is one dated before the last checkpoint of the log it
// co-signed. An old checkpoint is accepted, since a node that could not
// reach the witness submits its latest checkpoint late. Given TSA roots
// (WithTSARoots; "witness serve --tsa-root FILE"), the witness requires
// the checkpoint's RFC 3161 token to verify over the note under those
// roots and its time to lie within the skew of the checkpoint's time, so
// a checkpoint cannot be dated other than when a trusted authority saw
// it. It answers 400 for
// a body that does not parse, 403 for a log key it does not accept, a
// signature that does not verify or a time it does not accept (the reason
// names which), 409 for a checkpoint inconsistent with
// what it saw (the answer then carries "witnessed_size"), and 413 for a
// body too large. Every error answer is {"error": "<reason>"}.
//
// GET /v1/checkpoint?log=<log id>&key=<log key id> answers 200 with
// {"checkpoint": {…}, "cosignature": {…}}, the latest checkpoint of the
// log it co-signed, or 404 when it co-signed none.
//
// # Files
//
// A witness keeps, in its own folder, its key (key/signer.key and
// key/signer.pub, the evidence signer's key files, made by
// evidence.LoadOrCreateSigner) and, per log, logs/<log id>-<16 hex
// digits of the log key id>.jsonl: one JSON object a line, {"checkpoint",
// "cosignature"}, for every checkpoint it co-signed, written with one
// write(2) and fsync(2)ed before the co-signature is returned. The last
// line is the state the next checkpoint is judged against, so a restart
// keeps it.
//
// A capture node (Node) submits its ledger's latest checkpoint to each
// configured witness after a checkpoint is made and before a bundle is
// exported, and keeps the co-signatures it receives in
// <ledger folder>/cosignatures.jsonl, one JSON object a line, append-only.
// A witness that cannot be reached stops nothing: the failure is logged
// and the latest checkpoint is submitted again on the next call.
package witness
