package ledger_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"shopwatch/evidence"
	"shopwatch/evidence/ledger"
)

// FuzzParseProof feeds arbitrary ledger-proof.json bytes, with the signer
// key and TSA root a bundle carries beside them, to ParseProof and
// VerifyInclusion: neither panics, a parse error wraps ErrMalformed, and a
// verification error names the leaf and wraps one of the package's
// sentinel errors. The committed corpus (testdata/fuzz/FuzzParseProof)
// holds real proofs from exported bundles with their key and root, and
// damaged ones; make fuzz runs it longer.
func FuzzParseProof(f *testing.F) {
	f.Add([]byte(`{"format":"x"}`), []byte(nil), []byte(nil))
	f.Add([]byte(`{"format":"shopwatch-ledger-proof/1","leaf_index":18446744073709551615,"tree_size":1}`), []byte(nil), []byte(nil))
	fallback := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, proofJSON, pubPEM, rootPEM []byte) {
		p, err := ledger.ParseProof(proofJSON)
		if err != nil {
			if !errors.Is(err, ledger.ErrMalformed) || !strings.HasPrefix(err.Error(), "parse ledger proof: ") {
				t.Fatalf("parse error %q does not wrap ErrMalformed", err)
			}
			return
		}
		pub, err := evidence.ParsePublicKeyPEM(pubPEM)
		if err != nil {
			pub = fallback
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(rootPEM)
		_, err = ledger.VerifyInclusion(p, []byte(p.Leaf), pub, roots)
		if err == nil {
			return
		}
		if !strings.HasPrefix(err.Error(), "verify ledger proof of leaf ") {
			t.Fatalf("verify error %q does not name the leaf", err)
		}
		known := []error{ledger.ErrMalformed, ledger.ErrLeafHash, ledger.ErrRootMismatch, ledger.ErrBadSignature, ledger.ErrBadTimestamp}
		for _, s := range known {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("verify error %q wraps none of the package's errors", err)
	})
}
