package evidence

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"shopwatch"
	"shopwatch/evidence/warc"
)

// KeyPrefix is the store folder that holds every capture:
// evidence/<evidence id>/<artifact name>.
const KeyPrefix = "evidence/"

// Artifact names a capture writes besides the numbered exchanges.
const (
	PageFile       = "page.html"
	TextFile       = "text.txt"
	ScreenshotFile = "screenshot.png"
	FindingsFile   = "findings.json"
	MetadataFile   = "metadata.json"
	// WARCFile holds the capture as WARC 1.1 records, one gzip member each,
	// in the archive/ folder where WACZ readers look for WARC files.
	WARCFile = "archive/capture.warc.gz"
	// EnvironmentFile is the capture-environment check made before the
	// capture session (clock, proxies, hosts file, binary digests).
	EnvironmentFile = "environment.json"
	// NetworkFile is the network provenance of the capture: the redirect
	// chain hop by hop and the final URL.
	NetworkFile = "network.json"
	// The robots.txt exchange of the page's origin, when it was recorded.
	RobotsRequestFile  = "robots/request.http"
	RobotsResponseFile = "robots/response.http"
	RobotsChainFile    = "robots/chain.pem"
	RobotsMetaFile     = "robots/robots.json"
	// Browser artifacts: the rendered page as MHTML and as PDF, the timed
	// snapshots (snapshots/NNN.png, see SnapshotName) with their times, and
	// the timeline of texts seen on a watched live page.
	MHTMLFile     = "page.mhtml"
	PDFFile       = "page.pdf"
	SnapshotsFile = "snapshots.json"
	TimelineFile  = "timeline.json"

	MediaWARC  = "application/warc"
	MediaMHTML = "multipart/related"
	// MediaPDF ("application/pdf") is declared with the bundle files.
)

// captureStart is when the capture began: the first exchange's start, else
// the capture time. WARC-Date of every record of the capture.
func captureStart(p *shopwatch.Page, now time.Time) time.Time {
	if len(p.Exchanges) > 0 && !p.Exchanges[0].Started.IsZero() {
		return p.Exchanges[0].Started.UTC()
	}
	if !p.FetchedAt.IsZero() {
		return p.FetchedAt.UTC()
	}
	return now
}

// CaptureMeta describes who and what made a capture. Zero fields get
// defaults: Host the machine's host name, ClockSource "system clock", Now
// time.Now, Version shopwatch.Version.
type CaptureMeta struct {
	Operator    string           // inspector or service account that ran the sweep
	Host        string           // host name of the capturing machine
	ClockSource string           // what set the clock, e.g. "system clock", "ntp: ntp.ntsc.ac.cn"
	Now         func() time.Time // capture time source
	Version     string           // shopwatch version
	// Environment is the capture-environment report (JSON) of the session
	// this capture belongs to; stored as environment.json when set.
	Environment []byte
	// Notary, when set, timestamps every manifest and enters it in the
	// ledger; a capture that cannot be sealed fails.
	Notary *Notary
}

// RecordKey returns the store key of artifact name in capture id.
func RecordKey(id, name string) string { return KeyPrefix + id + "/" + name }

// ExchangeNames returns the artifact names of the i-th exchange of a page
// (i from 0): the request bytes, the response bytes and the metadata.
func ExchangeNames(i int) (request, response, meta string) {
	p := fmt.Sprintf("exchanges/%03d", i+1)
	return p + "-request.http", p + "-response.http", p + ".json"
}

// ChainName returns the artifact name of the certificate chain (PEM) the
// server presented for the i-th exchange of a page (i from 0).
func ChainName(i int) string { return fmt.Sprintf("exchanges/%03d-chain.pem", i+1) }

// SnapshotName returns the artifact name of the i-th snapshot of a page (i
// from 0).
func SnapshotName(i int) string { return fmt.Sprintf("snapshots/%03d.png", i+1) }

// Capture preserves page and the findings raised on it in store and returns
// the record that indexes them.
//
// It writes one object per artifact under evidence/<id>/ (see doc.go for
// the list), then manifest.json listing them all with size, SHA-256 and
// SM3, signed by signer into manifest.sig, with signer.pub beside it. The
// signature and public key are stored before the manifest, so a stored
// manifest.json always has its artifacts and its signature; a capture
// without manifest.json is incomplete and must not be used. Nothing is
// overwritten: the evidence id is new for every capture, and the store
// refuses existing keys. When signing fails Capture returns the error and
// stores no manifest.
//
// The returned record lists the manifest's artifacts in manifest order
// followed by manifest.json, manifest.sig and signer.pub. Capture does not
// modify page or findings. It is safe for concurrent use.
func Capture(ctx context.Context, store Store, signer *Signer, page *shopwatch.Page, findings []shopwatch.Finding, meta CaptureMeta) (*shopwatch.EvidenceRecord, error) {
	switch {
	case store == nil:
		return nil, errors.New("capture: nil store")
	case signer == nil:
		return nil, errors.New("capture: nil signer: evidence is never stored unsigned")
	case page == nil:
		return nil, errors.New("capture: nil page")
	}
	meta = meta.withDefaults()
	now := meta.Now().UTC()
	var lastErr error
	for range 3 {
		id, err := newEvidenceID(now, page)
		if err != nil {
			return nil, fmt.Errorf("capture %s: %w", page.URL, err)
		}
		c := &capture{id: id, now: now, page: page, findings: findings, meta: meta, signer: signer}
		rec, err := c.run(ctx, store)
		if errors.Is(err, errIDTaken) {
			lastErr = err
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("capture %s: %w", page.URL, err)
		}
		slog.DebugContext(ctx, "evidence captured", "evidence_id", rec.ID, "url", rec.URL, "artifacts", len(rec.Artifacts))
		return rec, nil
	}
	return nil, fmt.Errorf("capture %s: %w", page.URL, lastErr)
}

var errIDTaken = errors.New("evidence id already in use")

func (m CaptureMeta) withDefaults() CaptureMeta {
	if m.Now == nil {
		m.Now = time.Now
	}
	if m.ClockSource == "" {
		m.ClockSource = "system clock"
	}
	if m.Version == "" {
		m.Version = shopwatch.Version
	}
	if m.Host == "" {
		if h, err := os.Hostname(); err == nil {
			m.Host = h
		} else {
			m.Host = "unknown"
		}
	}
	return m
}

// newEvidenceID returns "ev-" + the capture time to the second + "-" + 12
// hex digits of a hash over 128 random bits and the page identity, so two
// captures in the same second never share an id.
func newEvidenceID(now time.Time, page *shopwatch.Page) (string, error) {
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", fmt.Errorf("evidence id: %w", err)
	}
	h := sha256.New()
	h.Write(nonce[:])
	binary.Write(h, binary.BigEndian, now.UnixNano())
	for _, s := range []string{page.URL, page.FinalURL, page.TargetID, page.VisitID} {
		binary.Write(h, binary.BigEndian, uint64(len(s)))
		io.WriteString(h, s)
	}
	return "ev-" + now.Format("20060102T150405Z") + "-" + hex.EncodeToString(h.Sum(nil)[:6]), nil
}

// part is one artifact waiting to be stored: its bytes may be split in
// pieces (response header + body) so nothing is copied.
type part struct {
	name, media string
	pieces      [][]byte
	sums        Sums
}

func newPart(name, media string, pieces ...[]byte) part {
	return part{name: name, media: media, pieces: pieces, sums: SumAll(pieces...)}
}

func (p part) reader() io.Reader {
	rs := make([]io.Reader, len(p.pieces))
	for i, b := range p.pieces {
		rs[i] = bytes.NewReader(b)
	}
	return io.MultiReader(rs...)
}

type capture struct {
	id       string
	now      time.Time
	page     *shopwatch.Page
	findings []shopwatch.Finding
	meta     CaptureMeta
	signer   *Signer
}

// exchangeRecord is the content of exchanges/NNN.json and of
// robots/robots.json.
type exchangeRecord struct {
	Index              int        `json:"index,omitempty"`
	Method             string     `json:"method"`
	URL                string     `json:"url"`
	Proto              string     `json:"proto,omitempty"`
	Status             int        `json:"status"`
	RemoteAddr         string     `json:"remote_addr,omitempty"`
	ResolvedIPs        []string   `json:"resolved_ips,omitempty"`
	TLS                *tlsRecord `json:"tls,omitempty"`
	Started            time.Time  `json:"started"`
	Finished           time.Time  `json:"finished"`
	DurationNanos      int64      `json:"duration_ns"`
	ContentLength      int64      `json:"content_length"`
	BodyTruncated      bool       `json:"body_truncated"`
	BodyMissing        bool       `json:"body_missing,omitempty"`
	Error              string     `json:"error,omitempty"`
	Request            string     `json:"request"`
	RequestSize        int        `json:"request_size"`
	Response           string     `json:"response,omitempty"`
	ResponseHeaderSize int        `json:"response_header_size"`
	BodySize           int        `json:"body_size"`
	// For a chunked response: the transfer coding, and the size of the
	// body with it removed (the WARC payload); body_size counts the body
	// as it crossed the wire, framing included.
	TransferEncoding string `json:"transfer_encoding,omitempty"`
	PayloadSize      *int   `json:"payload_size,omitempty"`
}

// tlsRecord is the "tls" object of an exchange record.
type tlsRecord struct {
	Version      string `json:"version"`
	CipherSuite  string `json:"cipher_suite"`
	ServerName   string `json:"server_name,omitempty"`
	ALPN         string `json:"alpn,omitempty"`
	Resumed      bool   `json:"resumed"`
	Verified     bool   `json:"verified"`
	Certificates int    `json:"certificates"`    // in the chain as presented
	Chain        string `json:"chain,omitempty"` // artifact name of the PEM chain
}

// networkFile is the content of network.json.
type networkFile struct {
	URL           string       `json:"url"`
	FinalURL      string       `json:"final_url"`
	RedirectChain []networkHop `json:"redirect_chain"`
}

// networkHop is one request of the redirect chain.
type networkHop struct {
	Index          int      `json:"index"`
	URL            string   `json:"url"`
	Status         int      `json:"status"`
	Location       string   `json:"location,omitempty"`
	RemoteAddr     string   `json:"remote_addr,omitempty"`
	ResolvedIPs    []string `json:"resolved_ips,omitempty"`
	Proto          string   `json:"proto,omitempty"`
	TLSVersion     string   `json:"tls_version,omitempty"`
	TLSCipherSuite string   `json:"tls_cipher_suite,omitempty"`
	Error          string   `json:"error,omitempty"`
	Exchange       string   `json:"exchange"` // artifact name of its NNN.json
}

// snapshotEntry is one element of snapshots.json.
type snapshotEntry struct {
	Index int       `json:"index"`
	Name  string    `json:"name"`
	At    time.Time `json:"at"`
	Size  int       `json:"size"`
}

// captureMetadata is the content of metadata.json.
type captureMetadata struct {
	EvidenceID       string    `json:"evidence_id"`
	TargetID         string    `json:"target_id,omitempty"`
	VisitID          string    `json:"visit_id,omitempty"`
	URL              string    `json:"url"`
	FinalURL         string    `json:"final_url,omitempty"`
	Kind             string    `json:"kind,omitempty"`
	Category         string    `json:"category,omitempty"`
	Status           int       `json:"status"`
	ContentType      string    `json:"content_type,omitempty"`
	DeclaredCharset  string    `json:"declared_charset,omitempty"`
	CharsetSource    string    `json:"charset_source,omitempty"`
	Charset          string    `json:"charset,omitempty"`
	Title            string    `json:"title,omitempty"`
	Rendered         bool      `json:"rendered"`
	Mobile           bool      `json:"mobile"`
	ReadyBy          string    `json:"ready_by,omitempty"`
	ScreenshotBy     string    `json:"screenshot_by,omitempty"`
	FetchedAt        time.Time `json:"fetched_at,omitzero"`
	CapturedAt       string    `json:"captured_at"`
	ClockSource      string    `json:"clock_source"`
	ShopwatchVersion string    `json:"shopwatch_version"`
	Host             string    `json:"host"`
	Operator         string    `json:"operator,omitempty"`
	Exchanges        int       `json:"exchanges"`
	Findings         int       `json:"findings"`
	Links            []string  `json:"links,omitempty"`
}

// parts builds every artifact of the capture, in manifest order.
func (c *capture) parts() ([]part, error) {
	p := c.page
	var parts []part
	for i, ex := range p.Exchanges {
		reqName, respName, metaName := ExchangeNames(i)
		ps, err := exchangeParts(ex, i+1, reqName, respName, ChainName(i), metaName)
		if err != nil {
			return nil, fmt.Errorf("exchange %d: %w", i+1, err)
		}
		parts = append(parts, ps...)
	}
	if p.Robots != nil {
		ps, err := exchangeParts(*p.Robots, 0, RobotsRequestFile, RobotsResponseFile, RobotsChainFile, RobotsMetaFile)
		if err != nil {
			return nil, fmt.Errorf("robots.txt exchange: %w", err)
		}
		parts = append(parts, ps...)
	}
	parts = append(parts, newPart(PageFile, MediaHTML, []byte(p.HTML)))
	parts = append(parts, newPart(TextFile, MediaText, []byte(p.Text)))
	if len(p.Screenshot) > 0 {
		parts = append(parts, newPart(ScreenshotFile, MediaPNG, p.Screenshot))
	}
	if len(p.MHTML) > 0 {
		parts = append(parts, newPart(MHTMLFile, MediaMHTML, p.MHTML))
	}
	if len(p.PDF) > 0 {
		parts = append(parts, newPart(PDFFile, MediaPDF, p.PDF))
	}
	if len(p.Snapshots) > 0 {
		entries := make([]snapshotEntry, len(p.Snapshots))
		for i, sn := range p.Snapshots {
			name := SnapshotName(i)
			parts = append(parts, newPart(name, MediaPNG, sn.PNG))
			entries[i] = snapshotEntry{Index: i + 1, Name: name, At: sn.At.UTC(), Size: len(sn.PNG)}
		}
		b, err := marshalJSON(entries)
		if err != nil {
			return nil, fmt.Errorf("snapshots: %w", err)
		}
		parts = append(parts, newPart(SnapshotsFile, MediaJSON, b))
	}
	if len(p.Timeline) > 0 {
		b, err := warc.TimelineJSON(p.Timeline)
		if err != nil {
			return nil, fmt.Errorf("timeline: %w", err)
		}
		parts = append(parts, newPart(TimelineFile, MediaJSON, b))
	}
	// The same exchanges and resources as a WARC 1.1 file, for web-archive
	// tools; the per-file artifacts above stay for plain inspection.
	if len(p.Exchanges) > 0 || p.Robots != nil || p.HTML != "" || p.Text != "" || len(p.Screenshot) > 0 ||
		len(p.MHTML) > 0 || len(p.PDF) > 0 || len(p.Snapshots) > 0 || len(p.Timeline) > 0 {
		var wb bytes.Buffer
		err := warc.Write(&wb, p, warc.Info{
			Software: "shopwatch", Version: c.meta.Version, Operator: c.meta.Operator, Host: c.meta.Host,
			CaptureTime: captureStart(p, c.now),
		})
		if err != nil {
			return nil, err
		}
		parts = append(parts, newPart(WARCFile, MediaWARC, wb.Bytes()))
	}
	if len(c.meta.Environment) > 0 {
		parts = append(parts, newPart(EnvironmentFile, MediaJSON, c.meta.Environment))
	}
	b, err := marshalJSON(network(p))
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	parts = append(parts, newPart(NetworkFile, MediaJSON, b))

	fl := make([]shopwatch.Finding, len(c.findings))
	copy(fl, c.findings)
	for i := range fl {
		if fl[i].EvidenceID == "" {
			fl[i].EvidenceID = c.id
		}
	}
	if b, err = marshalJSON(fl); err != nil {
		return nil, fmt.Errorf("findings: %w", err)
	}
	parts = append(parts, newPart(FindingsFile, MediaJSON, b))

	md := captureMetadata{
		EvidenceID:       c.id,
		TargetID:         p.TargetID,
		VisitID:          p.VisitID,
		URL:              p.URL,
		FinalURL:         p.FinalURL,
		Kind:             string(p.Kind),
		Category:         p.Category,
		Status:           p.Status,
		ContentType:      p.ContentType,
		DeclaredCharset:  p.DeclaredCharset,
		CharsetSource:    p.CharsetSource,
		Charset:          p.Charset,
		Title:            p.Title,
		Rendered:         p.Rendered,
		Mobile:           p.Mobile,
		ReadyBy:          p.ReadyBy,
		ScreenshotBy:     p.ScreenshotBy,
		FetchedAt:        p.FetchedAt.UTC(),
		CapturedAt:       c.now.Format(time.RFC3339Nano),
		ClockSource:      c.meta.ClockSource,
		ShopwatchVersion: c.meta.Version,
		Host:             c.meta.Host,
		Operator:         c.meta.Operator,
		Exchanges:        len(p.Exchanges),
		Findings:         len(c.findings),
		Links:            p.Links,
	}
	if b, err = marshalJSON(md); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	parts = append(parts, newPart(MetadataFile, MediaJSON, b))
	return parts, nil
}

// exchangeParts returns the artifacts of one exchange: its request, its
// response when one arrived, the presented certificate chain when TLS was
// used, and its metadata record. index 0 leaves the index out.
func exchangeParts(ex shopwatch.Exchange, index int, reqName, respName, chainName, metaName string) ([]part, error) {
	parts := []part{newPart(reqName, MediaHTTPRequest, ex.RequestHeader)}
	hasResponse := ex.Status != 0 || len(ex.ResponseHeader) > 0 || len(ex.Body) > 0
	wire := ex.Body // the body as it crossed the wire
	if ex.WireBody != nil {
		wire = ex.WireBody
	}
	if hasResponse {
		parts = append(parts, newPart(respName, MediaHTTPResponse, ex.ResponseHeader, wire))
	} else {
		respName = ""
	}
	rec := exchangeRecord{
		Index:              index,
		Method:             ex.Method,
		URL:                ex.URL,
		Proto:              ex.Proto,
		Status:             ex.Status,
		RemoteAddr:         ex.RemoteAddr,
		ResolvedIPs:        ex.ResolvedIPs,
		Started:            ex.Started.UTC(),
		Finished:           ex.Started.Add(ex.Duration).UTC(),
		DurationNanos:      int64(ex.Duration),
		ContentLength:      ex.ContentLength,
		BodyTruncated:      ex.BodyTruncated,
		BodyMissing:        ex.BodyMissing,
		Error:              ex.Err,
		Request:            reqName,
		RequestSize:        len(ex.RequestHeader),
		Response:           respName,
		ResponseHeaderSize: len(ex.ResponseHeader),
		BodySize:           len(wire),
	}
	if ex.WireBody != nil {
		n := len(ex.Body)
		rec.TransferEncoding, rec.PayloadSize = "chunked", &n
	}
	if t := ex.TLS; t != nil {
		rec.TLS = &tlsRecord{
			Version: t.Version, CipherSuite: t.CipherSuite, ServerName: t.ServerName, ALPN: t.ALPN,
			Resumed: t.Resumed, Verified: t.Verified, Certificates: len(t.PeerCertificates),
		}
		if len(t.PeerCertificates) > 0 {
			rec.TLS.Chain = chainName
			parts = append(parts, newPart(chainName, MediaPEM, warc.ChainPEM(t.PeerCertificates)))
		}
	}
	b, err := marshalJSON(rec)
	if err != nil {
		return nil, err
	}
	return append(parts, newPart(metaName, MediaJSON, b)), nil
}

// network returns the content of network.json for p.
func network(p *shopwatch.Page) networkFile {
	n := networkFile{URL: p.URL, FinalURL: p.FinalURL, RedirectChain: []networkHop{}}
	for i, ex := range p.Exchanges {
		_, _, metaName := ExchangeNames(i)
		hop := networkHop{
			Index:       i + 1,
			URL:         ex.URL,
			Status:      ex.Status,
			RemoteAddr:  ex.RemoteAddr,
			ResolvedIPs: ex.ResolvedIPs,
			Proto:       ex.Proto,
			Error:       ex.Err,
			Exchange:    metaName,
		}
		if ex.Status >= 300 && ex.Status < 400 {
			hop.Location = headerField(ex.ResponseHeader, "Location")
		}
		if ex.TLS != nil {
			hop.TLSVersion, hop.TLSCipherSuite = ex.TLS.Version, ex.TLS.CipherSuite
		}
		n.RedirectChain = append(n.RedirectChain, hop)
	}
	return n
}

// headerField returns the first value of a header field in the last
// message head of a raw response head (interim 1xx heads come first), or
// "".
func headerField(head []byte, name string) string {
	s := strings.ReplaceAll(string(head), "\r\n", "\n")
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndex(s, "\n\n"); i >= 0 {
		s = s[i+2:]
	}
	lines := strings.Split(s, "\n")
	for _, line := range lines[min(1, len(lines)):] { // skip the status line
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (c *capture) run(ctx context.Context, store Store) (*shopwatch.EvidenceRecord, error) {
	parts, err := c.parts()
	if err != nil {
		return nil, err
	}
	m := &Manifest{
		Format:           ManifestFormat,
		EvidenceID:       c.id,
		TargetID:         c.page.TargetID,
		VisitID:          c.page.VisitID,
		URL:              c.page.URL,
		FinalURL:         c.page.FinalURL,
		CapturedAt:       c.now,
		ClockSource:      c.meta.ClockSource,
		Host:             c.meta.Host,
		Operator:         c.meta.Operator,
		ShopwatchVersion: c.meta.Version,
		SignerKeyID:      c.signer.KeyID(),
		Findings:         len(c.findings),
	}
	for _, p := range parts {
		m.Artifacts = append(m.Artifacts, ManifestEntry{Name: p.name, Size: p.sums.Size, MediaType: p.media, SHA256: p.sums.SHA256, SM3: p.sums.SM3})
	}
	manifest, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	// Sign before storing anything of the manifest: a failure leaves no
	// unsigned manifest behind.
	sig, err := c.signer.Sign(manifest)
	if err != nil {
		return nil, err
	}
	tok, err := c.meta.Notary.timestamp(ctx, manifest, c.now)
	if err != nil {
		return nil, err
	}
	if tok != nil {
		parts = append(parts,
			newPart(TimestampFile, MediaTimestampReply, tok),
			newPart(TSARootFile, MediaPEM, c.meta.Notary.TSARoot))
	}
	parts = append(parts,
		newPart(SignatureFile, MediaSignature, sig),
		newPart(SignerPubFile, MediaPEM, c.signer.PublicKeyPEM()),
		newPart(ManifestFile, MediaJSON, manifest), // last: its presence marks a complete capture
	)

	rec := &shopwatch.EvidenceRecord{
		ID:          c.id,
		TargetID:    c.page.TargetID,
		VisitID:     c.page.VisitID,
		URL:         c.page.URL,
		CapturedAt:  c.now,
		ClockSource: c.meta.ClockSource,
		ManifestKey: RecordKey(c.id, ManifestFile),
		Findings:    len(c.findings),
	}
	for i, p := range parts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("store %s: %w", c.id, err)
		}
		key := RecordKey(c.id, p.name)
		if err := store.Put(ctx, key, p.reader(), p.sums.Size, p.sums.SHA256); err != nil {
			if i == 0 && errors.Is(err, ErrExists) {
				return nil, fmt.Errorf("%w: %s: %v", errIDTaken, c.id, err)
			}
			return nil, fmt.Errorf("store %s: %w", c.id, err)
		}
		rec.Artifacts = append(rec.Artifacts, shopwatch.Artifact{
			Name: p.name, Key: key, MediaType: p.media, Size: p.sums.Size,
			SHA256: p.sums.SHA256.String(), SM3: p.sums.SM3.String(),
		})
	}
	// Move the fixed files to the end in their conventional order:
	// manifest.json, manifest.sig, signer.pub.
	n := len(rec.Artifacts)
	rec.Artifacts[n-3], rec.Artifacts[n-2], rec.Artifacts[n-1] = rec.Artifacts[n-1], rec.Artifacts[n-3], rec.Artifacts[n-2]
	rec.ManifestDigest = rec.Artifacts[n-3].SHA256
	// Enter the stored manifest in the ledger. Should this fail, the
	// capture fails and the visit is captured again; the stored objects
	// stay, unindexed, as stores never delete.
	if err := c.meta.Notary.record(ctx, manifest); err != nil {
		return nil, err
	}
	return rec, nil
}

// marshalJSON returns indented JSON with a final newline and no HTML
// escaping, so text such as <广告> stays readable.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
