package warc

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"shopwatch"
)

// Version is the version line every written record starts with.
const Version = "WARC/1.1"

// Record types written by this package.
const (
	TypeWarcinfo = "warcinfo"
	TypeRequest  = "request"
	TypeResponse = "response"
	TypeResource = "resource"
	TypeMetadata = "metadata"
)

// Content types of the blocks written by this package.
const (
	ContentTypeFields   = "application/warc-fields"
	ContentTypeRequest  = "application/http;msgtype=request"
	ContentTypeResponse = "application/http;msgtype=response"
	ContentTypeHTML     = "text/html; charset=utf-8"
	ContentTypeText     = "text/plain; charset=utf-8"
	ContentTypePNG      = "image/png"
	ContentTypePEM      = "application/x-pem-file"
	ContentTypeMHTML    = "multipart/related"
	ContentTypePDF      = "application/pdf"
	ContentTypeJSON     = "application/json"
)

// Target URI prefixes of the resource records; the page URL follows.
const (
	URIRenderedDOM = "urn:shopwatch:rendered-dom:"
	URIDecodedHTML = "urn:shopwatch:decoded-html:"
	URIText        = "urn:shopwatch:text:"
	URIScreenshot  = "urn:shopwatch:screenshot:"
	URIMHTML       = "urn:shopwatch:mhtml:"
	URIPDF         = "urn:shopwatch:pdf:"
	URITimeline    = "urn:shopwatch:timeline:"
	// URISnapshot is followed by the snapshot's three-digit number (from
	// 001, as in the capture's snapshots/NNN.png), a colon and the URL.
	URISnapshot = "urn:shopwatch:snapshot:"
)

// conformsTo is the specification the warcinfo record names.
const conformsTo = "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"

// Info describes the capture for the warcinfo record.
type Info struct {
	Software     string    // software name; "shopwatch" when empty
	Version      string    // software version; shopwatch.Version when empty
	Operator     string    // inspector or service account that ran the capture
	Host         string    // host name of the capturing machine
	CaptureTime  time.Time // when the capture began: WARC-Date of every record; page.FetchedAt when zero
	ConfigDigest string    // digest of the configuration in force, e.g. "sha256:…"
	// Extra holds further warcinfo fields, written in name order. Names
	// are tokens without ':'; they may not repeat a field written above.
	Extra map[string]string
}

// reservedInfo are the warcinfo field names Write fills itself.
var reservedInfo = []string{"software", "format", "conformsto", "operator", "hostname", "config-digest"}

// record is one record ready to be written.
type record struct {
	fields Header
	block  []byte
}

// Write writes page as a WARC 1.1 file to w, each record its own gzip
// member. Every record is built and checked before the first byte is
// written, so a page that cannot be written leaves w untouched; a failing
// w may be left with a partial file.
func Write(w io.Writer, page *shopwatch.Page, info Info) error {
	recs, err := build(page, info)
	if err != nil {
		return fmt.Errorf("warc: %w", err)
	}
	zw := gzip.NewWriter(w)
	for i, r := range recs {
		if i > 0 {
			zw.Reset(w)
		}
		if err := r.writeTo(zw); err != nil {
			return fmt.Errorf("warc: write %s record %d: %w", r.fields.Get("WARC-Type"), i+1, err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("warc: write %s record %d: %w", r.fields.Get("WARC-Type"), i+1, err)
		}
	}
	return nil
}

// build assembles the records of page in file order.
func build(page *shopwatch.Page, info Info) ([]record, error) {
	if page == nil {
		return nil, errors.New("nil page")
	}
	when := info.CaptureTime
	if when.IsZero() {
		when = page.FetchedAt
	}
	if when.IsZero() {
		return nil, errors.New("no capture time: set Info.CaptureTime or Page.FetchedAt")
	}
	date := when.UTC().Format(time.RFC3339Nano)

	infoID, err := newRecordID()
	if err != nil {
		return nil, err
	}
	infoBlock, err := warcinfoBlock(info)
	if err != nil {
		return nil, err
	}
	recs := []record{newRecord(TypeWarcinfo, infoID, date, ContentTypeFields, infoBlock, nil)}

	for i, x := range page.Exchanges {
		rs, err := exchangeRecords(x, date, infoID)
		if err != nil {
			return nil, fmt.Errorf("exchange %d (%s): %w", i+1, x.URL, err)
		}
		recs = append(recs, rs...)
	}
	if page.Robots != nil {
		rs, err := exchangeRecords(*page.Robots, date, infoID)
		if err != nil {
			return nil, fmt.Errorf("robots.txt exchange (%s): %w", page.Robots.URL, err)
		}
		recs = append(recs, rs...)
	}

	url := page.FinalURL
	if url == "" {
		url = page.URL
	}
	type res struct {
		uri, ctype string
		block      []byte
		at         time.Time // snapshots: when taken
	}
	var resources []res
	if page.HTML != "" {
		prefix := URIDecodedHTML
		if page.Rendered {
			prefix = URIRenderedDOM
		}
		resources = append(resources, res{uri: prefix + url, ctype: ContentTypeHTML, block: []byte(page.HTML)})
	}
	if page.Text != "" {
		resources = append(resources, res{uri: URIText + url, ctype: ContentTypeText, block: []byte(page.Text)})
	}
	if len(page.Screenshot) > 0 {
		resources = append(resources, res{uri: URIScreenshot + url, ctype: ContentTypePNG, block: page.Screenshot})
	}
	if len(page.MHTML) > 0 {
		resources = append(resources, res{uri: URIMHTML + url, ctype: ContentTypeMHTML, block: page.MHTML})
	}
	if len(page.PDF) > 0 {
		resources = append(resources, res{uri: URIPDF + url, ctype: ContentTypePDF, block: page.PDF})
	}
	for i, sn := range page.Snapshots {
		resources = append(resources, res{uri: SnapshotURI(i, url), ctype: ContentTypePNG, block: sn.PNG, at: sn.At})
	}
	if len(page.Timeline) > 0 {
		tl, err := TimelineJSON(page.Timeline)
		if err != nil {
			return nil, fmt.Errorf("timeline: %w", err)
		}
		resources = append(resources, res{uri: URITimeline + url, ctype: ContentTypeJSON, block: tl})
	}
	for _, rs := range resources {
		if url == "" {
			return nil, errors.New("page has no URL to name its resource records")
		}
		id, err := newRecordID()
		if err != nil {
			return nil, err
		}
		d := Digest(rs.block)
		recs = append(recs, newRecord(TypeResource, id, date, rs.ctype, rs.block, Header{
			{"WARC-Target-URI", rs.uri},
			{"WARC-Warcinfo-ID", infoID},
			{"WARC-Payload-Digest", d},
		}))
		if !rs.at.IsZero() {
			// WARC-Date is the capture's start on every record; when the
			// snapshot was taken goes in a metadata record about it.
			mid, err := newRecordID()
			if err != nil {
				return nil, err
			}
			block := []byte("snapshot-time: " + rs.at.UTC().Format(time.RFC3339Nano) + "\r\n")
			recs = append(recs, newRecord(TypeMetadata, mid, date, ContentTypeFields, block, Header{
				{"WARC-Target-URI", rs.uri},
				{"WARC-Refers-To", id},
				{"WARC-Warcinfo-ID", infoID},
			}))
		}
	}

	for _, r := range recs {
		for _, f := range r.fields {
			if err := checkValue(f.Value); err != nil {
				return nil, fmt.Errorf("%s record field %s: %w", r.fields.Get("WARC-Type"), f.Name, err)
			}
		}
	}
	return recs, nil
}

// SnapshotURI returns the WARC-Target-URI of the i-th snapshot (i from 0)
// of the page at url.
func SnapshotURI(i int, url string) string {
	return fmt.Sprintf("%s%03d:%s", URISnapshot, i+1, url)
}

// TimelineJSON renders a page's timeline as the capture stores it: a JSON
// array, two-space indent, final newline, HTML characters unescaped.
func TimelineJSON(tl []shopwatch.TimedText) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(tl); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// protocols returns the WARC-Protocol values of an exchange, outermost
// last: the HTTP version, then the TLS version when there was TLS.
func protocols(x shopwatch.Exchange) []string {
	var out []string
	switch p := strings.ToUpper(x.Proto); p {
	case "HTTP/1.0", "HTTP/1.1", "HTTP/0.9":
		out = append(out, strings.ToLower(p))
	case "HTTP/2", "HTTP/2.0":
		if x.TLS != nil {
			out = append(out, "h2")
		} else {
			out = append(out, "h2c")
		}
	case "HTTP/3", "HTTP/3.0":
		out = append(out, "h3")
	}
	if x.TLS != nil {
		if v, ok := strings.CutPrefix(x.TLS.Version, "TLS "); ok {
			out = append(out, "tls/"+v)
		} else if v, ok := strings.CutPrefix(x.TLS.Version, "SSLv"); ok {
			out = append(out, "ssl/"+v)
		}
	}
	return out
}

// TLSBlock renders the block of the metadata record that describes the TLS
// session of an exchange: "name: value" lines (tls-version,
// tls-cipher-suite, tls-server-name, tls-alpn, tls-resumed, tls-verified,
// then one resolved-ip per address), an empty line, then the certificate
// chain as presented, leaf first, as PEM CERTIFICATE blocks. Lines end in
// LF. The lines before the first certificate are explanatory text in the
// sense of RFC 7468, section 5.2, so PEM tools read the block as the chain.
func TLSBlock(t *shopwatch.TLSInfo, resolved []string) []byte {
	var b bytes.Buffer
	line := func(name, value string) {
		if value != "" {
			b.WriteString(name + ": " + value + "\n")
		}
	}
	line("tls-version", t.Version)
	line("tls-cipher-suite", t.CipherSuite)
	line("tls-server-name", t.ServerName)
	line("tls-alpn", t.ALPN)
	line("tls-resumed", fmt.Sprint(t.Resumed))
	line("tls-verified", fmt.Sprint(t.Verified))
	for _, ip := range resolved {
		line("resolved-ip", ip)
	}
	b.WriteString("\n")
	b.Write(ChainPEM(t.PeerCertificates))
	return b.Bytes()
}

// ChainPEM returns DER certificates as consecutive PEM CERTIFICATE blocks,
// in the order given.
func ChainPEM(ders [][]byte) []byte {
	var b bytes.Buffer
	for _, der := range ders {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der}) // a bytes.Buffer never fails
	}
	return b.Bytes()
}

// exchangeRecords returns the request and response records of x: both,
// either or none, depending on what crossed the wire, followed by a
// metadata record on its TLS session when it had one.
func exchangeRecords(x shopwatch.Exchange, date, infoID string) ([]record, error) {
	hasReq := len(x.RequestHeader) > 0
	hasRes := len(x.ResponseHeader) > 0
	if !hasReq && !hasRes && x.TLS == nil {
		return nil, nil
	}
	if x.URL == "" {
		return nil, errors.New("exchange has no URL")
	}
	reqID, err := newRecordID()
	if err != nil {
		return nil, err
	}
	resID, err := newRecordID()
	if err != nil {
		return nil, err
	}
	ip := peerIP(x.RemoteAddr)
	protos := protocols(x)
	common := func(other string, both bool) Header {
		h := Header{{"WARC-Target-URI", x.URL}}
		if ip != "" {
			h = append(h, Field{"WARC-IP-Address", ip})
		}
		if both {
			h = append(h, Field{"WARC-Concurrent-To", other})
		}
		for _, p := range protos {
			h = append(h, Field{"WARC-Protocol", p})
		}
		if x.TLS != nil && x.TLS.CipherSuite != "" {
			h = append(h, Field{"WARC-Cipher-Suite", x.TLS.CipherSuite})
		}
		return append(h, Field{"WARC-Warcinfo-ID", infoID})
	}

	var out []record
	both := hasReq && hasRes
	if hasReq {
		out = append(out, newRecord(TypeRequest, reqID, date, ContentTypeRequest, x.RequestHeader, common(resID, both)))
	}
	if hasRes {
		// The block is the response as it crossed the wire, a chunked
		// body with its framing; the payload is the body with the
		// transfer coding removed (the entity-body of WARC 1.1, section
		// 5.9), which is what the payload digest covers.
		wire := x.Body
		if x.WireBody != nil {
			wire = x.WireBody
		}
		block := make([]byte, 0, len(x.ResponseHeader)+len(wire))
		block = append(append(block, x.ResponseHeader...), wire...)
		extra := append(common(reqID, both), Field{"WARC-Payload-Digest", Digest(x.Body)})
		switch {
		case x.BodyTruncated:
			extra = append(extra, Field{"WARC-Truncated", "length"})
		case x.BodyMissing:
			// The payload is incomplete for a reason other than length.
			extra = append(extra, Field{"WARC-Truncated", "unspecified"})
		}
		out = append(out, newRecord(TypeResponse, resID, date, ContentTypeResponse, block, extra))
	}
	if x.TLS != nil {
		id, err := newRecordID()
		if err != nil {
			return nil, err
		}
		h := Header{{"WARC-Target-URI", x.URL}}
		if ip != "" {
			h = append(h, Field{"WARC-IP-Address", ip})
		}
		switch {
		case hasRes:
			h = append(h, Field{"WARC-Concurrent-To", resID})
		case hasReq:
			h = append(h, Field{"WARC-Concurrent-To", reqID})
		}
		for _, p := range protos {
			h = append(h, Field{"WARC-Protocol", p})
		}
		if x.TLS.CipherSuite != "" {
			h = append(h, Field{"WARC-Cipher-Suite", x.TLS.CipherSuite})
		}
		h = append(h, Field{"WARC-Warcinfo-ID", infoID})
		out = append(out, newRecord(TypeMetadata, id, date, ContentTypePEM, TLSBlock(x.TLS, x.ResolvedIPs), h))
	}
	return out, nil
}

// newRecord lays out the fields of a record: type, id and date first,
// then extra, then content type, block digest and length.
func newRecord(typ, id, date, ctype string, block []byte, extra Header) record {
	h := Header{
		{"WARC-Type", typ},
		{"WARC-Record-ID", id},
		{"WARC-Date", date},
	}
	h = append(h, extra...)
	h = append(h,
		Field{"Content-Type", ctype},
		Field{"WARC-Block-Digest", Digest(block)},
		Field{"Content-Length", fmt.Sprint(len(block))},
	)
	return record{fields: h, block: block}
}

// writeTo writes the record: version line, fields, empty line, block and
// the CRLF CRLF that ends every record.
func (r record) writeTo(w io.Writer) error {
	var head bytes.Buffer
	head.WriteString(Version + "\r\n")
	for _, f := range r.fields {
		head.WriteString(f.Name + ": " + f.Value + "\r\n")
	}
	head.WriteString("\r\n")
	if _, err := w.Write(head.Bytes()); err != nil {
		return err
	}
	if _, err := w.Write(r.block); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\r\n\r\n")
	return err
}

// warcinfoBlock renders the warcinfo fields of info.
func warcinfoBlock(info Info) ([]byte, error) {
	sw := info.Software
	if sw == "" {
		sw = "shopwatch"
	}
	ver := info.Version
	if ver == "" {
		ver = shopwatch.Version
	}
	fields := Header{
		{"software", sw + "/" + ver},
		{"format", "WARC File Format 1.1"},
		{"conformsTo", conformsTo},
	}
	if info.Operator != "" {
		fields = append(fields, Field{"operator", info.Operator})
	}
	if info.Host != "" {
		fields = append(fields, Field{"hostname", info.Host})
	}
	if info.ConfigDigest != "" {
		fields = append(fields, Field{"config-digest", info.ConfigDigest})
	}
	names := make([]string, 0, len(info.Extra))
	for k := range info.Extra {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !isToken(k) {
			return nil, fmt.Errorf("warcinfo field name %q is not a token", k)
		}
		if slices.Contains(reservedInfo, strings.ToLower(k)) {
			return nil, fmt.Errorf("warcinfo field %q is written by shopwatch itself", k)
		}
		fields = append(fields, Field{k, info.Extra[k]})
	}
	var b bytes.Buffer
	for _, f := range fields {
		if err := checkValue(f.Value); err != nil {
			return nil, fmt.Errorf("warcinfo field %s: %w", f.Name, err)
		}
		b.WriteString(f.Name + ": " + f.Value + "\r\n")
	}
	return b.Bytes(), nil
}

// Digest returns the WARC digest of b: "sha256:" and lowercase hex.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// newRecordID returns "<urn:uuid:…>" with a random version 4 UUID.
func newRecordID() (string, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", fmt.Errorf("record id: %w", err)
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	h := hex.EncodeToString(u[:])
	return "<urn:uuid:" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:] + ">", nil
}

// peerIP returns the IP address of a "host:port" or bare address, without
// an IPv6 zone, or "" when addr holds none.
func peerIP(addr string) string {
	if addr == "" {
		return ""
	}
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	return ip.WithZone("").Unmap().String()
}

// checkValue refuses field values that would break the record framing.
func checkValue(v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return fmt.Errorf("control character %#x in value %q", c, v)
		}
	}
	return nil
}

// isToken reports whether s is a non-empty field name without separators
// or controls.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}
