package crawler

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// Where the charset of a page came from (Page.CharsetSource).
const (
	SourceBOM      = "bom"      // a byte order mark
	SourceHeader   = "header"   // the Content-Type header
	SourceMeta     = "meta"     // <meta charset> or <meta http-equiv="content-type">
	SourceDetected = "detected" // no usable declaration; the bytes fit the charset
	SourceDefault  = "default"  // nothing fit; windows-1252, or utf-8 for plain ASCII
)

// gbkFamily lists the labels of GB 2312, GBK and GB 18030 and their common
// aliases. They are all decoded with GB 18030, a superset whose decoder
// accepts the four-byte sequences that real GBK pages carry.
var gbkFamily = map[string]bool{
	"gb2312": true, "gb_2312": true, "gb_2312-80": true, "gb-2312": true,
	"csgb2312": true, "csiso58gb231280": true, "iso-ir-58": true, "chinese": true,
	"gbk": true, "x-gbk": true, "cp936": true, "ms936": true, "windows-936": true,
	"gb18030": true, "gb-18030": true, "euc-cn": true, "x-euc-cn": true,
}

// DecodeHTML decodes an HTML body to UTF-8 and says how it chose the
// charset. The order is: a byte order mark; the charset parameter of
// contentType; a <meta charset> or <meta http-equiv="Content-Type"> found by
// scanning the whole head (not only its first 1024 bytes: real pages carry
// their meta after 150 KB of scripts); then detection: valid UTF-8 is UTF-8,
// bytes that form GB 18030 sequences are GB 18030, anything else is
// windows-1252. A label the encoding registry does not know is skipped, as
// browsers do. A declared label the bytes plainly contradict gives way to
// detection: legacy-labelled valid UTF-8 is read as UTF-8, and UTF-8-labelled
// clean GB 18030 as GB 18030 (source SourceDetected, declared kept).
//
// charset is the decoder used ("utf-8", "gb18030", "big5" …); declared is
// the label the header or a meta tag carried, lower-cased, even when it was
// unusable or overridden by a BOM; source is one of the Source constants.
// Invalid bytes become U+FFFD. err is non-nil only if the decoder fails.
func DecodeHTML(body []byte, contentType string) (html string, charset, declared, source string, err error) {
	headerLabel := normLabel(contentTypeCharset(contentType))
	declared = headerLabel

	if name, rest, ok := sniffBOM(body); ok {
		html, err = decodeWith(rest, name)
		return html, name, declared, SourceBOM, err
	}
	if name := lookupLabel(headerLabel); name != "" {
		if mislabelledUTF8(body, name) {
			html, err = decodeWith(body, "utf-8")
			return html, "utf-8", declared, SourceDetected, err
		}
		if mislabelledGB(body, name) {
			html, err = decodeWith(body, "gb18030")
			return html, "gb18030", declared, SourceDetected, err
		}
		html, err = decodeWith(body, name)
		return html, name, declared, SourceHeader, err
	}
	if metaLabel := normLabel(metaCharset(body)); metaLabel != "" {
		if declared == "" {
			declared = metaLabel
		}
		if name := lookupLabel(metaLabel); name != "" {
			// A meta tag read by an ASCII-compatible scan cannot mean a
			// UTF-16 document; the HTML standard reads it as UTF-8.
			switch name {
			case "utf-16le", "utf-16be":
				name = "utf-8"
			case "x-user-defined":
				name = "windows-1252"
			}
			if mislabelledUTF8(body, name) {
				html, err = decodeWith(body, "utf-8")
				return html, "utf-8", declared, SourceDetected, err
			}
			if mislabelledGB(body, name) {
				html, err = decodeWith(body, "gb18030")
				return html, "gb18030", declared, SourceDetected, err
			}
			html, err = decodeWith(body, name)
			return html, name, declared, SourceMeta, err
		}
	}
	name, source := detectCharset(body)
	html, err = decodeWith(body, name)
	return html, name, declared, source, err
}

// sniffBOM recognises the UTF-8 and UTF-16 byte order marks and returns
// the body without it.
func sniffBOM(b []byte) (name string, rest []byte, ok bool) {
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		return "utf-8", b[3:], true
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return "utf-16be", b[2:], true
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		return "utf-16le", b[2:], true
	}
	return "", b, false
}

// normLabel trims and lower-cases a charset label.
func normLabel(label string) string {
	return strings.ToLower(strings.Trim(label, " \t\r\n\f\"'"))
}

// lookupLabel returns the canonical name of the decoder for label, or ""
// when label names no known encoding. Every GBK-family label maps to
// "gb18030".
func lookupLabel(label string) string {
	if label == "" {
		return ""
	}
	if gbkFamily[label] {
		return "gb18030"
	}
	e, name := charset.Lookup(label)
	if e == nil {
		return ""
	}
	if name == "gbk" || name == "gb18030" {
		return "gb18030"
	}
	return name
}

// decoderFor returns the encoding for a canonical name from lookupLabel or
// detectCharset; nil means UTF-8.
func decoderFor(name string) (encoding.Encoding, error) {
	switch name {
	case "utf-8":
		return nil, nil
	case "gb18030":
		return simplifiedchinese.GB18030, nil
	case "windows-1252":
		return charmap.Windows1252, nil
	case "utf-16le":
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), nil
	case "utf-16be":
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), nil
	}
	e, _ := charset.Lookup(name)
	if e == nil {
		return nil, fmt.Errorf("decode html: unknown charset %q", name)
	}
	return e, nil
}

// mislabelledUTF8 reports whether bytes declared as the legacy charset
// name are in fact UTF-8: valid UTF-8 (a sequence cut at the end forgiven)
// with at least four multi-byte sequences.
func mislabelledUTF8(b []byte, name string) bool {
	switch name {
	case "utf-8", "utf-16le", "utf-16be", "replacement":
		return false
	}
	ok, bad := utf8Stats(b)
	return bad == 0 && ok >= 4
}

// mislabelledGB reports whether bytes declared as UTF-8 are in fact GB
// 18030: not valid UTF-8, yet at least four well-formed GB 18030 sequences
// and no bad one. Sellers' pages mislabelled this way read as mojibake in a
// browser, which would also hide their text from the rules; the declared
// label stays in the record and the raw bytes in the evidence.
func mislabelledGB(b []byte, name string) bool {
	if name != "utf-8" {
		return false
	}
	if _, bad := utf8Stats(b); bad == 0 {
		return false
	}
	ok, bad := gb18030Stats(b)
	return bad == 0 && ok >= 4
}

func decodeWith(b []byte, name string) (string, error) {
	if name == "gb18030" {
		return decodeGB18030(b), nil
	}
	e, err := decoderFor(name)
	if err != nil {
		return "", err
	}
	if e == nil {
		if utf8.Valid(b) {
			return string(b), nil
		}
		return strings.ToValidUTF8(string(b), "\uFFFD"), nil
	}
	out, err := e.NewDecoder().Bytes(b)
	if err != nil {
		return "", fmt.Errorf("decode html as %s: %w", name, err)
	}
	return string(out), nil
}

// contentTypeCharset returns the charset parameter of a Content-Type value.
// It is lenient where mime.ParseMediaType is strict, because servers send
// values like `text/html;charset=GBK;`.
func contentTypeCharset(ct string) string {
	_, params, _ := strings.Cut(ct, ";")
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(p, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "charset") {
			return strings.Trim(strings.TrimSpace(v), "\"'")
		}
	}
	return ""
}

// metaCharset scans the head of an HTML document for a charset declared in
// a meta element and returns its label, or "". The scan tokenizes the raw
// bytes (every encoding a meta can declare is ASCII-compatible), so text in
// comments, scripts and styles is not mistaken for a tag; it stops at
// </head> or <body>, and otherwise runs to the end of the bytes.
func metaCharset(b []byte) string {
	z := html.NewTokenizer(bytes.NewReader(b))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch string(name) {
			case "body":
				return ""
			case "meta":
				if hasAttr {
					if label := metaTagCharset(z); label != "" {
						return label
					}
				}
			}
		case html.EndTagToken:
			if name, _ := z.TagName(); string(name) == "head" {
				return ""
			}
		}
	}
}

// metaTagCharset reads the attributes of the meta tag z is on.
func metaTagCharset(z *html.Tokenizer) string {
	var httpEquiv, content string
	for {
		key, val, more := z.TagAttr()
		switch string(key) {
		case "charset":
			if v := strings.TrimSpace(string(val)); v != "" {
				return v
			}
		case "http-equiv":
			httpEquiv = string(val)
		case "content":
			content = string(val)
		}
		if !more {
			break
		}
	}
	if strings.EqualFold(strings.TrimSpace(httpEquiv), "content-type") && content != "" {
		return charsetFromContent(content)
	}
	return ""
}

// charsetFromContent extracts the charset from the content attribute of a
// <meta http-equiv="Content-Type">, as the HTML standard's algorithm does.
func charsetFromContent(s string) string {
	lower := strings.ToLower(s)
	for {
		i := strings.Index(lower, "charset")
		if i < 0 {
			return ""
		}
		s, lower = s[i+len("charset"):], lower[i+len("charset"):]
		t := strings.TrimLeft(s, " \t\n\f\r")
		if !strings.HasPrefix(t, "=") {
			continue
		}
		t = strings.TrimLeft(t[1:], " \t\n\f\r")
		if t == "" {
			return ""
		}
		if q := t[0]; q == '"' || q == '\'' {
			end := strings.IndexByte(t[1:], q)
			if end < 0 {
				return ""
			}
			return t[1 : 1+end]
		}
		end := strings.IndexAny(t, " \t\n\f\r;")
		if end < 0 {
			return t
		}
		return t[:end]
	}
}

// detectCharset guesses the charset of undeclared bytes: UTF-8 when they
// are valid UTF-8 (a sequence cut by the end of the bytes, as in a truncated
// body, is forgiven), GB 18030 when they form GB 18030 sequences, and
// otherwise whichever of the two fits with under 2% bad sequences, falling
// back to windows-1252, which maps every byte.
func detectCharset(b []byte) (name, source string) {
	if utf8.Valid(b) {
		if isASCII(b) {
			return "utf-8", SourceDefault
		}
		return "utf-8", SourceDetected
	}
	u8ok, u8bad := utf8Stats(b)
	if u8bad == 0 {
		return "utf-8", SourceDetected
	}
	gbok, gbbad := gb18030Stats(b)
	if gbok > 0 && gbbad == 0 {
		return "gb18030", SourceDetected
	}
	if gbok > 0 && gbbad*50 <= gbok && gbbad <= u8bad {
		return "gb18030", SourceDetected
	}
	if u8ok > 0 && u8bad*50 <= u8ok {
		return "utf-8", SourceDetected
	}
	return "windows-1252", SourceDefault
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// utf8Stats counts well-formed multi-byte sequences and bad bytes, not
// counting an incomplete sequence at the very end.
func utf8Stats(b []byte) (ok, bad int) {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			if !utf8.FullRune(b[i:]) {
				break
			}
			bad++
			i++
			continue
		}
		ok++
		i += size
	}
	return ok, bad
}

// gb18030Stats counts well-formed two- and four-byte GB 18030 sequences
// and bad bytes, not counting an incomplete sequence at the very end.
func gb18030Stats(b []byte) (ok, bad int) {
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			i++
			continue
		}
		if c == 0xFF {
			bad++
			i++
			continue
		}
		if c == 0x80 { // the euro sign in code page 936
			ok++
			i++
			continue
		}
		if i+1 >= len(b) {
			break
		}
		c2 := b[i+1]
		if (c2 >= 0x40 && c2 <= 0x7E) || (c2 >= 0x80 && c2 <= 0xFE) {
			ok++
			i += 2
			continue
		}
		if c2 >= 0x30 && c2 <= 0x39 {
			if i+3 >= len(b) {
				break
			}
			if c3, c4 := b[i+2], b[i+3]; c3 >= 0x81 && c3 <= 0xFE && c4 >= 0x30 && c4 <= 0x39 {
				ok++
				i += 4
				continue
			}
		}
		bad++
		i++
	}
	return ok, bad
}

// decodeGB18030 decodes GB 18030 with golang.org/x/text, except that the
// two-byte codes of the GBK user-defined areas become the Private Use Area
// characters GB 18030 assigns them. The input is split only at sequence
// boundaries, walking it exactly as the x/text decoder does.
func decodeGB18030(b []byte) string {
	dec := simplifiedchinese.GB18030.NewDecoder()
	var out []byte
	start := 0
	for i := 0; i < len(b); {
		size, pua := gbSequence(b, i)
		if pua != 0 {
			if out == nil {
				out = make([]byte, 0, len(b)+len(b)/2)
			}
			seg, _ := dec.Bytes(b[start:i])
			out = append(out, seg...)
			out = utf8.AppendRune(out, pua)
			start = i + size
		}
		i += size
	}
	if out == nil {
		s, _ := dec.String(string(b))
		return s
	}
	seg, _ := dec.Bytes(b[start:])
	return string(append(out, seg...))
}

// gbSequence returns the length of the GB 18030 sequence at b[i] as the
// x/text decoder parses it, and its Private Use Area rune when it is a code
// of a GBK user-defined area (0 otherwise).
func gbSequence(b []byte, i int) (size int, pua rune) {
	c0 := b[i]
	if c0 <= 0x80 || c0 == 0xFF || i+1 >= len(b) {
		return 1, 0
	}
	c1 := b[i+1]
	switch {
	case 0x40 <= c1 && c1 <= 0x7E, 0x80 <= c1 && c1 <= 0xFE:
		return 2, userDefinedRune(c0, c1)
	case 0x30 <= c1 && c1 <= 0x39:
		if i+3 >= len(b) {
			return 1, 0
		}
		if c2, c3 := b[i+2], b[i+3]; c2 >= 0x81 && c2 <= 0xFE && c3 >= 0x30 && c3 <= 0x39 {
			return 4, 0
		}
	}
	return 1, 0
}

// userDefinedRune maps a two-byte code in one of the three GBK
// user-defined areas to its Private Use Area character, or returns 0.
func userDefinedRune(c0, c1 byte) rune {
	switch {
	case c0 >= 0xAA && c0 <= 0xAF && c1 >= 0xA1 && c1 <= 0xFE:
		return 0xE000 + rune(c0-0xAA)*94 + rune(c1-0xA1)
	case c0 >= 0xF8 && c0 <= 0xFE && c1 >= 0xA1 && c1 <= 0xFE:
		return 0xE234 + rune(c0-0xF8)*94 + rune(c1-0xA1)
	case c0 >= 0xA1 && c0 <= 0xA7 && c1 >= 0x40 && c1 <= 0xA0 && c1 != 0x7F:
		t := rune(c1 - 0x40)
		if c1 > 0x7F {
			t--
		}
		return 0xE4C6 + rune(c0-0xA1)*96 + t
	}
	return 0
}
