package shopwatch

import (
	"fmt"
	"strings"
	"time"
)

// Version is the shopwatch version, set at build time with
// -ldflags "-X shopwatch.Version=…".
var Version = "dev"

// Kind is the kind of page a target or visit points at.
type Kind string

// The page kinds shopwatch knows.
const (
	KindStorefront Kind = "storefront"
	KindProduct    Kind = "product"
	KindLivestream Kind = "livestream"
)

// ParseKind returns the Kind named by s, or an error naming s when it is
// not one of storefront, product or livestream.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(strings.TrimSpace(s))); k {
	case KindStorefront, KindProduct, KindLivestream:
		return k, nil
	}
	return "", fmt.Errorf("unknown page kind %q (want storefront, product or livestream)", s)
}

// Target is a page an inspector asked shopwatch to watch.
type Target struct {
	ID           string    `json:"id"`
	URL          string    `json:"url"`
	Platform     string    `json:"platform,omitempty"`
	Kind         Kind      `json:"kind"`
	Category     string    `json:"category,omitempty"` // product category: food, cosmetics, apparel, electronics …
	Tags         []string  `json:"tags,omitempty"`
	Jurisdiction string    `json:"jurisdiction,omitempty"`
	Priority     int       `json:"priority"`           // higher is visited first
	Schedule     string    `json:"schedule,omitempty"` // cron expression; empty means on every sweep
	Depth        int       `json:"depth"`              // how many link levels to follow on the same host
	Browser      bool      `json:"browser,omitempty"`  // render with the browser path
	Mobile       bool      `json:"mobile,omitempty"`   // render as a phone (H5 page); implies the browser path
	Added        time.Time `json:"added"`
	LastSwept    time.Time `json:"last_swept,omitzero"` // when a sweep last planned it
}

// VisitState is where a visit stands in the queue.
type VisitState string

// Visit states. A visit moves pending → leased → done, or back to pending
// when its lease expires or a retryable attempt fails, or to failed when
// it has used up its attempts.
const (
	VisitPending VisitState = "pending"
	VisitLeased  VisitState = "leased"
	VisitDone    VisitState = "done"
	VisitFailed  VisitState = "failed"
)

// Visit is one planned fetch of one URL within one sweep.
type Visit struct {
	ID         string     `json:"id"`
	Sweep      string     `json:"sweep"`
	TargetID   string     `json:"target_id"`
	URL        string     `json:"url"`
	Kind       Kind       `json:"kind"`
	Category   string     `json:"category,omitempty"`
	Depth      int        `json:"depth"` // link levels still to follow from this page
	Priority   int        `json:"priority"`
	Browser    bool       `json:"browser,omitempty"`
	Mobile     bool       `json:"mobile,omitempty"`
	Parent     string     `json:"parent,omitempty"` // visit that found this URL
	State      VisitState `json:"state"`
	Attempts   int        `json:"attempts"` // leases handed out so far; also the lease token
	Worker     string     `json:"worker,omitempty"`
	LeaseUntil time.Time  `json:"lease_until,omitzero"`
	Enqueued   time.Time  `json:"enqueued"`
	Finished   time.Time  `json:"finished,omitzero"`
	Error      string     `json:"error,omitempty"`
	EvidenceID string     `json:"evidence_id,omitempty"`
	Findings   int        `json:"findings"`
}

// Exchange is one HTTP request and its response exactly as they crossed the
// wire: the bytes of the request line and headers as sent, the status line
// and headers as received, and the body bytes as received (content coding
// left as the server sent it).
type Exchange struct {
	Method         string        `json:"method"`
	URL            string        `json:"url"`
	Proto          string        `json:"proto,omitempty"`
	RequestHeader  []byte        `json:"-"` // request line + headers + blank line
	Status         int           `json:"status"`
	ResponseHeader []byte        `json:"-"` // status line + headers + blank line
	Body           []byte        `json:"-"`
	BodyTruncated  bool          `json:"body_truncated,omitempty"` // the body cap cut the body
	ContentLength  int64         `json:"content_length"`           // as announced; -1 when unknown
	RemoteAddr     string        `json:"remote_addr,omitempty"`
	Started        time.Time     `json:"started"`
	Duration       time.Duration `json:"duration"`
	Err            string        `json:"error,omitempty"`
	// ResolvedIPs are the addresses the host name resolved to when the
	// connection the exchange used was made (also on a reused connection;
	// the address itself for an IP in the URL).
	ResolvedIPs []string `json:"resolved_ips,omitempty"`
	// TLS describes the TLS session the exchange used; nil for plain HTTP.
	TLS *TLSInfo `json:"tls,omitempty"`
}

// TLSInfo is the TLS session an exchange crossed, as the client saw it.
type TLSInfo struct {
	Version     string `json:"version"`      // "TLS 1.3"
	CipherSuite string `json:"cipher_suite"` // IANA name, e.g. TLS_AES_128_GCM_SHA256
	ServerName  string `json:"server_name,omitempty"`
	ALPN        string `json:"alpn,omitempty"`
	Resumed     bool   `json:"resumed,omitempty"`
	// PeerCertificates is the chain the server presented, leaf first, DER.
	PeerCertificates [][]byte `json:"-"`
	// Verified reports whether the chain verified against the trusted roots.
	Verified bool `json:"verified"`
}

// TimedText is one text that appeared on a live page (a livestream room's
// title, shelf item, caption or comment) and when it was on screen.
type TimedText struct {
	Source string    `json:"source"` // title, host, shelf, caption, comment …
	Text   string    `json:"text"`
	First  time.Time `json:"first_seen"`
	Last   time.Time `json:"last_seen"`
	// Offset is the byte offset of Text in Page.Text, where the timeline
	// is laid out one entry per line.
	Offset int `json:"offset"`
}

// Snapshot is a screenshot taken at one moment of a watched page.
type Snapshot struct {
	At  time.Time `json:"at"`
	PNG []byte    `json:"-"`
}

// Page is what a fetch or render of one URL produced.
type Page struct {
	URL             string     `json:"url"`       // as requested
	FinalURL        string     `json:"final_url"` // after redirects
	Kind            Kind       `json:"kind"`
	Category        string     `json:"category,omitempty"`
	TargetID        string     `json:"target_id,omitempty"`
	VisitID         string     `json:"visit_id,omitempty"`
	Status          int        `json:"status"`
	ContentType     string     `json:"content_type"`
	DeclaredCharset string     `json:"declared_charset,omitempty"` // from the header or a meta tag
	CharsetSource   string     `json:"charset_source,omitempty"`   // header, meta, bom, detected, default
	Charset         string     `json:"charset"`                    // the decoder actually used
	HTML            string     `json:"-"`                          // decoded markup, UTF-8
	Title           string     `json:"title,omitempty"`
	Text            string     `json:"-"` // visible text, UTF-8; what rules read
	Links           []string   `json:"links,omitempty"`
	Exchanges       []Exchange `json:"exchanges"` // in order, redirects first
	FetchedAt       time.Time  `json:"fetched_at"`
	Screenshot      []byte     `json:"-"` // PNG, browser path only
	MHTML           []byte     `json:"-"` // the rendered page as MHTML, browser path only
	PDF             []byte     `json:"-"` // the rendered page printed to PDF, when asked for
	Rendered        bool       `json:"rendered,omitempty"`
	Mobile          bool       `json:"mobile,omitempty"` // rendered with mobile emulation
	// ReadyBy says, for a rendered page, how the browser decided the page
	// was ready to capture: "quiet after 2.3s" (no request, DOM mutation
	// or pending timer for the settle interval, counted from the load
	// event) or "timeout after 15.0s with mutations still happening" (the
	// settle bound reached; the page was captured as it was).
	ReadyBy string `json:"ready_by,omitempty"`
	// Robots is the robots.txt exchange of the page's host, recorded for
	// the evidence (it does not block an inspection); nil when not fetched.
	Robots *Exchange `json:"robots,omitempty"`
	// Timeline lists the texts that appeared while a live page was
	// watched; Text then holds them one per line at their Offsets.
	Timeline []TimedText `json:"timeline,omitempty"`
	// Snapshots are the timed screenshots of a watched page.
	Snapshots []Snapshot `json:"snapshots,omitempty"`
}

// TimelineAt returns the timeline entry whose text holds byte offset off of
// Text, and false when off falls outside every entry.
func (p *Page) TimelineAt(off int) (TimedText, bool) {
	if p == nil || off < 0 {
		return TimedText{}, false
	}
	for _, t := range p.Timeline {
		if off >= t.Offset && off < t.Offset+len(t.Text) {
			return t, true
		}
	}
	return TimedText{}, false
}

// Responded reports whether the page holds any server response: a rendered
// page, or at least one exchange with a status. A page without one (refused
// address, connection refused, timeout before headers) records a failed
// attempt, not content.
func (p *Page) Responded() bool {
	if p == nil {
		return false
	}
	if p.Rendered {
		return true
	}
	for _, x := range p.Exchanges {
		if x.Status > 0 {
			return true
		}
	}
	return false
}

// Severity says how sure a finding is.
type Severity string

// Severities. Violation: the text alone shows the breach. Review: lawful
// only with proof or facts the page does not show. Info: worth noting.
const (
	SeverityViolation Severity = "violation"
	SeverityReview    Severity = "review"
	SeverityInfo      Severity = "info"
)

// Finding is one rule that one page broke, or may have broken.
type Finding struct {
	ID         string    `json:"id,omitempty"`
	Rule       string    `json:"rule"`
	Title      string    `json:"title"`
	Category   string    `json:"category"` // rule category: licence, advertising …
	Law        string    `json:"law"`
	Article    string    `json:"article,omitempty"`
	Severity   Severity  `json:"severity"`
	Match      string    `json:"match"`   // the original characters matched; empty for an absence
	Snippet    string    `json:"snippet"` // text around the match
	Offset     int       `json:"offset"`  // byte offset of Match in Page.Text; -1 for an absence
	Reason     string    `json:"reason,omitempty"`
	URL        string    `json:"url"`
	Kind       Kind      `json:"kind,omitempty"`
	TargetID   string    `json:"target_id,omitempty"`
	VisitID    string    `json:"visit_id,omitempty"`
	EvidenceID string    `json:"evidence_id,omitempty"`
	Time       time.Time `json:"time,omitzero"`
	// SeenFrom and SeenUntil bound when the matched text was on screen,
	// for findings on a watched live page.
	SeenFrom  time.Time `json:"seen_from,omitzero"`
	SeenUntil time.Time `json:"seen_until,omitzero"`
}

// Artifact is one stored file of a capture.
type Artifact struct {
	Name      string `json:"name"` // path inside the capture, e.g. exchanges/001-response.http
	Key       string `json:"key"`  // key in the blob store
	MediaType string `json:"media_type"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"` // "sha256:<lowercase hex>"
	SM3       string `json:"sm3,omitempty"`
}

// EvidenceRecord indexes one capture: the artifacts that preserve a visit
// and the signed manifest that lists them.
type EvidenceRecord struct {
	ID             string     `json:"id"`
	TargetID       string     `json:"target_id,omitempty"`
	VisitID        string     `json:"visit_id,omitempty"`
	URL            string     `json:"url"`
	CapturedAt     time.Time  `json:"captured_at"`
	ClockSource    string     `json:"clock_source"`
	ManifestKey    string     `json:"manifest_key"`
	ManifestDigest string     `json:"manifest_digest"`
	Artifacts      []Artifact `json:"artifacts"`
	Findings       int        `json:"findings"`
}
