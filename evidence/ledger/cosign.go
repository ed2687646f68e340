package ledger

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"
)

// CosignatureFormat is the first line of the text a witness signs (see
// Cosignature and the package shopwatch/evidence/witness).
const CosignatureFormat = "shopwatch-witness-cosignature/1"

// ErrBadCosignature: a witness co-signature that does not verify, or
// names another key or checkpoint.
var ErrBadCosignature = errors.New("witness co-signature does not verify")

// Cosignature is a witness's co-signature of a checkpoint: the witness
// checked that the checkpoint's log signature is valid and that its tree
// extends every tree of the same log the witness co-signed before. The
// witness signs, with Ed25519, the bytes of CosignedText: the format line,
// its key id, its own time, and the checkpoint note verbatim.
type Cosignature struct {
	// WitnessKeyID is KeyID(WitnessKey).
	WitnessKeyID string `json:"witness_key_id"`
	// WitnessKey is the witness's 32-byte Ed25519 public key (base64 in
	// JSON).
	WitnessKey []byte `json:"witness_key"`
	// Time is when the witness co-signed, by its clock (RFC 3339 UTC).
	Time time.Time `json:"time"`
	// Signature is the 64-byte Ed25519 signature (base64 in JSON).
	Signature []byte `json:"signature"`
}

// CosignedText returns the text a witness with key id keyID signs at time t
// to co-sign the checkpoint note:
//
//	shopwatch-witness-cosignature/1
//	witness <key id>
//	time <t: RFC 3339 UTC, as Go's time.RFC3339Nano>
//	<the note, verbatim, ending in its line feed>
func CosignedText(note, keyID string, t time.Time) []byte {
	return []byte(CosignatureFormat + "\n" +
		"witness " + keyID + "\n" +
		"time " + t.UTC().Format(time.RFC3339Nano) + "\n" +
		note)
}

// Cosign co-signs the note with the witness's key at time t.
func Cosign(s Signer, note string, t time.Time) (Cosignature, error) {
	pub := s.PublicKey()
	id := KeyID(pub)
	t = t.UTC()
	sig, err := s.Sign(CosignedText(note, id, t))
	if err != nil {
		return Cosignature{}, fmt.Errorf("co-sign checkpoint: %w", err)
	}
	c := Cosignature{WitnessKeyID: id, WitnessKey: []byte(pub), Time: t, Signature: sig}
	if err := c.Verify(note); err != nil {
		return Cosignature{}, fmt.Errorf("co-sign checkpoint: %w", err)
	}
	return c, nil
}

// Verify checks that c is a valid co-signature of note by the key it
// carries, and that its key id is that key's. It says nothing about
// whether that witness is trusted: compare WitnessKeyID with the trusted
// ones. Errors wrap ErrBadCosignature.
func (c *Cosignature) Verify(note string) error {
	if len(c.WitnessKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: witness key is %d bytes, want %d", ErrBadCosignature, len(c.WitnessKey), ed25519.PublicKeySize)
	}
	if id := KeyID(c.WitnessKey); id != c.WitnessKeyID {
		return fmt.Errorf("%w: names key %s but carries key %s", ErrBadCosignature, c.WitnessKeyID, id)
	}
	if !ed25519.Verify(ed25519.PublicKey(c.WitnessKey), CosignedText(note, c.WitnessKeyID, c.Time), c.Signature) {
		return fmt.Errorf("%w: the signature of witness %s over the checkpoint is not valid", ErrBadCosignature, c.WitnessKeyID)
	}
	return nil
}

// VerifySignature checks a checkpoint on its own, as a witness does: its
// note states its fields, its audit head (if any) is well formed, and it
// carries pub's key id and a valid Ed25519 signature by pub over the note.
// It does not check the timestamp. Errors wrap ErrMalformed or
// ErrBadSignature.
func (c *Checkpoint) VerifySignature(pub ed25519.PublicKey) error {
	var problems []error
	checkCheckpoint(c, c.Seq, c.LogID, pub, nil, false, func(format string, args ...any) {
		problems = append(problems, fmt.Errorf(format, args...))
	})
	if len(problems) > 0 {
		return fmt.Errorf("checkpoint %d of log %s: %w", c.Seq, c.LogID, errors.Join(problems...))
	}
	return nil
}

// VerifyConsistency checks the RFC 6962 consistency proof that the tree
// of size2 leaves with root root2 extends the tree of size1 leaves with
// root1. Errors wrap ErrInconsistent.
func VerifyConsistency(size1, size2 uint64, root1, root2 Hash, proofHashes []Hash) error {
	path := make([][]byte, len(proofHashes))
	for i, h := range proofHashes {
		path[i] = h
	}
	if err := verifyConsistency(size1, size2, path, root1, root2); err != nil {
		return fmt.Errorf("%w: size %d to %d: %s", ErrInconsistent, size1, size2, proofError(err))
	}
	return nil
}
