//go:build reference

package evidence_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteReferenceBundle writes the reference bundle (referenceBundle).
// It is built only with the reference tag: run it only for a deliberate
// format change, and say so in the commit:
//
//	go test -tags reference -run TestWriteReferenceBundle ./evidence
func TestWriteReferenceBundle(t *testing.T) {
	fx := newFixture(t)
	if err := os.MkdirAll(filepath.Dir(referenceBundle), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(referenceBundle, readFile(t, fx.bundle), 0o644); err != nil {
		t.Fatal(err)
	}
}
