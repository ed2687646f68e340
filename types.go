package shopwatch

import (
	"encoding/json"
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
	Paused       bool      `json:"paused,omitempty"`    // sweeps leave it out until it is resumed
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
	// EvidenceMissing is set when the visit's capture failed after its
	// attempts: its findings are stored without evidence (each says why in
	// Finding.EvidenceMissing), and the next sweep or a resume retries the
	// visit. It is cleared when a later attempt stores its evidence.
	EvidenceMissing bool `json:"evidence_missing,omitempty"`
	// RetryBase is the number of attempts made before the visit was last
	// put back for a retry; its attempt budget counts from there.
	RetryBase int `json:"retry_base,omitempty"`
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
	Duration       time.Duration `json:"-"` // in JSON as duration_seconds
	Err            string        `json:"error,omitempty"`
	// ResolvedIPs are the addresses the host name resolved to when the
	// connection the exchange used was made (also on a reused connection;
	// the address itself for an IP in the URL).
	ResolvedIPs []string `json:"resolved_ips,omitempty"`
	// TLS describes the TLS session the exchange used; nil for plain HTTP.
	TLS *TLSInfo `json:"tls,omitempty"`
	// BodyMissing reports a response that announced a body the browser
	// did not hand over (Chromium lets go of the bytes of an image it could
	// not decode, say): Body is empty but the response was not.
	BodyMissing bool `json:"body_missing,omitempty"`
	// WireBody is the body exactly as it crossed the connection when the
	// response was sent with a transfer coding (Transfer-Encoding:
	// chunked: chunk sizes, extensions and trailer included); nil when the
	// body crossed as it is (Content-Length or end of connection). Body is
	// always the body with the transfer coding removed (de-chunked), its
	// content coding (gzip …) kept. ResponseHeader followed by WireBody,
	// else Body, is the response as it crossed the wire.
	WireBody []byte `json:"-"`
}

// MarshalJSON writes the exchange with its duration in seconds, as every
// JSON output of the command line does.
func (x Exchange) MarshalJSON() ([]byte, error) {
	type plain Exchange
	return json.Marshal(struct {
		plain
		DurationSeconds float64 `json:"duration_seconds"`
	}{plain(x), x.Duration.Seconds()})
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
	Screenshot      []byte     `json:"-"` // PNG: the rendered page, or the static response replayed in a browser
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
	// ScreenshotBy says, for a static page, how its Screenshot was made
	// (the captured response shown in a browser, nothing fetched again)
	// or why it has none.
	ScreenshotBy string `json:"screenshot_by,omitempty"`
	// Robots is the robots.txt exchange of the page's host, recorded for
	// the evidence (it does not block an inspection); nil when not fetched.
	Robots *Exchange `json:"robots,omitempty"`
	// Timeline lists the texts that appeared while a live page was
	// watched; Text then holds them one per line at their Offsets.
	Timeline []TimedText `json:"timeline,omitempty"`
	// Snapshots are the timed screenshots of a watched page.
	Snapshots []Snapshot `json:"snapshots,omitempty"`
	// Regions mark the parts of Text that belong to a page region other
	// than RegionOther (navigation, comments, price …), in order and not
	// overlapping; text outside every span is RegionOther.
	Regions []TextRegion `json:"-"`
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

// Region is the part of a page a text belongs to. Rules judge only the
// regions they apply to: the seller's advertising is in the title,
// description, specifications, price, seller information and the rest of
// the page, not in the site's navigation, the users' comments, news and
// editorial content beside the product, or the footer.
type Region string

// The page regions.
const (
	RegionTitle       Region = "title"       // the product's or room's title
	RegionDescription Region = "description" // the product description
	RegionSpecs       Region = "specs"       // specification and parameter tables and lists (品牌：… 产地：…)
	RegionPrice       Region = "price"       // price and offer
	RegionSeller      Region = "seller"      // seller or shop information, licences
	RegionNavigation  Region = "navigation"  // menus, breadcrumbs, link lists, site and game interface
	RegionComments    Region = "comments"    // user comments, reviews, ratings, chat
	RegionEditorial   Region = "editorial"   // news and editorial articles beside the product, not the seller's
	RegionFooter      Region = "footer"      // the page or site footer
	RegionOther       Region = "other"       // everything else
)

// Regions lists every region, in the order above.
var Regions = []Region{RegionTitle, RegionDescription, RegionSpecs, RegionPrice, RegionSeller,
	RegionNavigation, RegionComments, RegionEditorial, RegionFooter, RegionOther}

// ParseRegion returns the Region named by s, or an error naming s when it
// is not one of Regions.
func ParseRegion(s string) (Region, error) {
	r := Region(strings.ToLower(strings.TrimSpace(s)))
	for _, k := range Regions {
		if r == k {
			return r, nil
		}
	}
	names := make([]string, len(Regions))
	for i, k := range Regions {
		names[i] = string(k)
	}
	return "", fmt.Errorf("unknown page region %q (want %s)", s, strings.Join(names, ", "))
}

// TextRegion marks the bytes Start to End of a page's Text as Region.
type TextRegion struct {
	Region Region `json:"region"`
	Start  int    `json:"start"`
	End    int    `json:"end"`
}

// RegionAt returns the region of byte offset off of a text whose region
// spans are sorted and do not overlap: RegionOther outside every span.
func RegionAt(spans []TextRegion, off int) Region {
	lo, hi := 0, len(spans)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if spans[m].End <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(spans) && spans[lo].Start <= off {
		return spans[lo].Region
	}
	return RegionOther
}

// Location is one place on a page where a finding's text was seen.
type Location struct {
	Offset  int    `json:"offset"` // byte offset in Page.Text
	Region  Region `json:"region,omitempty"`
	Snippet string `json:"snippet,omitempty"`
}

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
	// Region is the page region of the match (of its first location);
	// empty for an absence.
	Region Region `json:"region,omitempty"`
	// Locations lists every place on the page where the same text broke
	// the rule, the first (Offset) included, when there is more than one.
	Locations []Location `json:"locations,omitempty"`
	// EvidenceMissing says why the finding has no evidence yet: its page's
	// capture failed (store full, TSA or object store unreachable …). The
	// visit is retried, and a later capture that finds it again attaches
	// its evidence and clears this. Empty when EvidenceID is set.
	EvidenceMissing string `json:"evidence_missing,omitempty"`

	// A stored finding is one problem seen on one or more visits of its
	// page (see db). VisitID, EvidenceID, Match, Snippet, Offset and Time
	// above are those of the latest sighting; the fields below span all.

	// FirstSeen and LastSeen are when the problem was first and last seen.
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	// TimesSeen counts the visits that saw it.
	TimesSeen int `json:"times_seen,omitempty"`
	// EvidenceIDs are the evidence records of those visits, oldest first.
	EvidenceIDs []string `json:"evidence_ids,omitempty"`
	// State is open while the problem is on the page, gone once a later
	// full visit of the page no longer showed it (at GoneAt).
	State  FindingState `json:"state,omitempty"`
	GoneAt time.Time    `json:"gone_at,omitzero"`
	// History records each change of State, oldest first.
	History []FindingChange `json:"history,omitempty"`

	// Stage is where the finding stands in the office's handling (new
	// until someone reviews it); Lead, CaseNo and Basis are set by the
	// steps that give them, and Reviews records every step with who and
	// when, oldest first.
	Stage   Stage        `json:"stage,omitempty"`
	Lead    *Lead        `json:"lead,omitempty"`
	CaseNo  string       `json:"case_no,omitempty"`
	Basis   string       `json:"basis,omitempty"`
	Reviews []ReviewStep `json:"reviews,omitempty"`
}

// Stage is a step of a finding's handling: new → confirmed or dismissed →
// lead (交办: assigned to a jurisdiction and person, with a due date) → a
// decision (立案 with a case number, 不予立案, 首违不罚 with its legal basis,
// 责令整改) → closed (归档).
type Stage string

// The stages.
const (
	StageNew           Stage = "new"
	StageConfirmed     Stage = "confirmed"
	StageDismissed     Stage = "dismissed"
	StageLead          Stage = "lead"
	StageCase          Stage = "case"          // 立案
	StageNotFiled      Stage = "not-filed"     // 不予立案
	StageFirstOffence  Stage = "first-offence" // 首违不罚
	StageRectification Stage = "rectification" // 责令整改
	StageClosed        Stage = "closed"        // 归档
)

// Lead is a finding handed to a jurisdiction and a person to act on by a
// date (线索交办).
type Lead struct {
	Jurisdiction string    `json:"jurisdiction"`
	Assignee     string    `json:"assignee"`
	Due          time.Time `json:"due"`
}

// ReviewStep is one step of a finding's handling.
type ReviewStep struct {
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	From   Stage     `json:"from"`
	To     Stage     `json:"to"`
	Reason string    `json:"reason,omitempty"` // of a dismissal: one of DismissReasons
	Note   string    `json:"note,omitempty"`
}

// DismissReasons are the reasons a finding may be dismissed for.
var DismissReasons = []string{
	"not-seller-copy", // 非经营者宣传（评论、新闻、游戏界面等）
	"lawful-use",      // 合法使用（如“最佳食用温度”、法定警示语）
	"wrong-match",     // 误报（匹配错误）
	"duplicate",       // 重复线索
	"out-of-area",     // 非本辖区
	"other",           // 其他（须说明）
}

// FindingState is whether a stored finding is still on its page.
type FindingState string

// Finding states.
const (
	FindingOpen FindingState = "open"
	FindingGone FindingState = "gone"
)

// FindingChange is one change of a stored finding's state.
type FindingChange struct {
	At      time.Time    `json:"at"`
	State   FindingState `json:"state"`
	VisitID string       `json:"visit_id,omitempty"` // the visit that showed the change
	Note    string       `json:"note"`
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
