package evidence

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"shopwatch/evidence/warc"
)

// Files a bundle holds beside the capture's artifacts and fixed files, to be
// a WACZ 1.1.1 package and to carry its human-readable report. None of them is
// signed: they are derived at export from the signed manifest and the
// artifacts it lists.
const (
	// DatapackageFile is the WACZ package descriptor: every file of the
	// bundle but itself and DatapackageDigestFile, with "sha256:" hash and
	// size.
	DatapackageFile = "datapackage.json"
	// DatapackageDigestFile holds the SHA-256 of DatapackageFile.
	DatapackageDigestFile = "datapackage-digest.json"
	// PagesFile lists the captured page in the WACZ "json-pages-1.0" format.
	PagesFile = "pages/pages.jsonl"
	// IndexFile is the CDXJ index of the WARC records under archive/.
	IndexFile = "indexes/index.cdxj"
	// ReportHTMLFile is the report for people, self-contained but for the
	// screenshots, which it shows from their files in the bundle.
	ReportHTMLFile = "report.html"
	// ReportPDFFile is the same report printed to PDF, screenshots inlined.
	// Absent from bundles exported without a PDF printer.
	ReportPDFFile = "report.pdf"

	// WACZProfile is the datapackage.json profile of WACZ 1.1.1, the
	// version web-archive players (ReplayWeb.page, py-wacz) read.
	WACZProfile = "data-package"
	// WACZVersion is the wacz_version of datapackage.json.
	WACZVersion = "1.1.1"
	// LegacyWACZProfile is the profile of the WACZ 1.2 draft, which
	// bundles exported before carry (without wacz_version). They still
	// verify; ReplayWeb.page refuses them ("Unknown package profile").
	LegacyWACZProfile = "wacz"
	// PagesFormat is the format of the first line of pages.jsonl.
	PagesFormat = "json-pages-1.0"

	MediaPDF = "application/pdf"
)

// WACZ folders whose content the WACZ specification fixes: archive/ holds
// only WARC files, indexes/ only indexes, pages/ only page lists.
const (
	waczArchiveDir = "archive/"
	waczIndexesDir = "indexes/"
	waczPagesDir   = "pages/"
)

// ErrBadWACZ is reported when the WACZ parts of a bundle (datapackage.json,
// datapackage-digest.json, pages.jsonl, the CDXJ index) are malformed or
// disagree with the bundle.
var ErrBadWACZ = errors.New("malformed WACZ part")

// IsBundleFile reports whether name is one of the files a bundle holds
// besides the artifacts its manifest lists: the fixed files, the WACZ
// descriptor files, the page list, the index and the reports.
func IsBundleFile(name string) bool {
	if IsFixedFile(name) {
		return true
	}
	switch name {
	case DatapackageFile, DatapackageDigestFile, PagesFile, IndexFile, ReportHTMLFile, ReportPDFFile, VerifyScriptFile:
		return true
	case RecordFile:
		return true
	}
	return slices.Contains(exportSet, name)
}

// isWARCName reports whether an artifact is a WARC file of the WACZ.
func isWARCName(name string) bool {
	return strings.HasPrefix(name, waczArchiveDir) && strings.HasSuffix(name, ".warc.gz")
}

// checkWACZName returns an error when an artifact cannot sit in a WACZ
// under its name: a bundle file's name, or a WACZ folder it does not
// belong in.
func checkWACZName(name string) error {
	switch {
	case IsBundleFile(name):
		return fmt.Errorf("artifact %q has the name of a bundle file", name)
	case strings.HasPrefix(name, waczArchiveDir) && !isWARCName(name):
		return fmt.Errorf("artifact %q is in archive/, which holds only WARC files (*.warc.gz)", name)
	case strings.HasPrefix(name, waczIndexesDir), strings.HasPrefix(name, waczPagesDir):
		return fmt.Errorf("artifact %q is in a WACZ folder reserved for indexes and page lists", name)
	}
	return nil
}

// Datapackage is the content of datapackage.json: WACZ 1.1.1, a
// Frictionless Data Package with profile "data-package", wacz_version
// "1.1.1" and the main page in mainPageUrl and mainPageDate; home repeats
// the main page for readers of the WACZ 1.2 draft. Bundles exported before
// carry the 1.2 draft's form: profile "wacz", no wacz_version and no
// mainPage fields (see LegacyWACZProfile); the fields new to 1.1.1 are
// omitted when empty so both forms read back to their exact bytes.
type Datapackage struct {
	Profile      string                `json:"profile"`
	WACZVersion  string                `json:"wacz_version,omitempty"`
	Title        string                `json:"title"`
	Description  string                `json:"description"`
	Created      string                `json:"created"` // RFC 3339, UTC: when the bundle was exported
	Software     string                `json:"software"`
	MainPageURL  string                `json:"mainPageUrl,omitempty"`
	MainPageDate string                `json:"mainPageDate,omitempty"` // RFC 3339
	Home         *DatapackageHome      `json:"home,omitempty"`
	Resources    []DatapackageResource `json:"resources"`
}

// DatapackageHome is the page a WACZ reader opens first (WACZ 1.2 draft).
type DatapackageHome struct {
	URL string `json:"url"`
	TS  string `json:"ts"` // RFC 3339
}

// DatapackageResource lists one file of the bundle.
type DatapackageResource struct {
	Name  string `json:"name"`  // unique, derived from Path (see resourceNames)
	Path  string `json:"path"`  // the file's name in the zip
	Hash  string `json:"hash"`  // "sha256:<lowercase hex>"
	Bytes int64  `json:"bytes"` // size
}

// DatapackageDigest is the content of datapackage-digest.json.
type DatapackageDigest struct {
	Path string `json:"path"` // always "datapackage.json"
	Hash string `json:"hash"` // "sha256:<lowercase hex>" of datapackage.json
}

// marshalJSONFile returns v as two-space indented JSON with a final newline
// and no HTML escaping: the form of every JSON file shopwatch writes.
func marshalJSONFile(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// resourceNames returns the datapackage resource name of each path:
// the path in lower case with every character outside [a-z0-9._/-]
// replaced by "_", and "-2", "-3" … appended to a name already taken, so
// names are unique and valid Frictionless names.
func resourceNames(paths []string) []string {
	taken := make(map[string]bool, len(paths))
	out := make([]string, len(paths))
	for i, p := range paths {
		base := strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '/', r == '-':
				return r
			case r >= 'A' && r <= 'Z':
				return r + ('a' - 'A')
			}
			return '_'
		}, p)
		name := base
		for n := 2; taken[name]; n++ {
			name = base + "-" + strconv.Itoa(n)
		}
		taken[name] = true
		out[i] = name
	}
	return out
}

// bundleFile is one file written to a bundle: its name, size and SHA-256.
type bundleFile struct {
	name   string
	size   int64
	sha256 Digest
	sm3    Digest // files written by add only
}

// datapackageFor returns the datapackage.json of a bundle whose files (all
// but the two datapackage files) are files, in zip order.
func datapackageFor(m *Manifest, created time.Time, software string, files []bundleFile) *Datapackage {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.name
	}
	names := resourceNames(paths)
	home := datapackageHome(m)
	dp := &Datapackage{
		Profile:      WACZProfile,
		WACZVersion:  WACZVersion,
		Title:        datapackageTitle(m),
		Description:  datapackageDescription(m),
		Created:      created.UTC().Format(time.RFC3339),
		Software:     software,
		MainPageURL:  home.URL,
		MainPageDate: home.TS,
		Home:         &home,
		Resources:    make([]DatapackageResource, len(files)),
	}
	for i, f := range files {
		dp.Resources[i] = DatapackageResource{Name: names[i], Path: f.name, Hash: f.sha256.String(), Bytes: f.size}
	}
	return dp
}

// datapackageHome is the captured page as the page to open first.
func datapackageHome(m *Manifest) DatapackageHome {
	return DatapackageHome{URL: pageURL(m), TS: m.CapturedAt.UTC().Format(time.RFC3339Nano)}
}

func datapackageTitle(m *Manifest) string {
	return "shopwatch evidence " + m.EvidenceID
}

func datapackageDescription(m *Manifest) string {
	return fmt.Sprintf("Evidence %s: %s captured at %s on %s. "+
		"manifest.json lists every artifact with SHA-256 and SM3 and is signed in manifest.sig (Ed25519, key %s); "+
		"report.html describes the capture.",
		m.EvidenceID, pageURL(m), m.CapturedAt.UTC().Format(time.RFC3339Nano), m.Host, m.SignerKeyID)
}

// pageURL is the URL the page was finally served from.
func pageURL(m *Manifest) string {
	if m.FinalURL != "" {
		return m.FinalURL
	}
	return m.URL
}

// pagesHeader is the first line of pages.jsonl.
type pagesHeader struct {
	Format string `json:"format"`
	ID     string `json:"id"`
	Title  string `json:"title"`
}

// pagesEntry is one page line of pages.jsonl.
type pagesEntry struct {
	ID    string `json:"id"`
	URL   string `json:"url"`
	TS    string `json:"ts"`
	Title string `json:"title,omitempty"`
}

// pagesFile returns pages.jsonl: the header, then the captured page with
// the evidence id as id and the capture time as ts.
func pagesFile(m *Manifest, title string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(pagesHeader{Format: PagesFormat, ID: "pages", Title: "All Pages"}); err != nil {
		return nil, err
	}
	if err := enc.Encode(pagesEntry{ID: m.EvidenceID, URL: pageURL(m), TS: m.CapturedAt.UTC().Format(time.RFC3339Nano), Title: title}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parsePages checks pages.jsonl and returns its page lines.
func parsePages(b []byte) ([]pagesEntry, error) {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, errors.New("not newline-terminated JSON lines")
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var hdr pagesHeader
	if err := json.Unmarshal([]byte(lines[0]), &hdr); err != nil {
		return nil, fmt.Errorf("line 1: %v", err)
	}
	if hdr.Format != PagesFormat {
		return nil, fmt.Errorf("line 1: format %q, want %q", hdr.Format, PagesFormat)
	}
	if hdr.ID == "" {
		return nil, errors.New("line 1: no id")
	}
	var pages []pagesEntry
	for i, l := range lines[1:] {
		var p pagesEntry
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			return nil, fmt.Errorf("line %d: %v", i+2, err)
		}
		if p.URL == "" {
			return nil, fmt.Errorf("line %d: no url", i+2)
		}
		if _, err := time.Parse(time.RFC3339Nano, p.TS); err != nil {
			return nil, fmt.Errorf("line %d: ts %q is not an RFC 3339 time", i+2, p.TS)
		}
		pages = append(pages, p)
	}
	if len(pages) == 0 {
		return nil, errors.New("no page")
	}
	return pages, nil
}

// cdxjRecord is the JSON block of one CDXJ line.
type cdxjRecord struct {
	URL          string `json:"url"`
	Digest       string `json:"digest,omitempty"`
	Mime         string `json:"mime"`
	Offset       int64  `json:"offset"`
	Length       int64  `json:"length"`
	RecordDigest string `json:"recordDigest,omitempty"`
	Status       int    `json:"status"`
	Filename     string `json:"filename"`
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// maxIndexedRecord caps the decompressed size of one WARC record the
// indexer holds in memory.
const maxIndexedRecord = 1 << 30

// indexWARC reads a WARC file written one gzip member per record and
// returns one CDXJ line (without newline) per response and resource
// record. filename is the file's name relative to archive/.
func indexWARC(r io.Reader, filename string) ([]string, error) {
	cr := &countingReader{r: r}
	br := bufio.NewReader(cr)
	var lines []string
	zr := new(gzip.Reader)
	for n := 1; ; n++ {
		offset := cr.n - int64(br.Buffered())
		if _, err := br.Peek(1); errors.Is(err, io.EOF) {
			return lines, nil
		}
		if err := zr.Reset(br); err != nil {
			return nil, fmt.Errorf("index %s: record %d at offset %d: %w", filename, n, offset, err)
		}
		zr.Multistream(false)
		member, err := io.ReadAll(io.LimitReader(zr, maxIndexedRecord+1))
		if err != nil {
			return nil, fmt.Errorf("index %s: record %d at offset %d: %w", filename, n, offset, err)
		}
		if len(member) > maxIndexedRecord {
			return nil, fmt.Errorf("index %s: record %d at offset %d larger than %d bytes", filename, n, offset, maxIndexedRecord)
		}
		length := cr.n - int64(br.Buffered()) - offset
		recs, err := warc.Read(bytes.NewReader(member))
		if err != nil {
			return nil, fmt.Errorf("index %s: gzip member %d at offset %d: %w", filename, n, offset, err)
		}
		if len(recs) != 1 {
			return nil, fmt.Errorf("index %s: gzip member %d at offset %d holds %d records, want one per member", filename, n, offset, len(recs))
		}
		line, ok, err := cdxjLine(&recs[0], filename, offset, length)
		if err != nil {
			return nil, fmt.Errorf("index %s: record %d at offset %d: %w", filename, n, offset, err)
		}
		if ok {
			lines = append(lines, line)
		}
	}
}

// cdxjLine returns the CDXJ line of a response or resource record; ok is
// false for records replay does not look up (warcinfo, request …).
func cdxjLine(rec *warc.Record, filename string, offset, length int64) (line string, ok bool, err error) {
	if rec.Type != "response" && rec.Type != "resource" {
		return "", false, nil
	}
	target := strings.TrimSuffix(strings.TrimPrefix(rec.Headers.Get("WARC-Target-URI"), "<"), ">")
	if target == "" {
		return "", false, fmt.Errorf("%s record without WARC-Target-URI", rec.Type)
	}
	date, err := time.Parse(time.RFC3339Nano, rec.Headers.Get("WARC-Date"))
	if err != nil {
		return "", false, fmt.Errorf("WARC-Date: %w", err)
	}
	c := cdxjRecord{
		URL: target, Digest: rec.Headers.Get("WARC-Payload-Digest"), Offset: offset, Length: length,
		RecordDigest: rec.Headers.Get("WARC-Block-Digest"), Filename: filename,
	}
	if rec.Type == "response" {
		c.Status, c.Mime = httpStatusAndType(rec.Block)
	} else {
		c.Status, c.Mime = http.StatusOK, mediaTypeOnly(rec.Headers.Get("Content-Type"))
	}
	js, err := json.Marshal(c)
	if err != nil {
		return "", false, err
	}
	return surtKey(target) + " " + date.UTC().Format("20060102150405") + " " + string(js), true, nil
}

// httpStatusAndType reads the final status and media type of a response
// block (interim 1xx heads skipped); 0 and "" when the head does not parse.
func httpStatusAndType(block []byte) (int, string) {
	br := bufio.NewReader(bytes.NewReader(block))
	for range 10 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0, ""
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return resp.StatusCode, mediaTypeOnly(resp.Header.Get("Content-Type"))
	}
	return 0, ""
}

func mediaTypeOnly(ct string) string {
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// surtKey is the searchable URL of the CDXJ specification: the URL in lower
// case without its scheme, the host's labels reversed and joined by
// commas (an IP address stays as it is), a non-default port after a colon,
// ")" and the path and query. A URL that is not http(s) is only lowered.
func surtKey(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return strings.ToLower(raw)
	}
	host := strings.ToLower(u.Hostname())
	if net.ParseIP(host) == nil {
		labels := strings.Split(strings.TrimSuffix(host, "."), ".")
		slices.Reverse(labels)
		host = strings.Join(labels, ",")
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && !(u.Scheme == "http" && p == "80") && !(u.Scheme == "https" && p == "443") {
		host += ":" + p
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	return strings.ToLower(host + ")" + path)
}

// parseIndex checks a CDXJ index: three space-separated parts per line,
// lines in byte order, and a JSON block naming a WARC file of the bundle
// (sizes gives the size of each file under archive/, by name relative to
// archive/) with the record inside it. It returns the number of lines.
// An empty index is valid: a WARC may hold no record replay looks up.
func parseIndex(b []byte, sizes map[string]int64) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if b[len(b)-1] != '\n' {
		return 0, errors.New("not newline-terminated")
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for i, l := range lines {
		key, rest, ok1 := strings.Cut(l, " ")
		ts, js, ok2 := strings.Cut(rest, " ")
		if !ok1 || !ok2 || key == "" || len(ts) < 14 || strings.Trim(ts, "0123456789") != "" {
			return 0, fmt.Errorf("line %d is not \"<searchable url> <timestamp> <json>\"", i+1)
		}
		if i > 0 && lines[i-1] > l {
			return 0, fmt.Errorf("line %d is out of order", i+1)
		}
		var c cdxjRecord
		if err := json.Unmarshal([]byte(js), &c); err != nil {
			return 0, fmt.Errorf("line %d: %v", i+1, err)
		}
		size, ok := sizes[c.Filename]
		switch {
		case c.URL == "":
			return 0, fmt.Errorf("line %d: no url", i+1)
		case !ok:
			return 0, fmt.Errorf("line %d: filename %q is not a WARC file of the bundle", i+1, c.Filename)
		case c.Offset < 0 || c.Length <= 0 || c.Offset > size || c.Length > size-c.Offset: // no overflow
			return 0, fmt.Errorf("line %d: record at %d+%d lies outside %s (%d bytes)", i+1, c.Offset, c.Length, c.Filename, size)
		}
	}
	return len(lines), nil
}
