package crawler

import (
	"bytes"
	"strings"
	"testing"

	xcharset "golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/simplifiedchinese"

	"shopwatch/internal/testparts"
)

// realPage reads a saved real marketplace page from the repository's testdata.
func realPage(t testing.TB, name string) []byte {
	t.Helper()
	return testparts.RealPage(t, name)
}

func gbk(t testing.TB, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode %q as GB18030: %v", s, err)
	}
	return b
}

func TestDecodeHTMLOrder(t *testing.T) {
	const zh = "全网最佳口碑，行业第一品牌"
	longHead := "<script>" + strings.Repeat("var x = 1; // 填充\n", 300) + "</script>"
	tests := []struct {
		name         string
		body         []byte
		contentType  string
		wantCharset  string
		wantDeclared string
		wantSource   string
	}{
		{"utf8 bom beats header", append([]byte{0xEF, 0xBB, 0xBF}, "<p>"+zh+"</p>"...), "text/html; charset=gbk", "utf-8", "gbk", SourceBOM},
		{"utf16le bom", append([]byte{0xFF, 0xFE}, utf16le("<p>"+zh+"</p>")...), "text/html", "utf-16le", "", SourceBOM},
		{"header utf8", []byte("<meta charset=gbk><p>" + zh + "</p>"), "text/html; charset=UTF-8", "utf-8", "utf-8", SourceHeader},
		{"header gbk", gbk(t, "<p>"+zh+"</p>"), "text/html;charset=GBK;", "gb18030", "gbk", SourceHeader},
		{"header quoted gb2312", gbk(t, "<p>"+zh+"</p>"), `text/html; charset="gb2312"`, "gb18030", "gb2312", SourceHeader},
		{"header cp936", gbk(t, "<p>"+zh+"</p>"), "text/html; charset=cp936", "gb18030", "cp936", SourceHeader},
		{"unknown header label falls to meta", gbk(t, `<meta charset="gbk"><p>`+zh+"</p>"), "text/html; charset=bogus", "gb18030", "bogus", SourceMeta},
		{"meta charset", gbk(t, `<head><meta charset="GBK"></head><p>`+zh+"</p>"), "text/html", "gb18030", "gbk", SourceMeta},
		{"meta http-equiv", gbk(t, `<meta http-equiv="Content-Type" content="text/html; charset=gb2312"><p>`+zh+"</p>"), "", "gb18030", "gb2312", SourceMeta},
		{"meta after 3 KB of head", gbk(t, "<html><head>"+longHead+`<meta charset="gbk"></head><body><p>`+zh+"</p>"), "text/html", "gb18030", "gbk", SourceMeta},
		{"meta in comment ignored", gbk(t, `<!-- <meta charset="big5"> --><p>`+zh+"</p>"), "text/html", "gb18030", "", SourceDetected},
		{"meta in script ignored", []byte(`<script>var s = '<meta charset="big5">';</script><p>` + zh + "</p>"), "text/html", "utf-8", "", SourceDetected},
		{"meta after body ignored", gbk(t, `<body><p>`+zh+`</p><meta charset="big5">`), "text/html", "gb18030", "", SourceDetected},
		{"meta utf-16 means utf-8", []byte(`<meta charset="utf-16"><p>` + zh + "</p>"), "text/html", "utf-8", "utf-16", SourceMeta},
		{"meta big5", []byte(`<meta charset="big5"><p>abc</p>`), "text/html", "big5", "big5", SourceMeta},
		{"valid utf8 despite gbk meta", []byte(`<meta charset="gbk"><p>` + zh + "</p>"), "text/html", "utf-8", "gbk", SourceDetected},
		{"undeclared utf8", []byte("<p>" + zh + "</p>"), "text/html", "utf-8", "", SourceDetected},
		{"undeclared ascii", []byte("<p>hello</p>"), "", "utf-8", "", SourceDefault},
		{"undeclared gb18030", gbk(t, "<p>"+zh+"</p>"), "text/html", "gb18030", "", SourceDetected},
		{"undeclared latin1", []byte("<p>caf\xe9 cr\xe8me br\xfbl\xe9e</p>"), "text/html", "windows-1252", "", SourceDefault},
		{"empty", nil, "text/html", "utf-8", "", SourceDefault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, cs, declared, source, err := DecodeHTML(tt.body, tt.contentType)
			if err != nil {
				t.Fatalf("DecodeHTML: %v", err)
			}
			if cs != tt.wantCharset || declared != tt.wantDeclared || source != tt.wantSource {
				t.Errorf("charset, declared, source = %q, %q, %q; want %q, %q, %q", cs, declared, source, tt.wantCharset, tt.wantDeclared, tt.wantSource)
			}
			if strings.Contains(h, "\uFFFD") {
				t.Errorf("decoded text has U+FFFD: %q", h)
			}
			if strings.Contains(string(tt.body), "\x00") || tt.wantCharset == "utf-16le" || bytes.Contains(tt.body, gbk(t, zh)) || bytes.Contains(tt.body, []byte(zh)) {
				if !strings.Contains(h, zh) {
					t.Errorf("decoded text lacks %q: %q", zh, trunc(h))
				}
			}
		})
	}
}

func utf16le(s string) []byte {
	var b []byte
	for _, r := range s {
		if r > 0xFFFF {
			panic("test helper handles the BMP only")
		}
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func TestDecodeHTMLFourByteGB18030(t *testing.T) {
	// U+20BB7 (𠮷) and U+1F600 are outside GBK: GB 18030 encodes them in
	// four bytes, which the GBK decoder rejects.
	const s = "吉祥𠮷😀€"
	body := gbk(t, "<p>"+s+"</p>")
	four := gbk(t, "𠮷")
	if len(four) != 4 {
		t.Fatalf("GB18030 encoding of 𠮷 is % x, want four bytes", four)
	}
	for _, ct := range []string{"text/html; charset=gbk", "text/html; charset=gb2312", "text/html"} {
		h, cs, _, _, err := DecodeHTML(body, ct)
		if err != nil {
			t.Fatalf("DecodeHTML(%q): %v", ct, err)
		}
		if cs != "gb18030" || !strings.Contains(h, s) {
			t.Errorf("DecodeHTML(%q) = %q as %s, want it to contain %q", ct, h, cs, s)
		}
	}
}

func TestDecodeHTMLUserDefinedAreas(t *testing.T) {
	// Icon fonts on Tmall use the GBK user-defined areas; GB 18030 maps
	// them to the Private Use Area.
	tests := []struct {
		in   []byte
		want rune
	}{
		{[]byte{0xAA, 0xA1}, 0xE000},
		{[]byte{0xAF, 0xFE}, 0xE233},
		{[]byte{0xF8, 0xA1}, 0xE234},
		{[]byte{0xFE, 0xFE}, 0xE4C5},
		{[]byte{0xA1, 0x40}, 0xE4C6},
		{[]byte{0xA4, 0x6C}, 0xE612},
		{[]byte{0xA4, 0x80}, 0xE625},
		{[]byte{0xA7, 0xA0}, 0xE765},
	}
	for _, tt := range tests {
		body := append(append(gbk(t, "<i>图标"), tt.in...), gbk(t, "尾</i>")...)
		h, _, _, _, err := DecodeHTML(body, "text/html; charset=gbk")
		if err != nil {
			t.Fatal(err)
		}
		want := "<i>图标" + string(tt.want) + "尾</i>"
		if h != want {
			t.Errorf("% x decodes to %q, want %q", tt.in, h, want)
		}
	}
}

func TestDecodeHTMLRealPages(t *testing.T) {
	tmall := realPage(t, "tmall.html")
	if i := bytes.Index(tmall, []byte(`<meta charset="gbk">`)); i < 100_000 {
		t.Fatalf("fixture changed: tmall meta at %d, the test needs it far into the head", i)
	}
	// The library prescan gives up after 1024 bytes and guesses wrong;
	// this is the failure DecodeHTML exists to avoid.
	if _, name, _ := xcharset.DetermineEncoding(tmall, "text/html"); name == "gbk" || name == "gb18030" {
		t.Logf("x/net/html/charset now finds the tmall charset (%s)", name)
	}
	tests := []struct {
		file, wantCharset, wantSource string
		wantTitle                     string
		wantText                      []string
	}{
		{"tmall.html", "gb18030", SourceMeta, "Apple/苹果 iPhone 11", []string{"苏宁易购官方旗舰店", "店铺动态评分", "累计评价"}},
		{"taobao.html", "utf-8", SourceDetected, "乳白亚克力外壳", []string{"亲，请登录", "淘宝网首页"}},
		{"zhanqi.html", "utf-8", SourceMeta, "英雄联盟直播间", []string{"英雄联盟", "主播"}},
	}
	for _, tt := range tests {
		raw := realPage(t, tt.file)
		h, cs, _, source, err := DecodeHTML(raw, "text/html")
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if cs != tt.wantCharset || source != tt.wantSource {
			t.Errorf("%s: charset %s from %s, want %s from %s", tt.file, cs, source, tt.wantCharset, tt.wantSource)
		}
		// taobao.html itself holds two U+FFFD, saved in its bytes; decoding
		// must add none.
		literal := 0
		if cs == "utf-8" {
			literal = bytes.Count(raw, []byte("\uFFFD"))
		}
		if n := strings.Count(h, "\uFFFD"); n != literal {
			t.Errorf("%s: %d U+FFFD in the decoded page, the bytes hold %d", tt.file, n, literal)
		}
		title, text, _ := ExtractText(h)
		if !strings.Contains(title, tt.wantTitle) {
			t.Errorf("%s: title %q lacks %q", tt.file, title, tt.wantTitle)
		}
		for _, w := range tt.wantText {
			if !strings.Contains(text, w) {
				t.Errorf("%s: text lacks %q", tt.file, w)
			}
		}
	}
}

func TestDecodeHTMLTruncatedUTF8StaysUTF8(t *testing.T) {
	body := []byte("<p>" + strings.Repeat("营业执照信息", 50) + "</p>")
	cut := body[:len(body)-len("</p>")-1] // ends inside a three-byte character
	_, cs, _, _, err := DecodeHTML(cut, "text/html")
	if err != nil {
		t.Fatal(err)
	}
	if cs != "utf-8" {
		t.Errorf("a UTF-8 body cut mid-character decodes as %s, want utf-8", cs)
	}
}

func TestCharsetFromContent(t *testing.T) {
	tests := map[string]string{
		"text/html; charset=gbk":         "gbk",
		"text/html;charset='gb2312'":     "gb2312",
		`text/html; CHARSET = "utf-8" ;`: "utf-8",
		"text/html; charset=":            "",
		"text/html":                      "",
		`text/html; charset="unclosed`:   "",
		"charsetx; charset=big5":         "big5",
	}
	for in, want := range tests {
		if got := charsetFromContent(in); got != want {
			t.Errorf("charsetFromContent(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeHTMLUTF8LabelOnGBBytes(t *testing.T) {
	const zh = "全网最佳口碑，行业第一品牌，国家级品质"
	body := gbk(t, "<html><body><p>"+zh+"</p></body></html>")
	for _, tc := range []struct{ ct, via string }{
		{"text/html; charset=utf-8", "header"},
		{"text/html", "meta"},
	} {
		b := body
		if tc.via == "meta" {
			b = append([]byte(`<meta charset="utf-8">`), body...)
		}
		html, cs, declared, source, err := DecodeHTML(b, tc.ct)
		if err != nil || cs != "gb18030" || declared != "utf-8" || source != SourceDetected || !strings.Contains(html, zh) {
			t.Errorf("%s: charset %q declared %q source %q err %v, text found %v; want gb18030 detected over the utf-8 label",
				tc.via, cs, declared, source, err, strings.Contains(html, zh))
		}
	}
	// UTF-8 with one stray byte keeps its label: the bytes do not read as
	// clean GB 18030.
	mixed := append([]byte("<p>"+zh+"</p>"), 0xff)
	if _, cs, _, source, _ := DecodeHTML(mixed, "text/html; charset=utf-8"); cs != "utf-8" || source != SourceHeader {
		t.Errorf("utf-8 with a stray byte: %q from %q, want utf-8 from the header", cs, source)
	}
}
