package evidence_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"shopwatch/evidence"
)

// referenceBundle is a bundle as exported (signed, timestamped, with a
// ledger proof and a signed export manifest), committed once. It and its
// damaged variants (TestReferenceBundle) must keep verifying, or failing
// as they do, with every later version of the verifier: a bundle handed
// to a court years ago is checked by today's tool. The verifier judges
// the token's time against the bundle's own times and checks certificates
// at the token's time, never at the current time, so it does not expire.
const referenceBundle = "testdata/reference/bundle.zip"

// referenceEdit is a named damage of the reference bundle: a change of
// its entries.
type referenceEdit struct {
	name string
	edit func(t *testing.T, es []zipEntry) []zipEntry
	// The expected outcome: verifies (item == ""), or fails with the first
	// problem naming item and check, wrapping err.
	item, check string
	err         error
	// also are further problems, "item/check", the report must hold.
	also []string
	// capture is the kind of problem the capture check of export and
	// resume (Report.Capture) finds, "" when the capture files pass.
	capture evidence.ProblemKind
}

// editEntry applies f to the content of entry name; f returning nil
// removes the entry.
func editEntry(name string, f func([]byte) []byte) func(*testing.T, []zipEntry) []zipEntry {
	return func(t *testing.T, es []zipEntry) []zipEntry {
		t.Helper()
		var out []zipEntry
		found := false
		for _, e := range es {
			if e.name != name {
				out = append(out, e)
				continue
			}
			found = true
			if b := f(bytes.Clone(e.data)); b != nil {
				out = append(out, zipEntry{e.name, b})
			}
		}
		if !found {
			t.Fatalf("the reference bundle has no %s", name)
		}
		return out
	}
}

// flipByte flips the low bit of the byte in the middle.
func flipByte(b []byte) []byte {
	b[len(b)/2] ^= 1
	return b
}

func removeEntry([]byte) []byte { return nil }

// entryHex returns the SHA-256 hex of entry name.
func entryHex(t *testing.T, es []zipEntry, name string) string {
	t.Helper()
	for _, e := range es {
		if e.name == name {
			return evidence.SumBytes(evidence.SHA256, e.data).Hex()
		}
	}
	t.Fatalf("the reference bundle has no %s", name)
	return ""
}

// otherHex is a SHA-256 hex that differs from h.
func otherHex(h string) string {
	if h[0] == '0' {
		return "1" + h[1:]
	}
	return "0" + h[1:]
}

// rerecord replaces, in record (SHA256SUMS or datapackage.json), the
// digest recorded for entry name with another.
func rerecord(record, name string) func(*testing.T, []zipEntry) []zipEntry {
	return func(t *testing.T, es []zipEntry) []zipEntry {
		t.Helper()
		h := entryHex(t, es, name)
		return editEntry(record, func(b []byte) []byte {
			if bytes.Count(b, []byte(h)) != 1 {
				t.Fatalf("%s records the sha256 of %s %d times, want once", record, name, bytes.Count(b, []byte(h)))
			}
			return bytes.Replace(b, []byte(h), []byte(otherHex(h)), 1)
		})(t, es)
	}
}

var referenceEdits = []referenceEdit{
	{name: "as exported", edit: func(_ *testing.T, es []zipEntry) []zipEntry { return es }},
	{name: "artifact byte flipped", edit: editEntry(evidence.TextFile, flipByte),
		item: evidence.TextFile, check: "sha256", err: evidence.ErrDigestMismatch, capture: evidence.ProblemDamaged},
	{name: "artifact removed", edit: editEntry(evidence.PageFile, removeEntry),
		item: evidence.PageFile, check: "present", err: evidence.ErrNotFound, capture: evidence.ProblemDamaged},
	{name: "file added", edit: func(_ *testing.T, es []zipEntry) []zipEntry {
		return append(es, zipEntry{"extra.txt", []byte("added after export\n")})
	}, item: "extra.txt", check: "listed", err: evidence.ErrUnlisted},
	{name: "manifest.json entry for text.txt altered", edit: func(t *testing.T, es []zipEntry) []zipEntry {
		h := entryHex(t, es, evidence.TextFile)
		return editEntry(evidence.ManifestFile, func(b []byte) []byte { return bytes.Replace(b, []byte(h), []byte(otherHex(h)), 1) })(t, es)
	}, item: evidence.ManifestFile, check: "recorded", err: evidence.ErrDigestMismatch, capture: evidence.ProblemSignature},
	{name: "manifest.sig flipped", edit: editEntry(evidence.SignatureFile, flipByte),
		item: evidence.SignatureFile, check: "recorded", err: evidence.ErrDigestMismatch, capture: evidence.ProblemSignature},
	{name: "signer.pub removed", edit: editEntry(evidence.SignerPubFile, removeEntry),
		item: evidence.SignerPubFile, check: "present", err: evidence.ErrNotFound, capture: evidence.ProblemDamaged},
	{name: "timestamp token flipped", edit: editEntry(evidence.TimestampFile, flipByte),
		item: evidence.TimestampFile, check: "timestamp", err: evidence.ErrBadTimestamp, capture: evidence.ProblemTimestamp},
	{name: "ledger proof removed", edit: editEntry(evidence.LedgerProofFile, removeEntry),
		item: evidence.LedgerProofFile, check: "present", err: evidence.ErrNotFound},
	// A derived file and its two records: the one of the three that
	// disagrees with the other two is named.
	{name: "README.txt changed", edit: editEntry(evidence.ReadmeFile, func(b []byte) []byte { return append(b, "note\n"...) }),
		item: evidence.ReadmeFile, check: "signed", err: evidence.ErrSizeMismatch,
		also: []string{evidence.ReadmeFile + "/recorded"}}, // differs from both records: the file changed
	{name: "report.pdf added", edit: func(_ *testing.T, es []zipEntry) []zipEntry {
		return append(es, zipEntry{evidence.ReportPDFFile, []byte("%PDF-1.4\n%%EOF\n")})
	}, item: evidence.ReportPDFFile, check: "signed", err: evidence.ErrUnlisted,
		also: []string{evidence.ReportPDFFile + "/listed"}}, // neither record lists it
	{name: "SHA256SUMS line for README.txt altered", edit: rerecord(evidence.SumsFile, evidence.ReadmeFile),
		item: evidence.SumsFile, check: "sums", err: evidence.ErrDigestMismatch},
	{name: "datapackage.json resource for README.txt altered", edit: rerecord(evidence.DatapackageFile, evidence.ReadmeFile),
		item: evidence.DatapackageFile, check: "datapackage", err: evidence.ErrDigestMismatch},
	{name: "report.html removed", edit: editEntry(evidence.ReportHTMLFile, removeEntry),
		item: evidence.ReportHTMLFile, check: "present", err: evidence.ErrNotFound},
	{name: "export-manifest.sig flipped", edit: editEntry(evidence.ExportSignatureFile, flipByte),
		item: evidence.ExportSignatureFile, check: "signature", err: evidence.ErrBadSignature},
}

// TestReferenceBundle verifies the committed reference bundle and each
// damaged variant of it, and checks the outcome: the bundle verifies, and
// each damage is reported with the first problem naming the damaged item
// and the check that found it.
func TestReferenceBundle(t *testing.T) {
	base := readZip(t, referenceBundle)
	for _, tc := range referenceEdits {
		t.Run(tc.name, func(t *testing.T) {
			es := tc.edit(t, append([]zipEntry(nil), base...))
			rep := verifyEntries(t, es)
			if got := evidence.ProblemOf(rep.Capture); got != tc.capture || (tc.capture != "") != (rep.Capture != nil) {
				t.Errorf("the capture check says %q (%v), want %q", got, rep.Capture, tc.capture)
			}
			if tc.item == "" {
				if !rep.OK() {
					t.Fatalf("does not verify: %v", rep.Err())
				}
				return
			}
			if rep.OK() {
				t.Fatal("damaged bundle verifies")
			}
			first := rep.Problems[0]
			if first.Item != tc.item || first.Check != tc.check {
				t.Errorf("first problem is %s/%s, want %s/%s:\n%v", first.Item, first.Check, tc.item, tc.check, rep.Err())
			}
			if !errors.Is(first, tc.err) {
				t.Errorf("first problem %v does not wrap %v", first, tc.err)
			}
			for _, want := range tc.also {
				if !slices.ContainsFunc(rep.Problems, func(p *evidence.ItemError) bool { return p.Item+"/"+p.Check == want }) {
					t.Errorf("no problem %s:\n%v", want, rep.Err())
				}
			}
		})
	}
}
