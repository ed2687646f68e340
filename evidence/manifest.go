package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// ManifestFormat is the value of Manifest.Format this version writes and
// reads. A later format gets a new value; readers refuse formats they do
// not know.
const ManifestFormat = "shopwatch-evidence-manifest/1"

// Names of the fixed files of a capture and a bundle; no artifact may use
// them.
const (
	ManifestFile  = "manifest.json"
	SignatureFile = "manifest.sig"
	// SignerPubFile (declared with the signer) is the third.
	SumsFile   = "SHA256SUMS" // bundle only
	ReadmeFile = "README.txt" // bundle only
)

// Media types of the artifacts a capture writes.
const (
	MediaHTTPRequest  = "application/http; msgtype=request"
	MediaHTTPResponse = "application/http; msgtype=response"
	MediaHTML         = "text/html; charset=utf-8"
	MediaText         = "text/plain; charset=utf-8"
	MediaJSON         = "application/json"
	MediaPNG          = "image/png"
	MediaSignature    = "application/octet-stream"
	MediaPEM          = "application/x-pem-file"
)

// ErrBadManifest is returned when a manifest does not parse or breaks the
// format's rules.
var ErrBadManifest = errors.New("bad manifest")

// Manifest is the content of manifest.json: what one capture preserved,
// signed as a whole in manifest.sig. doc.go describes every field.
type Manifest struct {
	Format           string          `json:"format"`
	EvidenceID       string          `json:"evidence_id"`
	TargetID         string          `json:"target_id,omitempty"`
	VisitID          string          `json:"visit_id,omitempty"`
	URL              string          `json:"url"`
	FinalURL         string          `json:"final_url,omitempty"`
	CapturedAt       time.Time       `json:"captured_at"`
	ClockSource      string          `json:"clock_source"`
	Host             string          `json:"host"`
	Operator         string          `json:"operator,omitempty"`
	ShopwatchVersion string          `json:"shopwatch_version"`
	SignerKeyID      string          `json:"signer_key_id"`
	Findings         int             `json:"findings"`
	Artifacts        []ManifestEntry `json:"artifacts"`
}

// ManifestEntry lists one artifact of a capture.
type ManifestEntry struct {
	Name      string `json:"name"` // path inside the capture and the bundle
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
	SHA256    Digest `json:"sha256"`
	SM3       Digest `json:"sm3"`
}

// Sums returns the entry's size and digests.
func (e ManifestEntry) Sums() Sums { return Sums{Size: e.Size, SHA256: e.SHA256, SM3: e.SM3} }

// Marshal returns the manifest.json bytes: indented JSON ending in a
// newline. These exact bytes are signed and stored; never re-marshal a
// parsed manifest to check a signature.
func (m *Manifest) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("marshal manifest %s: %w", m.EvidenceID, err)
	}
	return buf.Bytes(), nil
}

// ParseManifest decodes manifest.json bytes and checks the format's rules:
// known format, evidence id, capture time, signer key id, and artifacts
// with valid unique names that are not fixed file names, non-negative
// sizes and both digests. Errors wrap ErrBadManifest.
func ParseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("parse manifest: %w: %v", ErrBadManifest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("parse manifest: %w: data after the JSON object", ErrBadManifest)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w: %v", m.EvidenceID, ErrBadManifest, err)
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	if m.Format != ManifestFormat {
		return fmt.Errorf("format %q, want %q", m.Format, ManifestFormat)
	}
	if m.EvidenceID == "" {
		return errors.New("no evidence_id")
	}
	if m.CapturedAt.IsZero() {
		return errors.New("no captured_at")
	}
	if !strings.HasPrefix(m.SignerKeyID, "ed25519:") {
		return fmt.Errorf("signer_key_id %q is not an ed25519 key id", m.SignerKeyID)
	}
	if len(m.Artifacts) == 0 {
		return errors.New("no artifacts")
	}
	seen := make(map[string]bool, len(m.Artifacts))
	for _, a := range m.Artifacts {
		if err := ValidateArtifactName(a.Name); err != nil {
			return err
		}
		if seen[a.Name] {
			return fmt.Errorf("artifact %q listed twice", a.Name)
		}
		seen[a.Name] = true
		if a.Size < 0 {
			return fmt.Errorf("artifact %q: negative size", a.Name)
		}
		if a.SHA256.Algorithm() != SHA256 {
			return fmt.Errorf("artifact %q: no sha256 digest", a.Name)
		}
		if a.SM3.Algorithm() != SM3 {
			return fmt.Errorf("artifact %q: no sm3 digest", a.Name)
		}
	}
	return nil
}

// IsFixedFile reports whether name is one of the fixed files of a capture
// or bundle rather than an artifact.
func IsFixedFile(name string) bool {
	switch name {
	case ManifestFile, SignatureFile, SignerPubFile, SumsFile, ReadmeFile, TimestampFile, TSARootFile, LedgerProofFile:
		return true
	}
	return false
}

// ValidateArtifactName checks that name can be an artifact: a valid key
// (see ValidateKey) that is not a fixed file name nor a name the bundle's
// WACZ layout reserves.
func ValidateArtifactName(name string) error {
	if err := ValidateKey(name); err != nil {
		return fmt.Errorf("artifact name: %w", err)
	}
	if IsFixedFile(name) {
		return fmt.Errorf("artifact name %q is reserved for a fixed file", name)
	}
	if err := checkWACZName(name); err != nil {
		return fmt.Errorf("artifact name: %w", err)
	}
	if !fs.ValidPath(name) {
		return fmt.Errorf("artifact name %q is not a valid path", name)
	}
	return nil
}
