package evidence

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"io"

	"shopwatch"
	"shopwatch/evidence/tsa"
)

// ProblemKind names what is wrong with a stored capture (CaptureProblem).
type ProblemKind string

// The kinds of problem CheckCapture and CheckRecord report.
const (
	// ProblemIncomplete: no manifest.json was stored; the attempt stopped
	// while storing the capture.
	ProblemIncomplete ProblemKind = "incomplete"
	// ProblemUnreadable: the store failed to deliver an object.
	ProblemUnreadable ProblemKind = "unreadable"
	// ProblemDamaged: an object is missing, or its size or digests differ
	// from what the manifest (or the record) says.
	ProblemDamaged ProblemKind = "damaged"
	// ProblemSignature: manifest.sig does not verify over manifest.json
	// with signer.pub, or signer.pub is unusable.
	ProblemSignature ProblemKind = "signature"
	// ProblemForeignKey: the capture is signed by a key other than the one
	// asked for, or the manifest names another key than signer.pub.
	ProblemForeignKey ProblemKind = "foreign-key"
	// ProblemManifest: manifest.json is malformed or describes another
	// capture or visit.
	ProblemManifest ProblemKind = "manifest"
	// ProblemUnsealed: no timestamp although one is required.
	ProblemUnsealed ProblemKind = "unsealed"
	// ProblemTimestamp: timestamp.tsr does not verify over manifest.json.
	ProblemTimestamp ProblemKind = "timestamp"
	// ProblemRecord: the index's record of the capture disagrees with the
	// stored, signed capture.
	ProblemRecord ProblemKind = "record"
)

// CaptureProblem is why a stored capture cannot be used: its kind, the
// store key at fault ("" when none is) and the cause, which wraps the
// package's sentinel errors (ErrDigestMismatch, ErrBadSignature,
// ErrKeyMismatch, ErrBadManifest, ErrNotFound …) where one applies.
type CaptureProblem struct {
	Kind ProblemKind
	Key  string
	Err  error
}

func (p *CaptureProblem) Error() string {
	if p.Key == "" {
		return fmt.Sprintf("%s: %v", p.Kind, p.Err)
	}
	return fmt.Sprintf("%s: %s: %v", p.Kind, p.Key, p.Err)
}

func (p *CaptureProblem) Unwrap() error { return p.Err }

// ProblemOf returns the kind of the CaptureProblem in err's chain, or "".
func ProblemOf(err error) ProblemKind {
	var p *CaptureProblem
	if errors.As(err, &p) {
		return p.Kind
	}
	return ""
}

// CaptureCheck says what a stored capture must satisfy beyond being
// complete and self-consistent.
type CaptureCheck struct {
	// KeyID, when set, is the key the capture must be signed with (the
	// node's own, when a sweep takes up an earlier attempt's capture).
	KeyID string
	// VisitID, when set, is the visit the manifest must be of.
	VisitID string
	// Sealed requires a timestamp over the manifest.
	Sealed bool
	// TSARoots, when set, are the roots the timestamp must chain to (the
	// node's configured authority); otherwise a timestamp is checked
	// against the root stored beside it.
	TSARoots *x509.CertPool
	// Artifacts reads every artifact the manifest lists back from the
	// store and checks its size, SHA-256 and SM3.
	Artifacts bool
}

// CheckedCapture is a stored capture that passed CheckCapture or CheckRecord: the
// signed files and the seal as stored, the parsed manifest, and the record
// the stored capture implies (keys RecordKey(id, name), every artifact
// with its size and digests, the fixed files after the manifest's list).
type CheckedCapture struct {
	Record        *shopwatch.EvidenceRecord
	Manifest      *Manifest
	ManifestBytes []byte
	Signature     []byte
	SignerPub     []byte
	PublicKey     ed25519.PublicKey
	Timestamp     []byte // nil when the capture is not sealed
	TSARoot       []byte // nil when the capture is not sealed
}

// maxFixedFileSize bounds the signature, key and seal files a check reads
// into memory (the manifest is bounded by maxManifestSize).
const maxFixedFileSize = 1 << 20

// CheckCapture reads the capture id from store and checks it: manifest.json
// stored, signed with the key in signer.pub, naming that key and this
// capture; sealed by a timestamp that verifies when one is stored (or
// required); and what c asks for besides. It is the one check behind
// export, the resume of an interrupted sweep and the verification of a
// stored capture. A capture that fails returns an error holding a
// *CaptureProblem.
func CheckCapture(ctx context.Context, store Store, id string, c CaptureCheck) (*CheckedCapture, error) {
	src := &storeSource{ctx: ctx, store: store, key: func(name string) string { return RecordKey(id, name) }}
	return check(ctx, src, id, c)
}

// CheckRecord checks the capture rec indexes, as CheckCapture does, reading
// the objects under the record's keys and holding the signed files to the
// sizes and digests the record gives; then the record must agree with the
// stored capture: every artifact of the manifest listed under the same
// name, size and digests, and nothing else but the fixed files.
func CheckRecord(ctx context.Context, store Store, rec *shopwatch.EvidenceRecord, c CaptureCheck) (*CheckedCapture, error) {
	if rec == nil {
		return nil, &CaptureProblem{Kind: ProblemRecord, Err: errors.New("nil evidence record")}
	}
	byName := make(map[string]shopwatch.Artifact, len(rec.Artifacts))
	for _, a := range rec.Artifacts {
		if _, dup := byName[a.Name]; dup {
			return nil, &CaptureProblem{Kind: ProblemRecord, Key: a.Key, Err: fmt.Errorf("record lists artifact %q twice", a.Name)}
		}
		byName[a.Name] = a
	}
	src := &storeSource{ctx: ctx, store: store, byName: byName}
	cp, err := check(ctx, src, rec.ID, c)
	if err != nil {
		return nil, err
	}
	ma := byName[ManifestFile]
	if ma.Key != rec.ManifestKey || ma.SHA256 != rec.ManifestDigest {
		return nil, &CaptureProblem{Kind: ProblemRecord, Key: ma.Key, Err: fmt.Errorf("record's manifest key %q / digest %s disagree with its artifact list (%q, %s)",
			rec.ManifestKey, rec.ManifestDigest, ma.Key, ma.SHA256)}
	}
	for _, e := range cp.Manifest.Artifacts {
		a, ok := byName[e.Name]
		if !ok {
			return nil, &CaptureProblem{Kind: ProblemRecord, Err: fmt.Errorf("manifest lists %q, the record does not", e.Name)}
		}
		if a.SHA256 != e.SHA256.String() || a.SM3 != e.SM3.String() || a.Size != e.Size {
			return nil, &CaptureProblem{Kind: ProblemRecord, Key: a.Key, Err: fmt.Errorf("artifact %q (key %q): record and manifest disagree on size or digests", e.Name, a.Key)}
		}
	}
	nfixed := 0
	for name := range byName {
		if IsFixedFile(name) {
			nfixed++
		}
	}
	if len(byName) != len(cp.Manifest.Artifacts)+nfixed {
		return nil, &CaptureProblem{Kind: ProblemRecord, Err: fmt.Errorf("record lists %d artifacts, the manifest %d plus %d fixed files", len(byName), len(cp.Manifest.Artifacts), nfixed)}
	}
	// The record's own keys stay the ones to read from.
	for i, a := range cp.Record.Artifacts {
		if r, ok := byName[a.Name]; ok {
			cp.Record.Artifacts[i].Key = r.Key
		}
	}
	cp.Record.ManifestKey = rec.ManifestKey
	return cp, nil
}

// storeSource reads a capture's objects from a store, under RecordKey or
// under the keys of a record (byName), whose sizes and digests the fixed
// files are then held to.
type storeSource struct {
	ctx    context.Context
	store  Store
	key    func(name string) string
	byName map[string]shopwatch.Artifact
}

// keyOf returns the key of name and whether the capture has it at all (a
// record that lists no such file has none).
func (s *storeSource) keyOf(name string) (string, bool) {
	if s.byName == nil {
		return s.key(name), true
	}
	a, ok := s.byName[name]
	return a.Key, ok
}

// errNotInRecord: the record lists no such file.
var errNotInRecord = errors.New("the record lists no such file")

// read reads a fixed file, at most limit bytes. A file the record does not
// list is errNotInRecord; one the store lacks is ErrNotFound.
func (s *storeSource) read(name string, limit int64) ([]byte, string, error) {
	key, ok := s.keyOf(name)
	if !ok {
		return nil, "", fmt.Errorf("%s: %w", name, errNotInRecord)
	}
	if s.byName != nil {
		want, err := artifactSums(s.byName[name])
		if err != nil {
			return nil, key, err
		}
		if want.Size > limit {
			return nil, key, fmt.Errorf("%s: %d bytes, more than %d", key, want.Size, limit)
		}
		b, err := ReadVerified(s.ctx, s.store, key, want.Size, want.SHA256, want.SM3)
		return b, key, err
	}
	rc, err := s.store.Get(s.ctx, key)
	if err != nil {
		return nil, key, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, key, fmt.Errorf("read %s: %w", key, err)
	}
	if int64(len(b)) > limit {
		return nil, key, fmt.Errorf("read %s: larger than %d bytes", key, limit)
	}
	return b, key, nil
}

// absent reports whether err says the capture has no such file at all: the
// record does not list it, or, reading by capture id, the store lacks it.
// A file the record lists and the store lacks is damage, not absence.
func (s *storeSource) absent(err error) bool {
	return errors.Is(err, errNotInRecord) || s.byName == nil && errors.Is(err, ErrNotFound)
}

// readProblem classifies a failed read.
func readProblem(key string, err error) *CaptureProblem {
	switch {
	case errors.Is(err, errNotInRecord):
		return &CaptureProblem{Kind: ProblemRecord, Key: key, Err: err}
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrDigestMismatch), errors.Is(err, ErrSizeMismatch):
		return &CaptureProblem{Kind: ProblemDamaged, Key: key, Err: err}
	default:
		return &CaptureProblem{Kind: ProblemUnreadable, Key: key, Err: err}
	}
}

func check(ctx context.Context, src *storeSource, id string, c CaptureCheck) (*CheckedCapture, error) {
	manifest, mkey, err := src.read(ManifestFile, maxManifestSize)
	if err != nil {
		if src.absent(err) && src.byName == nil {
			return nil, &CaptureProblem{Kind: ProblemIncomplete, Key: mkey, Err: fmt.Errorf("no manifest.json was stored (the attempt stopped while storing the capture): %w", err)}
		}
		return nil, readProblem(mkey, err)
	}
	sig, skey, err := src.read(SignatureFile, maxFixedFileSize)
	if err != nil {
		return nil, readProblem(skey, err)
	}
	pubPEM, pkey, err := src.read(SignerPubFile, maxFixedFileSize)
	if err != nil {
		return nil, readProblem(pkey, err)
	}
	pub, err := ParsePublicKeyPEM(pubPEM)
	if err != nil {
		return nil, &CaptureProblem{Kind: ProblemSignature, Key: pkey, Err: err}
	}
	if !ed25519.Verify(pub, manifest, sig) {
		return nil, &CaptureProblem{Kind: ProblemSignature, Key: skey, Err: fmt.Errorf("%w over %s with key %s", ErrBadSignature, mkey, KeyID(pub))}
	}
	if c.KeyID != "" && KeyID(pub) != c.KeyID {
		return nil, &CaptureProblem{Kind: ProblemForeignKey, Key: pkey, Err: fmt.Errorf("signed by key %s, not by %s", KeyID(pub), c.KeyID)}
	}
	m, err := ParseManifest(manifest)
	if err != nil {
		return nil, &CaptureProblem{Kind: ProblemManifest, Key: mkey, Err: err}
	}
	if m.EvidenceID != id {
		return nil, &CaptureProblem{Kind: ProblemManifest, Key: mkey, Err: fmt.Errorf("manifest is for evidence %s", m.EvidenceID)}
	}
	if c.VisitID != "" && m.VisitID != c.VisitID {
		return nil, &CaptureProblem{Kind: ProblemManifest, Key: mkey, Err: fmt.Errorf("manifest is of evidence %s for visit %s, not visit %s", m.EvidenceID, m.VisitID, c.VisitID)}
	}
	if m.SignerKeyID != KeyID(pub) {
		return nil, &CaptureProblem{Kind: ProblemForeignKey, Key: pkey, Err: fmt.Errorf("%w: manifest names key %s, stored key is %s", ErrKeyMismatch, m.SignerKeyID, KeyID(pub))}
	}
	cp := &CheckedCapture{Manifest: m, ManifestBytes: manifest, Signature: sig, SignerPub: pubPEM, PublicKey: pub}

	// The seal.
	tsr, tkey, err := src.read(TimestampFile, maxFixedFileSize)
	switch {
	case err != nil && src.absent(err):
		if c.Sealed {
			return nil, &CaptureProblem{Kind: ProblemUnsealed, Key: tkey, Err: errors.New("no timestamp.tsr although captures are timestamped")}
		}
	case err != nil:
		return nil, readProblem(tkey, err)
	default:
		root, rkey, err := src.read(TSARootFile, maxFixedFileSize)
		if err != nil {
			return nil, readProblem(rkey, err)
		}
		roots := c.TSARoots
		if roots == nil {
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM(root) {
				return nil, &CaptureProblem{Kind: ProblemTimestamp, Key: rkey, Err: errors.New("no certificate in tsa-root.pem")}
			}
		}
		if _, err := tsa.Verify(tsr, manifest, roots); err != nil {
			return nil, &CaptureProblem{Kind: ProblemTimestamp, Key: tkey, Err: fmt.Errorf("timestamp.tsr does not verify over manifest.json: %w", err)}
		}
		cp.Timestamp, cp.TSARoot = tsr, root
	}

	rec := &shopwatch.EvidenceRecord{ID: id, TargetID: m.TargetID, VisitID: m.VisitID, URL: m.URL, CapturedAt: m.CapturedAt,
		ClockSource: m.ClockSource, ManifestKey: mkey, Findings: m.Findings}
	for _, e := range m.Artifacts {
		key, _ := src.keyOf(e.Name)
		rec.Artifacts = append(rec.Artifacts, shopwatch.Artifact{Name: e.Name, Key: key, MediaType: e.MediaType,
			Size: e.Size, SHA256: e.SHA256.String(), SM3: e.SM3.String()})
	}
	fixed := func(name, media string, b []byte) {
		key, _ := src.keyOf(name)
		s := SumAll(b)
		rec.Artifacts = append(rec.Artifacts, shopwatch.Artifact{Name: name, Key: key, MediaType: media,
			Size: s.Size, SHA256: s.SHA256.String(), SM3: s.SM3.String()})
	}
	if cp.Timestamp != nil {
		fixed(TimestampFile, MediaTimestampReply, cp.Timestamp)
		fixed(TSARootFile, MediaPEM, cp.TSARoot)
	}
	fixed(ManifestFile, MediaJSON, manifest)
	fixed(SignatureFile, MediaSignature, sig)
	fixed(SignerPubFile, MediaPEM, pubPEM)
	rec.ManifestDigest = rec.Artifacts[len(rec.Artifacts)-3].SHA256
	cp.Record = rec

	if c.Artifacts {
		for _, a := range rec.Artifacts[:len(m.Artifacts)] {
			if err := ctx.Err(); err != nil {
				return nil, &CaptureProblem{Kind: ProblemUnreadable, Key: a.Key, Err: err}
			}
			want, err := artifactSums(a)
			if err != nil {
				return nil, &CaptureProblem{Kind: ProblemManifest, Key: a.Key, Err: err}
			}
			rc, err := OpenVerified(ctx, src.store, a.Key, want.Size, want.SHA256, want.SM3)
			if err == nil {
				_, err = io.Copy(io.Discard, rc)
				if cerr := rc.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				return nil, readProblem(a.Key, fmt.Errorf("artifact %q: %w", a.Name, err))
			}
		}
	}
	return cp, nil
}
