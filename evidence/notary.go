package evidence

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"shopwatch/evidence/ledger"
	"shopwatch/evidence/tsa"
)

// Names of the files that seal a capture beyond its signature.
const (
	// TimestampFile is the RFC 3161 TimeStampResp over the SHA-256 of the
	// exact manifest.json bytes, with the TSA certificate included.
	TimestampFile = "timestamp.tsr"
	// TSARootFile is the PEM root certificate the TSA certificate chains to.
	TSARootFile = "tsa-root.pem"
	// LedgerProofFile (bundle only) proves the manifest digest is in the
	// append-only ledger under a signed, timestamped checkpoint.
	LedgerProofFile = "ledger-proof.json"

	MediaTimestampReply = "application/timestamp-reply"
)

// Timestamper obtains an RFC 3161 timestamp (a DER TimeStampResp) over a
// SHA-256 digest. *tsa.Authority (the built-in authority) and *tsa.Client
// (an external one) implement it.
type Timestamper interface {
	Timestamp(ctx context.Context, digest []byte) ([]byte, error)
}

// Notary seals captures beyond the node's signature: a trusted timestamp
// over each manifest, and the manifest's digest appended to the ledger.
// A capture with a Notary fails rather than store a manifest it could not
// timestamp.
type Notary struct {
	TSA     Timestamper // nil: captures carry no timestamp
	TSARoot []byte      // PEM root of the TSA, stored beside every token
	Ledger  *ledger.Log // nil: manifests are not entered in a ledger
	// MaxSkew is the largest gap accepted between a manifest's captured_at
	// and its token's genTime; 0 means DefaultMaxTimestampSkew. A capture
	// whose token lies further away fails: VerifyBundle would refuse it.
	MaxSkew time.Duration
	// Witnesses, when set, get the ledger's checkpoints to co-sign, and
	// bundles carry their co-signatures (in ledger-proof.json).
	Witnesses Witnesses
}

// Witnesses submits the ledger's checkpoints to the witnesses that co-sign
// them and keeps their co-signatures. *witness.Node implements it.
type Witnesses interface {
	// Submit sends the latest checkpoint to every witness that has not
	// co-signed it; failures are logged, kept for the next call, and
	// returned joined.
	Submit(ctx context.Context) error
	// Cosignatures returns the co-signatures kept for the checkpoint.
	Cosignatures(cp *ledger.Checkpoint) []ledger.Cosignature
}

// DefaultMaxTimestampSkew is the largest gap VerifyBundle and Capture
// accept between a manifest's captured_at and the genTime of its RFC 3161
// token, unless told otherwise (WithMaxTimestampSkew, Notary.MaxSkew). The
// token is requested right after the manifest is made, so the gap is the
// offset of the capture host's clock from the authority's, plus seconds.
const DefaultMaxTimestampSkew = 5 * time.Minute

// ErrTimestampSkew: the manifest's captured_at and the timestamp's genTime
// lie further apart than the accepted skew: the capture was re-dated, or
// made on a host whose clock was wrong.
var ErrTimestampSkew = errors.New("captured_at is too far from the timestamp's time")

// checkSkew compares captured_at with a token's genTime, allowing the
// token's stated accuracy on top of maxSkew (0: the default).
func checkSkew(capturedAt time.Time, info *tsa.Info, maxSkew time.Duration) error {
	if maxSkew <= 0 {
		maxSkew = DefaultMaxTimestampSkew
	}
	d := info.GenTime.Sub(capturedAt)
	if d < 0 {
		d = -d
	}
	if d <= maxSkew+info.Accuracy {
		return nil
	}
	rel := "after"
	if info.GenTime.Before(capturedAt) {
		rel = "before"
	}
	return fmt.Errorf("%w: the timestamp's genTime %s is %v %s manifest.json's captured_at %s (at most %v allowed)",
		ErrTimestampSkew, info.GenTime.UTC().Format(time.RFC3339), d.Round(time.Second), rel,
		capturedAt.UTC().Format(time.RFC3339Nano), maxSkew)
}

// LedgerLeaf is the ledger entry of a manifest: "sha256:<hex>" of its bytes.
func LedgerLeaf(manifest []byte) []byte {
	return []byte(SumBytes(SHA256, manifest).String())
}

// timestamp stamps the manifest made at capturedAt, and checks the token
// against the TSA root and its genTime against capturedAt.
func (n *Notary) timestamp(ctx context.Context, manifest []byte, capturedAt time.Time) ([]byte, error) {
	if n == nil || n.TSA == nil {
		return nil, nil
	}
	roots := x509.NewCertPool()
	if len(n.TSARoot) == 0 || !roots.AppendCertsFromPEM(n.TSARoot) {
		return nil, errors.New("timestamp: notary has no TSA root certificate")
	}
	d := sha256.Sum256(manifest)
	tok, err := n.TSA.Timestamp(ctx, d[:])
	if err != nil {
		return nil, fmt.Errorf("timestamp manifest: %w", err)
	}
	info, err := tsa.VerifyDigest(tok, d[:], roots)
	if err != nil {
		return nil, fmt.Errorf("timestamp manifest: %w", err)
	}
	if err := checkSkew(capturedAt, info, n.MaxSkew); err != nil {
		return nil, fmt.Errorf("timestamp manifest: %w; is the capture host's clock right?", err)
	}
	return tok, nil
}

func (n *Notary) record(ctx context.Context, manifest []byte) error {
	if n == nil || n.Ledger == nil {
		return nil
	}
	if _, err := n.Ledger.Append(ctx, LedgerLeaf(manifest)); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}

// proof returns the marshalled inclusion proof of a manifest digest
// ("sha256:<hex>") signed with keyID, the key that signed the manifest:
// against the latest checkpoint, making one if needed, or, for a manifest
// signed with a key since retired, against the latest checkpoint that key
// signed (a bundle is verified with the one key it carries).
func (n *Notary) proof(ctx context.Context, manifestDigest, keyID string) ([]byte, error) {
	idx, ok := n.Ledger.Lookup([]byte(manifestDigest))
	if !ok {
		return nil, fmt.Errorf("ledger: manifest %s is not in the ledger", manifestDigest)
	}
	var size uint64
	if keyID != n.Ledger.KeyID() {
		for _, cp := range n.Ledger.Checkpoints() {
			if cp.KeyID == keyID && cp.Size > idx {
				size = cp.Size
			}
		}
		if size == 0 {
			return nil, fmt.Errorf("ledger: manifest %s is signed with key %s, retired before a checkpoint it signed covered the manifest", manifestDigest, keyID)
		}
	}
	p, err := n.Ledger.InclusionProof(ctx, idx, size)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if n.Witnesses != nil {
		// A witness that is down leaves the bundle without its
		// co-signature; Submit has logged it.
		_ = n.Witnesses.Submit(ctx)
		p.Cosignatures = n.Witnesses.Cosignatures(&p.Checkpoint)
	}
	return p.Marshal()
}

// ExportOption changes what Export writes.
type ExportOption func(*exportConfig)

type exportConfig struct {
	notary   *Notary
	signer   *Signer
	signedBy string
}

// WithNotary makes Export add the ledger inclusion proof of the manifest
// (ledger-proof.json). Export fails when the manifest is not in the ledger.
func WithNotary(n *Notary) ExportOption {
	return func(c *exportConfig) { c.notary = n }
}

// WithTSARoots makes VerifyBundle check timestamp tokens (and the ledger
// checkpoint's token) against these roots instead of the tsa-root.pem the
// bundle carries. Use it with the TSA roots the office trusts.
func WithTSARoots(roots *x509.CertPool) VerifyOption {
	return func(c *verifyConfig) { c.tsaRoots = roots }
}

// WithMaxTimestampSkew sets the largest gap VerifyBundle accepts between
// manifest.json's captured_at and the genTime of timestamp.tsr (default
// DefaultMaxTimestampSkew; d <= 0 keeps the default).
func WithMaxTimestampSkew(d time.Duration) VerifyOption {
	return func(c *verifyConfig) { c.maxSkew = d }
}

// AllowUnsealed makes VerifyBundle accept a bundle without timestamp.tsr,
// tsa-root.pem and ledger-proof.json (made with no Notary). Files that are
// present are still checked.
func AllowUnsealed() VerifyOption {
	return func(c *verifyConfig) { c.allowUnsealed = true }
}

// verifySeal checks the timestamp token and the ledger inclusion proof.
func (v *verifier) verifySeal() {
	tsr := v.readOptional(TimestampFile, maxSigSize<<10)
	rootPEM := v.readOptional(TSARootFile, maxPubSize)
	proof := v.readOptional(LedgerProofFile, maxManifestSize)
	if !v.cfg.allowUnsealed {
		for _, f := range []struct {
			name string
			b    []byte
		}{{TimestampFile, tsr}, {TSARootFile, rootPEM}, {LedgerProofFile, proof}} {
			if f.b == nil {
				if _, ok := v.files[f.name]; !ok {
					v.rep.fail("present", f.name, fmt.Errorf("%w: the bundle has no %s (unsealed; verify with --allow-unsealed to accept)", ErrNotFound, f.name))
				}
			}
		}
	}
	roots := v.cfg.tsaRoots
	rootSource := "trusted roots"
	if roots == nil && rootPEM != nil {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(rootPEM) {
			v.rep.fail("parse", TSARootFile, fmt.Errorf("%w: no PEM certificate", ErrBadBundle))
			roots = nil
		} else {
			rootSource = "the bundled tsa-root.pem (compare its fingerprint with the published one)"
			if blk, err := x509.ParseCertificate(pemBlock(rootPEM)); err == nil {
				v.rep.TSARootSHA256 = SumBytes(SHA256, blk.Raw).String()
			}
			roots = v.pinnedRoots(rootPEM, roots)
		}
	}
	v.sealRoots = roots
	if tsr != nil {
		switch {
		case roots == nil:
			v.rep.fail("timestamp", TimestampFile, fmt.Errorf("%w: no TSA root to check the token against", ErrBadTimestamp))
		case v.manifest == nil:
			v.rep.fail("timestamp", TimestampFile, fmt.Errorf("%w: no manifest.json to compare the imprint with", ErrBadTimestamp))
		default:
			info, err := tsa.Verify(tsr, v.manifest, roots)
			if err != nil {
				item := v.blame(TimestampFile, TSARootFile, ManifestFile)
				v.rep.fail("timestamp", item, fmt.Errorf("%w: %v%s", ErrBadTimestamp, err, changedNote(item, TimestampFile)))
			} else {
				v.rep.TimestampTime = info.GenTime
				v.rep.pass("timestamp", TimestampFile, "RFC 3161 token over manifest.json, time %s, serial %s, by %s, chain to %s",
					info.GenTime.UTC().Format("2006-01-02T15:04:05Z"), info.Serial, info.TSA, rootSource)
				v.capturedAt(info)
				v.trustTSA(info)
			}
		}
	}
	if proof != nil {
		p, err := ledger.ParseProof(proof)
		switch {
		case err != nil:
			v.rep.fail("ledger", LedgerProofFile, fmt.Errorf("%w: %v", ErrBadLedgerProof, err))
		case v.manifest == nil || v.pubKey == nil:
			v.rep.fail("ledger", LedgerProofFile, fmt.Errorf("%w: needs manifest.json and signer.pub", ErrBadLedgerProof))
		default:
			if _, err := ledger.VerifyInclusion(p, LedgerLeaf(v.manifest), v.pubKey, roots); err != nil {
				item := v.blame(LedgerProofFile, TSARootFile, ManifestFile, SignerPubFile)
				v.rep.fail("ledger", item, fmt.Errorf("%w: %v%s", ErrBadLedgerProof, err, changedNote(item, LedgerProofFile)))
			} else {
				v.rep.pass("ledger", LedgerProofFile, "manifest.json is leaf %d of the ledger, in checkpoint of size %d signed by %s",
					p.LeafIndex, p.TreeSize, KeyID(v.pubKey))
				v.trustWitness(p)
			}
		}
	}
}

// capturedAt checks that the manifest's captured_at lies within the
// accepted skew of the token's genTime: the token is asked for right after
// the manifest is made, so a wider gap means a re-dated capture or a wrong
// clock.
func (v *verifier) capturedAt(info *tsa.Info) {
	if v.m == nil {
		return
	}
	maxSkew := v.cfg.maxSkew
	if maxSkew <= 0 {
		maxSkew = DefaultMaxTimestampSkew
	}
	if err := checkSkew(v.m.CapturedAt, info, maxSkew); err != nil {
		v.rep.fail("captured_at", ManifestFile, err)
		return
	}
	v.rep.pass("captured_at", ManifestFile, "captured_at %s is within %v of the timestamp's genTime %s",
		v.m.CapturedAt.UTC().Format(time.RFC3339Nano), maxSkew, info.GenTime.UTC().Format(time.RFC3339))
}

// blame picks the item at fault when a seal check fails: the seal file
// itself if it changed since export (per SHA256SUMS), else the first of the
// files it depends on that changed, else the seal file.
func (v *verifier) blame(seal string, deps ...string) string {
	if v.changed(seal) {
		return seal
	}
	for _, d := range deps {
		if v.changed(d) {
			return d
		}
	}
	if seal == LedgerProofFile && v.m != nil && v.pubKey != nil && v.m.SignerKeyID != KeyID(v.pubKey) {
		return SignerPubFile
	}
	return seal
}

// changed reports whether a bundle file differs from its SHA256SUMS line.
func (v *verifier) changed(name string) bool {
	rec, ok := v.sums[name]
	if !ok {
		return false
	}
	var b []byte
	switch name {
	case ManifestFile, SignatureFile, SignerPubFile:
		b = v.fixed(name)
	default:
		f, ok := v.files[name]
		if !ok {
			return false
		}
		var err error
		if b, err = readZipFile(f, maxManifestSize); err != nil {
			return true
		}
	}
	return b != nil && SumBytes(SHA256, b).Hex() != rec
}

func changedNote(item, seal string) string {
	if item == seal {
		return ""
	}
	return fmt.Sprintf(" (%s changed since export; %s covers the original)", item, seal)
}

func isSealFile(name string) bool {
	return name == TimestampFile || name == TSARootFile || name == LedgerProofFile
}

// readOptional reads a fixed file that may be absent (nil then).
func (v *verifier) readOptional(name string, limit int64) []byte {
	f, ok := v.files[name]
	if !ok {
		return nil
	}
	b, err := readZipFile(f, limit)
	if err != nil {
		v.rep.fail("read", name, err)
		return nil
	}
	return b
}

// pemBlock returns the DER bytes of the first PEM block (nil if none).
func pemBlock(b []byte) []byte {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil
	}
	return blk.Bytes
}

// Errors of the seal checks.
var (
	// ErrBadTimestamp: timestamp.tsr does not verify (signature, chain to
	// the roots, or message imprint against manifest.json).
	ErrBadTimestamp = errors.New("timestamp does not verify")
	// ErrBadLedgerProof: ledger-proof.json does not prove manifest.json is
	// in the ledger under a valid checkpoint.
	ErrBadLedgerProof = errors.New("ledger inclusion proof does not verify")
	// ErrNotWitnessed: under a trust file that lists witness keys, the
	// ledger checkpoint carries no valid co-signature of a listed
	// witness: nothing outside the capture host vouches that the ledger
	// was not rewritten.
	ErrNotWitnessed = errors.New("ledger checkpoint is not co-signed by a trusted witness")
)

// trustWitnessPresent fails a bundle that has no ledger proof to judge
// against the witnesses a trust file lists.
func (v *verifier) trustWitnessPresent() {
	t := v.cfg.trust
	if t == nil || len(t.WitnessKeys) == 0 || v.witnessChecked || v.named(LedgerProofFile) {
		return
	}
	v.rep.fail("witness", LedgerProofFile, fmt.Errorf("%w: the bundle has no verified ledger proof, so no checkpoint a witness of %s co-signed",
		ErrNotWitnessed, t.Name()))
}

// trustWitness checks, under a trust file that lists witness keys, that
// the checkpoint of the verified proof p carries at least one valid
// co-signature by a listed witness.
func (v *verifier) trustWitness(p *ledger.Proof) {
	t := v.cfg.trust
	if t == nil || len(t.WitnessKeys) == 0 {
		return
	}
	v.witnessChecked = true
	var bad []string
	for i := range p.Cosignatures {
		cs := &p.Cosignatures[i]
		w, ok := t.Witness(cs.WitnessKeyID)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s is not a witness of %s", cs.WitnessKeyID, t.Name()))
			continue
		}
		if err := cs.Verify(p.Checkpoint.Note); err != nil {
			bad = append(bad, fmt.Sprintf("witness %s (%s): %v", w.Name, w.ID, err))
			continue
		}
		v.witnessed = true
		v.rep.Witnesses = append(v.rep.Witnesses, fmt.Sprintf("%s (%s)", w.Name, w.ID))
		v.rep.pass("witness", LedgerProofFile, "the checkpoint of size %d is co-signed by witness %s (%s) of %s at %s",
			p.Checkpoint.Size, w.Name, w.ID, t.Name(), cs.Time.UTC().Format(time.RFC3339))
	}
	if v.witnessed {
		return
	}
	why := "it carries no co-signature"
	if len(bad) > 0 {
		why = "none of its co-signatures is valid and by a listed witness: " + strings.Join(bad, "; ")
	}
	v.rep.fail("witness", LedgerProofFile, fmt.Errorf("%w: the checkpoint of size %d (root %s) is not co-signed by any witness %s lists; %s",
		ErrNotWitnessed, p.Checkpoint.Size, p.Checkpoint.Root, t.Name(), why))
}
