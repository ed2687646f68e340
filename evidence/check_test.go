package evidence_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shopwatch"
	"shopwatch/evidence"
	"shopwatch/evidence/tsa"
)

// TestCheckCaptureSound checks a fresh capture by its id and by its
// record: both pass, under the node's key and authority, and give the
// record the index holds.
func TestCheckCaptureSound(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(f.notary.TSARoot)
	check := evidence.CaptureCheck{KeyID: f.signer.KeyID(), VisitID: f.rec.VisitID, Sealed: true, TSARoots: roots, Artifacts: true}
	cp, err := evidence.CheckCapture(ctx, f.store, f.rec.ID, check)
	if err != nil {
		t.Fatalf("CheckCapture of a sound capture: %v", err)
	}
	if cp.Record.ManifestDigest != f.rec.ManifestDigest || len(cp.Record.Artifacts) != len(f.rec.Artifacts) {
		t.Errorf("implied record: manifest %s with %d artifacts, want %s with %d",
			cp.Record.ManifestDigest, len(cp.Record.Artifacts), f.rec.ManifestDigest, len(f.rec.Artifacts))
	}
	want := map[string]shopwatch.Artifact{}
	for _, a := range f.rec.Artifacts {
		want[a.Name] = a
	}
	for _, a := range cp.Record.Artifacts {
		w := want[a.Name]
		if a.Key != w.Key || a.Size != w.Size || a.SHA256 != w.SHA256 || a.SM3 != w.SM3 {
			t.Errorf("artifact %s: %+v, the index has %+v", a.Name, a, w)
		}
	}
	if cp.Timestamp == nil || cp.TSARoot == nil || cp.Manifest.EvidenceID != f.rec.ID {
		t.Errorf("checked capture lacks its seal or manifest: %+v", cp.Manifest)
	}
	if _, err := evidence.CheckRecord(ctx, f.store, f.rec, check); err != nil {
		t.Errorf("CheckRecord of a sound capture: %v", err)
	}
}

// TestCheckCaptureProblems damages a stored capture in each way the
// checker tells apart and checks the kind and the key it names.
func TestCheckCaptureProblems(t *testing.T) {
	ctx := context.Background()
	otherRoot := func(t *testing.T) *x509.CertPool {
		a, err := tsa.LoadOrCreateAuthority(filepath.Join(t.TempDir(), "tsa"))
		if err != nil {
			t.Fatal(err)
		}
		p := x509.NewCertPool()
		p.AppendCertsFromPEM(a.RootPEM())
		return p
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, f *fixture) evidence.CaptureCheck
		kind   evidence.ProblemKind
		file   string // the file the problem must name ("" for none)
		is     error
	}{
		{"no manifest", func(t *testing.T, f *fixture) evidence.CaptureCheck {
			removeStored(t, f, evidence.ManifestFile)
			return evidence.CaptureCheck{}
		}, evidence.ProblemIncomplete, evidence.ManifestFile, evidence.ErrNotFound},
		{"artifact flipped", func(t *testing.T, f *fixture) evidence.CaptureCheck {
			flipStored(t, f, "page.html")
			return evidence.CaptureCheck{Artifacts: true}
		}, evidence.ProblemDamaged, "page.html", evidence.ErrDigestMismatch},
		{"artifact removed", func(t *testing.T, f *fixture) evidence.CaptureCheck {
			removeStored(t, f, "exchanges/002-response.http")
			return evidence.CaptureCheck{Artifacts: true}
		}, evidence.ProblemDamaged, "exchanges/002-response.http", evidence.ErrNotFound},
		{"signature flipped", func(t *testing.T, f *fixture) evidence.CaptureCheck {
			flipStored(t, f, evidence.SignatureFile)
			return evidence.CaptureCheck{}
		}, evidence.ProblemSignature, evidence.SignatureFile, evidence.ErrBadSignature},
		{"another node's key", func(t *testing.T, f *fixture) evidence.CaptureCheck {
			pub, _, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return evidence.CaptureCheck{KeyID: evidence.KeyID(pub)}
		}, evidence.ProblemForeignKey, evidence.SignerPubFile, nil},
		{"another visit", func(t *testing.T, f *fixture) evidence.CaptureCheck {
			return evidence.CaptureCheck{VisitID: "v-not-this-one"}
		}, evidence.ProblemManifest, evidence.ManifestFile, nil},
		{"timestamp removed though required", func(t *testing.T, f *fixture) evidence.CaptureCheck {
			removeStored(t, f, evidence.TimestampFile)
			return evidence.CaptureCheck{Sealed: true}
		}, evidence.ProblemUnsealed, evidence.TimestampFile, nil},
		{"timestamp of another authority", func(t *testing.T, f *fixture) evidence.CaptureCheck {
			return evidence.CaptureCheck{TSARoots: otherRoot(t)}
		}, evidence.ProblemTimestamp, evidence.TimestampFile, nil},
		{"timestamp flipped", func(t *testing.T, f *fixture) evidence.CaptureCheck {
			flipStored(t, f, evidence.TimestampFile)
			return evidence.CaptureCheck{}
		}, evidence.ProblemTimestamp, evidence.TimestampFile, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			check := c.damage(t, f)
			_, err := evidence.CheckCapture(ctx, f.store, f.rec.ID, check)
			if err == nil {
				t.Fatalf("CheckCapture passed a capture with %s", c.name)
			}
			var p *evidence.CaptureProblem
			if !errors.As(err, &p) || p.Kind != c.kind || evidence.ProblemOf(err) != c.kind {
				t.Fatalf("CheckCapture = %v, want a %s problem", err, c.kind)
			}
			if c.file != "" && p.Key != key(f.rec, c.file) {
				t.Errorf("problem names key %q, want %q (%v)", p.Key, key(f.rec, c.file), err)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("problem %v does not wrap %v", err, c.is)
			}
		})
	}
}

// TestCheckRecordDisagreement checks that a record which does not match
// its stored, signed capture is a record problem: a digest edited in the
// index, an artifact the manifest lists missing from the record, and a
// damaged object the record lists.
func TestCheckRecordDisagreement(t *testing.T) {
	ctx := context.Background()
	t.Run("digest edited", func(t *testing.T) {
		f := newFixture(t)
		rec := cloneRecord(f.rec)
		for i, a := range rec.Artifacts {
			if a.Name == "text.txt" {
				rec.Artifacts[i].Size++
			}
		}
		_, err := evidence.CheckRecord(ctx, f.store, rec, evidence.CaptureCheck{})
		if evidence.ProblemOf(err) != evidence.ProblemRecord || !strings.Contains(err.Error(), "text.txt") {
			t.Errorf("CheckRecord = %v, want a record problem naming text.txt", err)
		}
	})
	t.Run("artifact dropped", func(t *testing.T) {
		f := newFixture(t)
		rec := cloneRecord(f.rec)
		for i, a := range rec.Artifacts {
			if a.Name == "network.json" {
				rec.Artifacts = append(rec.Artifacts[:i], rec.Artifacts[i+1:]...)
				break
			}
		}
		_, err := evidence.CheckRecord(ctx, f.store, rec, evidence.CaptureCheck{})
		if evidence.ProblemOf(err) != evidence.ProblemRecord || !strings.Contains(err.Error(), "network.json") {
			t.Errorf("CheckRecord = %v, want a record problem naming network.json", err)
		}
	})
	t.Run("listed seal lost", func(t *testing.T) {
		f := newFixture(t)
		removeStored(t, f, evidence.TSARootFile)
		_, err := evidence.CheckRecord(ctx, f.store, f.rec, evidence.CaptureCheck{})
		if evidence.ProblemOf(err) != evidence.ProblemDamaged || !errors.Is(err, evidence.ErrNotFound) {
			t.Errorf("CheckRecord = %v, want the lost tsa-root.pem reported as damage, not as an unsealed capture", err)
		}
	})
}

func cloneRecord(r *shopwatch.EvidenceRecord) *shopwatch.EvidenceRecord {
	c := *r
	c.Artifacts = append([]shopwatch.Artifact(nil), r.Artifacts...)
	return &c
}

func storedPath(t *testing.T, f *fixture, name string) string {
	t.Helper()
	p, err := f.store.Path(key(f.rec, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func removeStored(t *testing.T, f *fixture, name string) {
	t.Helper()
	if err := os.Remove(storedPath(t, f, name)); err != nil {
		t.Fatal(err)
	}
}

func flipStored(t *testing.T, f *fixture, name string) {
	t.Helper()
	p := storedPath(t, f, name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
