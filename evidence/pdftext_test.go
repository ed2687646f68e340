package evidence_test

import (
	"bytes"
	"os/exec"
	"testing"

	"shopwatch/internal/testparts"
)

// pdfText returns the text of a PDF as Poppler's pdftotext reads it (Debian's
// poppler-utils, installed by make setup). Without it the test stops, and
// under CI=true fails.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	cmd := exec.Command(testparts.Tool(t, "pdftotext"), "-enc", "UTF-8", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}
