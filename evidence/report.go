package evidence

import (
	"bytes"
	"cmp"
	"crypto/x509"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"shopwatch"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/tsa"
)

//go:embed report/report.html.tmpl
var reportSource string

var reportTemplate = template.Must(template.New("report").Parse(reportSource))

// reportZone is the time zone the report shows times in besides UTC:
// China Standard Time (Beijing time), the inspectors' own.
var reportZone = time.FixedZone("UTC+8", 8*3600)

// ReportFileReader returns the bytes of one bundle file by its name in the
// bundle, or an error wrapping fs.ErrNotExist when the bundle has none.
type ReportFileReader func(name string) ([]byte, error)

// RenderReport renders report.html from the files of a bundle: the
// manifest (required), metadata.json, findings.json and environment.json
// when the manifest lists them, the timestamp token with its root, the
// ledger proof, and the images the manifest lists. The same files always
// give the same bytes.
//
// Screenshots are shown from their files in the bundle (relative links),
// or, with inlineImages, embedded as data: URLs so the document stands on
// its own (for printing). Every text taken from the page is HTML-escaped.
//
// The timestamp is labelled 可信时间戳 (trusted timestamp) only when its
// root is one WithTrustedTSARoots names; a token of the built-in authority
// is labelled as self-issued.
func RenderReport(read ReportFileReader, inlineImages bool, opts ...ReportOption) ([]byte, error) {
	var o reportOptions
	for _, opt := range opts {
		opt(&o)
	}
	v, err := newReportView(read, inlineImages)
	if err == nil {
		v.TSA.label(o.trustedRoots)
	}
	if err != nil {
		return nil, fmt.Errorf("render report: %w", err)
	}
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("render report %s: %w", v.EvidenceID, err)
	}
	return buf.Bytes(), nil
}

type reportView struct {
	EvidenceID, URL, FinalURL, Kind, Category, PageTitle string
	Status                                               int
	Rendered                                             bool
	CapturedAt, ClockSource                              string
	Host, Operator, Version, SignerKeyID                 string
	ManifestSHA256, ManifestSM3                          string
	ManifestSize                                         string
	TSA                                                  reportTSA
	Ledger                                               *reportLedger
	Findings                                             []reportFinding
	Screenshots                                          []reportImage
	Artifacts                                            []reportFile
	SealFiles                                            []reportFile
	Env                                                  *reportEnv
	// The extraction record: what the office stated at export (nil
	// without extraction-record.json), the redirect chain from
	// network.json, the tools with their versions and who operated.
	Record        *reportRecord
	Redirects     []reportHop
	Tools         []string
	OperatorShown string
}

type reportRecord struct {
	ForCase               bool
	CaseNo, Cause         string
	Office, OfficeAddress string
	Storage               string
	Officers              []Officer
	Party                 Party
	PartySource           string
	// Blanks pads the officers' signature lines to MinCaseOfficers.
	Blanks []struct{}
}

type reportHop struct {
	N                                    int
	URL, Status, Location, Remote, Error string
}

// ReportOption changes what RenderReport shows.
type ReportOption func(*reportOptions)

type reportOptions struct {
	trustedRoots []string
}

// WithTrustedTSARoots names the roots (RootFingerprint) of the authorities
// the configuration marks as trusted.
func WithTrustedTSARoots(fingerprints ...string) ReportOption {
	return func(o *reportOptions) { o.trustedRoots = append(o.trustedRoots, fingerprints...) }
}

type reportTSA struct {
	Time, Authority, Serial, RootDigest string
	// Label names the kind of timestamp: 可信时间戳 only for a token from
	// an authority configured as trusted (Trusted).
	Label   string
	Trusted bool
	builtin bool // the root is one the built-in authority made
}

// Labels of the timestamp in the reports.
const (
	LabelTrustedTimestamp   = "可信时间戳"
	LabelBuiltinTimestamp   = "内置时间戳（自签发，非第三方可信时间戳）"
	LabelUntrustedTimestamp = "时间戳（时间戳机构未配置为可信）"
	LabelNoTimestamp        = "时间戳"
)

// label sets Label and Trusted from the token's root.
func (t *reportTSA) label(trustedRoots []string) {
	switch {
	case t.Authority == "":
		t.Label = LabelNoTimestamp + " Timestamp"
	case t.RootDigest != "" && slices.Contains(trustedRoots, t.RootDigest):
		t.Trusted = true
		t.Label = LabelTrustedTimestamp + " Trusted timestamp (RFC 3161, authority configured as trusted)"
	case t.builtin:
		t.Label = LabelBuiltinTimestamp + " Built-in timestamp (self-issued by the capture node, not a third-party trusted timestamp)"
	default:
		t.Label = LabelUntrustedTimestamp + " Timestamp (RFC 3161, authority not configured as trusted)"
	}
}

type reportLedger struct {
	Index, Leaf, Size, Seq uint64
	Time, LogID, Root      string
}

type reportFinding struct {
	N                                     int
	Rule, Title, Category, Law, Article   string
	Severity, SeverityLabel               string
	Match, Snippet, Reason, Seen          string
	SnippetPre, SnippetMatch, SnippetPost string
	Offset                                int
}

type reportImage struct {
	Name, SHA256 string
	Src          template.URL
}

type reportFile struct {
	N                     int
	Name, MediaType, Size string
	SHA256, SM3           string
}

type reportEnv struct {
	Summary string
	Checks  []reportEnvCheck
}

type reportEnvCheck struct{ Name, Status, Detail string }

// reportMetadata is the part of metadata.json the report shows.
type reportMetadata struct {
	Kind     string `json:"kind"`
	Category string `json:"category"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Rendered bool   `json:"rendered"`
}

// reportEnvironment is the part of environment.json the report shows.
type reportEnvironment struct {
	OK        bool      `json:"ok"`
	CheckedAt time.Time `json:"checked_at"`
	Host      string    `json:"host"`
	Clock     struct {
		Source      string        `json:"source"`
		Verified    bool          `json:"verified"`
		Offset      time.Duration `json:"offset_ns"`
		Uncertainty time.Duration `json:"uncertainty_ns"`
	} `json:"clock"`
	Checks []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Detail string `json:"detail"`
	} `json:"checks"`
	Problems []string `json:"problems"`
}

func newReportView(read ReportFileReader, inline bool) (*reportView, error) {
	mb, err := read(ManifestFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	m, err := ParseManifest(mb)
	if err != nil {
		return nil, err
	}
	ms := SumAll(mb)
	v := &reportView{
		EvidenceID: m.EvidenceID, URL: m.URL, FinalURL: m.FinalURL,
		CapturedAt: reportTime(m.CapturedAt), ClockSource: m.ClockSource,
		Host: m.Host, Operator: m.Operator, Version: m.ShopwatchVersion, SignerKeyID: m.SignerKeyID,
		ManifestSHA256: ms.SHA256.String(), ManifestSM3: ms.SM3.String(), ManifestSize: groupDigits(ms.Size),
	}
	listed := make(map[string]ManifestEntry, len(m.Artifacts))
	for i, e := range m.Artifacts {
		listed[e.Name] = e
		v.Artifacts = append(v.Artifacts, reportFile{N: i + 1, Name: e.Name, MediaType: e.MediaType,
			Size: groupDigits(e.Size), SHA256: e.SHA256.String(), SM3: e.SM3.String()})
	}
	// optional reads an artifact the manifest lists; nil when it does not.
	optional := func(name string) ([]byte, error) {
		if _, ok := listed[name]; !ok {
			return nil, nil
		}
		b, err := read(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return b, nil
	}

	if b, err := optional(MetadataFile); err != nil {
		return nil, err
	} else if b != nil {
		var md reportMetadata
		if err := json.Unmarshal(b, &md); err != nil {
			return nil, fmt.Errorf("%s: %w", MetadataFile, err)
		}
		v.Kind, v.Category, v.PageTitle, v.Status, v.Rendered = md.Kind, md.Category, md.Title, md.Status, md.Rendered
	}
	if b, err := optional(FindingsFile); err != nil {
		return nil, err
	} else if b != nil {
		var fs []shopwatch.Finding
		if err := json.Unmarshal(b, &fs); err != nil {
			return nil, fmt.Errorf("%s: %w", FindingsFile, err)
		}
		for i, f := range fs {
			v.Findings = append(v.Findings, newReportFinding(i+1, f))
		}
	}
	if b, err := optional(EnvironmentFile); err != nil {
		return nil, err
	} else if b != nil {
		env, err := newReportEnv(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvironmentFile, err)
		}
		v.Env = env
		v.Tools = reportTools(v.Version, b)
	}
	if len(v.Tools) == 0 {
		v.Tools = []string{"shopwatch " + v.Version}
	}
	if b, err := optional(NetworkFile); err != nil {
		return nil, err
	} else if b != nil {
		var n networkFile
		if err := json.Unmarshal(b, &n); err != nil {
			return nil, fmt.Errorf("%s: %w", NetworkFile, err)
		}
		for i, h := range n.RedirectChain {
			hop := reportHop{N: i + 1, URL: h.URL, Location: h.Location, Remote: h.RemoteAddr, Error: h.Error}
			if h.Status != 0 {
				hop.Status = strconv.Itoa(h.Status)
			}
			v.Redirects = append(v.Redirects, hop)
		}
	}
	if err := v.record(read); err != nil {
		return nil, err
	}
	for _, e := range m.Artifacts {
		if !isReportImage(e.MediaType) {
			continue
		}
		img := reportImage{Name: e.Name, SHA256: e.SHA256.String(), Src: template.URL((&url.URL{Path: e.Name}).String())}
		if inline {
			b, err := read(e.Name)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.Name, err)
			}
			img.Src = template.URL("data:" + e.MediaType + ";base64," + base64.StdEncoding.EncodeToString(b))
		}
		v.Screenshots = append(v.Screenshots, img)
	}

	if err := v.seal(read, mb); err != nil {
		return nil, err
	}
	return v, nil
}

// record fills in the extraction record from extraction-record.json, when
// the bundle has one, and who operated.
func (v *reportView) record(read ReportFileReader) error {
	v.OperatorShown = v.Operator
	b, err := read(RecordFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", RecordFile, err)
	}
	var c CaseRecord
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("%s: %w", RecordFile, err)
	}
	r := &reportRecord{ForCase: c.ForCase(), CaseNo: c.CaseNo, Cause: c.Cause, Office: c.Office, OfficeAddress: c.OfficeAddress,
		Storage: c.Storage, Officers: c.Officers, Party: c.Party}
	switch c.Party.Source {
	case "page":
		r.PartySource = "取自页面展示的营业执照信息 (from the licence block on the page, text.txt)"
	case "given":
		r.PartySource = "导出时由执法人员提供 (given by the officers at export)"
	default:
		r.PartySource = "页面未展示可识别的营业执照信息 (no readable licence block on the page)"
	}
	for range max(0, MinCaseOfficers-len(c.Officers)) {
		r.Blanks = append(r.Blanks, struct{}{})
	}
	v.Record = r
	if len(c.Officers) > 0 {
		names := make([]string, len(c.Officers))
		for i, o := range c.Officers {
			names[i] = o.String()
		}
		v.OperatorShown = strings.Join(names, "、")
		if v.Operator != "" {
			v.OperatorShown += "（采集账户 capture operator: " + v.Operator + "）"
		}
	}
	return nil
}

// reportTools lists the tools of the capture with their versions, from
// environment.json.
func reportTools(version string, env []byte) []string {
	var e struct {
		OS        string            `json:"os"`
		Arch      string            `json:"arch"`
		GoVersion string            `json:"go_version"`
		Version   string            `json:"shopwatch_version"`
		Versions  map[string]string `json:"versions"`
	}
	if json.Unmarshal(env, &e) != nil {
		return nil
	}
	tools := []string{"shopwatch " + cmp.Or(e.Version, version)}
	if e.GoVersion != "" || e.OS != "" {
		tools[0] += fmt.Sprintf("（%s, %s/%s）", e.GoVersion, e.OS, e.Arch)
	}
	for _, k := range slices.Sorted(maps.Keys(e.Versions)) {
		tools = append(tools, k+" "+e.Versions[k])
	}
	return tools
}

// seal fills in the timestamp, the TSA root and the ledger position.
func (v *reportView) seal(read ReportFileReader, manifest []byte) error {
	optional := func(name string) ([]byte, error) {
		b, err := read(name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		v.SealFiles = append(v.SealFiles, reportFileOf(name, b))
		return b, nil
	}
	for _, name := range []string{SignatureFile, SignerPubFile} {
		if _, err := optional(name); err != nil {
			return err
		}
	}
	tsr, err := optional(TimestampFile)
	if err != nil {
		return err
	}
	rootPEM, err := optional(TSARootFile)
	if err != nil {
		return err
	}
	proof, err := optional(LedgerProofFile)
	if err != nil {
		return err
	}
	v.TSA.Time = "—（证据包无时间戳 no timestamp in the bundle）"
	var roots *x509.CertPool
	if rootPEM != nil {
		cert, err := x509.ParseCertificate(pemBlock(rootPEM))
		if err != nil {
			return fmt.Errorf("%s: %w", TSARootFile, err)
		}
		v.TSA.RootDigest = SumBytes(SHA256, cert.Raw).String()
		v.TSA.builtin = tsa.IsBuiltinRoot(cert)
		roots = x509.NewCertPool()
		roots.AddCert(cert)
	}
	if tsr != nil {
		info, err := tsa.Verify(tsr, manifest, roots)
		if err != nil {
			return fmt.Errorf("%s: %w", TimestampFile, err)
		}
		v.TSA.Time = reportTime(info.GenTime)
		v.TSA.Authority = info.TSA
		v.TSA.Serial = info.Serial.String()
	}
	if proof != nil {
		p, err := ledger.ParseProof(proof)
		if err != nil {
			return fmt.Errorf("%s: %w", LedgerProofFile, err)
		}
		v.Ledger = &reportLedger{Index: p.LeafIndex, Leaf: p.LeafIndex + 1, Size: p.TreeSize, Seq: p.Checkpoint.Seq,
			Time: reportTime(p.Checkpoint.Time), LogID: p.LogID, Root: p.Root.String()}
	}
	return nil
}

func reportFileOf(name string, b []byte) reportFile {
	s := SumAll(b)
	return reportFile{Name: name, Size: groupDigits(s.Size), SHA256: s.SHA256.String(), SM3: s.SM3.String()}
}

func newReportFinding(n int, f shopwatch.Finding) reportFinding {
	r := reportFinding{N: n, Rule: f.Rule, Title: f.Title, Category: f.Category, Law: f.Law, Article: f.Article,
		Severity: string(f.Severity), Match: f.Match, Snippet: f.Snippet, Reason: f.Reason, Offset: f.Offset}
	if r.Title == "" {
		r.Title = f.Rule
	}
	switch f.Severity {
	case shopwatch.SeverityViolation:
		r.SeverityLabel = "违法 violation"
	case shopwatch.SeverityReview:
		r.SeverityLabel = "需核查 review"
	case shopwatch.SeverityInfo:
		r.SeverityLabel = "提示 info"
	default:
		r.SeverityLabel = string(f.Severity)
	}
	r.SnippetPre = f.Snippet
	if f.Match != "" {
		if i := strings.Index(f.Snippet, f.Match); i >= 0 {
			r.SnippetPre, r.SnippetMatch, r.SnippetPost = f.Snippet[:i], f.Match, f.Snippet[i+len(f.Match):]
		}
	}
	if !f.SeenFrom.IsZero() {
		r.Seen = reportTime(f.SeenFrom) + " — " + reportTime(f.SeenUntil)
	}
	return r
}

func newReportEnv(b []byte) (*reportEnv, error) {
	var e reportEnvironment
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	verdict := "通过 passed"
	if !e.OK {
		verdict = "未通过 failed: " + strings.Join(e.Problems, "; ")
	}
	clock := "未核验 unverified"
	if e.Clock.Verified {
		clock = fmt.Sprintf("已核验 verified, offset %v ± %v", e.Clock.Offset, e.Clock.Uncertainty)
	}
	env := &reportEnv{Summary: fmt.Sprintf("%s（%d 项检查 checks，%s，主机 host %s）；时钟 clock: %s, %s",
		verdict, len(e.Checks), reportTime(e.CheckedAt), e.Host, e.Clock.Source, clock)}
	for _, c := range e.Checks {
		env.Checks = append(env.Checks, reportEnvCheck{Name: c.Name, Status: c.Status, Detail: c.Detail})
	}
	return env, nil
}

// isReportImage reports whether the report shows an artifact of this media
// type as a picture.
func isReportImage(media string) bool {
	switch media {
	case MediaPNG, "image/jpeg", "image/gif", "image/webp":
		return true
	}
	return false
}

// reportTime shows t in China Standard Time and in UTC.
func reportTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(reportZone).Format("2006-01-02 15:04:05.999999999 北京时间") + " / " + t.UTC().Format(time.RFC3339Nano)
}

// groupDigits writes n with thousands separators.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
