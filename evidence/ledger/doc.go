// Package ledger keeps an append-only Merkle log of evidence manifest
// digests, with signed and timestamped checkpoints, so that deleting,
// altering or reordering any entry after the fact is detected, and so that
// each evidence bundle can carry a short proof that its manifest is in the
// log.
//
// The tree is the one of RFC 6962 section 2.1 (as in Certificate
// Transparency), computed with github.com/transparency-dev/merkle: a leaf
// hash is SHA-256(0x00 || leaf), an interior node SHA-256(0x01 || left ||
// right), and a tree of n leaves splits at the largest power of two below
// n. Inclusion and consistency proofs are those of RFC 6962 section 2.1.1
// and 2.1.2. All hashes are written as 64 lowercase hex digits.
//
// # Leaves
//
// A leaf is the text form of a manifest's SHA-256 digest,
// "sha256:<64 hex digits>", hashed as its UTF-8 bytes. The log accepts any
// valid UTF-8 text of 1 to MaxLeafSize bytes; appending a leaf the log
// already holds returns its index and adds nothing.
//
// # Files
//
// A log lives in a folder of its own:
//
//	ledger.json        written once when the log is created:
//	                   {"format": "shopwatch-ledger/1", "log_id": <32 hex
//	                   digits, random>, "created_at": <RFC 3339 UTC>}
//	leaves.jsonl       one JSON object per line (JSON Lines), one per leaf, in
//	                   order: {"index": 0, "leaf": "sha256:…", "leaf_hash":
//	                   <hex>, "appended_at": <RFC 3339 UTC, the writer's
//	                   clock, not signed>}
//	checkpoints.jsonl  one JSON object per line, one per checkpoint, in order
//	                   (see below)
//	lock               empty; held with flock(2) by the process that has the
//	                   log open for writing
//
// Both .jsonl files only ever grow: a record is written with one write(2)
// at the end of the file and fsync(2)ed before the call that wrote it
// returns. The line number (from 0) of a record is its index or sequence
// number. A final line without its newline is a write that never
// completed: Open drops it (and logs a warning), since the call that wrote
// it did not succeed; verification reports it.
//
// # Checkpoints
//
// A checkpoint commits to the first size leaves of the log. Its signed
// text, the note, is five lines, each ending in a line feed (0x0a):
//
//	shopwatch-ledger-checkpoint/1
//	log <log_id>
//	size <size, decimal>
//	root <RFC 6962 root hash of the first size leaves, hex>
//	time <when it was made, writer's clock: RFC 3339 UTC, fraction of a
//	     second without trailing zeros, as Go's time.RFC3339Nano>
//
// A checkpoint made with WithAuditHead has a sixth line naming the head
// of the audit log kept beside the ledger when it was made: its number of
// entries and the hash of the last one ("-" when it had none):
//
//	audit <entries, decimal> <hash of the last entry>
//
// Checkpoints without the line stay valid. The "audit" field of the JSON
// repeats it ({"size": n, "hash": "…"}). Each checkpoint's size exceeds
// the previous one's, except that a checkpoint of the same size and root
// may follow when its audit line names more entries than the previous
// one's: it seals audit entries made since the last leaf.
//
// A line of checkpoints.jsonl, and the "checkpoint" of a proof, is:
//
//	seq          its line number in checkpoints.jsonl, from 0
//	log_id, size, root, time   the values of the note, repeated
//	note         the note, exactly as signed
//	key_id       "ed25519:" + the first 16 hex digits of SHA-256 of the
//	             32-byte public key (the key id of shopwatch's evidence
//	             signer)
//	signature    base64 of the 64-byte Ed25519 signature (RFC 8032) over the
//	             bytes of note
//	timestamp    base64 of a DER RFC 3161 TimeStampResp over SHA-256(note),
//	             with the TSA certificate included; its genTime is the
//	             trusted time of the checkpoint
//	consistency  RFC 6962 consistency proof from the previous checkpoint's
//	             tree to this one, hex hashes (absent for seq 0); with it the
//	             checkpoints alone show that each signed tree extends the
//	             one before
//
// Sizes of successive checkpoints strictly increase.
//
// # Proofs (ledger-proof.json)
//
// InclusionProof returns, and Proof.Marshal writes, a JSON object:
//
//	format      "shopwatch-ledger-proof/1"
//	log_id      the log's id
//	leaf_index  the index of the leaf in the log, from 0
//	leaf        the leaf text, e.g. "sha256:…" of manifest.json
//	leaf_hash   RFC 6962 leaf hash of leaf
//	tree_size   size of the checkpoint the proof is against
//	root        its root hash
//	audit_path  RFC 6962 inclusion proof (audit path), hex hashes from the
//	            leaf's sibling upward
//	checkpoint  the checkpoint (as above, without consistency)
//	cosignatures  (optional) witness co-signatures of the checkpoint's
//	            note: {"witness_key_id", "witness_key" (base64 Ed25519
//	            public key), "time", "signature" (base64)}; the signed
//	            text is CosignedText (see package shopwatch/evidence/witness)
//
// To check one without shopwatch: compute the leaf hash and fold the audit
// path as RFC 6962 section 2.1.1 describes to obtain root; check that root,
// tree_size and log_id are those of the note; write note to a file and run
//
//	openssl pkeyutl -verify -pubin -inkey signer.pub -rawin -in note.txt -sigfile note.sig
//	openssl ts -verify -data note.txt -in note.tsr -CAfile tsa-root.pem
//
// where note.sig and note.tsr are the base64-decoded signature and
// timestamp.
//
// # Verification
//
// VerifyDir (read-only, from any process) and Log.VerifyLog read the files
// again and recompute the whole tree. They report, each as a typed error
// naming the record index or checkpoint sequence number: a malformed or
// out-of-order record, a missing record (a gap in the indices, a log
// shorter than a checkpoint, a torn last line), a leaf whose stored hash
// does not match, a checkpoint whose root differs from the recomputed tree
// (naming the range of leaves between it and the last checkpoint that
// matched), whose note does not match its fields, whose signature or
// timestamp does not verify, or whose consistency proof from its
// predecessor fails. Log.VerifyLog also compares every leaf hash with the
// ones the running process appended or loaded, so it names the exact
// record even when a whole range was rewritten consistently.
package ledger
