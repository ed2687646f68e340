package rules

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestNormalizeText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ascii unchanged but lower case", "Hello World 42", "hello world 42"},
		{"full-width letters digits punctuation", "ＮＯ．１爆款", "no.1爆款"},
		{"ideographic space between CJK", "最\u3000佳", "最佳"},
		{"space between CJK", "最 佳", "最佳"},
		{"several spaces and tab between CJK", "最 \t 佳", "最佳"},
		{"ASCII punctuation between CJK", "最.佳", "最佳"},
		{"CJK punctuation between CJK", "最，佳。好", "最佳好"},
		{"symbols between CJK", "最★佳", "最佳"},
		{"zero-width space", "最\u200b佳", "最佳"},
		{"zero-width joiner and BOM", "第\u200d\ufeff一", "第一"},
		{"soft hyphen in latin", "to\u00adp1", "top1"},
		{"control characters", "最\x01佳\x7f", "最佳"},
		{"variation selector", "最\ufe0f佳", "最佳"},
		{"line break kept between CJK", "最\n佳", "最\n佳"},
		{"line break run collapses", "最 \r\n \n佳", "最\n佳"},
		{"gap between CJK and latin kept", "浙 ICP备", "浙 icp备"},
		{"punctuation before digits kept", "100%纯棉", "100%纯棉"},
		{"colon before code kept", "代码：9135", "代码:9135"},
		{"whitespace collapses elsewhere", "ab  \t cd\n\n\ne", "ab cd\ne"},
		{"letter-spaced digits join", "建 党 1 0 0 周 年", "建党100周年"},
		{"letter-spaced full-width digits join", "８\u3000０\u3000年", "80年"},
		{"letter-spaced latin joins", "z u i 佳", "zui佳"},
		{"letter-spaced percentage joins", "脱 壳 率 9 9 % 以 上", "脱壳率99%以上"},
		{"percent sign stays apart from a longer number", "增长 50 % 左右", "增长 50 %左右"},
		{"single letter beside CJK joins", "维生素 C 有抗氧化作用", "维生素c有抗氧化作用"},
		{"space beside a longer word stays", "iPhone 15 Pro 第 2 代", "iphone 15 pro 第2代"},
		{"single letters between words stay", "I am a boy, 500 ml", "i am a boy, 500 ml"},
		{"letter-spacing stops at a line break", "a\nb c", "a\nbc"},
		{"compatibility characters", "①㈱ﬁ", "1(株)fi"},
		{"combining sequence composes", "Cafe\u0301", "café"},
		{"half-width katakana", "ｶﾀｶﾅ", "カタカナ"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.in).Text; got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeOffsets(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		find    string // in the normalised text
		wantOrg string // the original characters it maps back to
		wantOff int
	}{
		{"full-width", "爆款ＮＯ．１！", "no.1", "ＮＯ．１", len("爆款")},
		{"space between CJK", "全网最 佳口碑", "最佳", "最 佳", len("全网")},
		{"dot between CJK", "最.佳", "最佳", "最.佳", 0},
		{"zero-width inside", "x最\u200b佳y", "最佳", "最\u200b佳", 1},
		{"zero-width before", "\u200b最佳", "最佳", "最佳", len("\u200b")},
		{"compatibility char maps to whole char", "本店㈱出品", "株", "㈱", len("本店")},
		{"combining mark", "Cafe\u0301 bar", "café", "Cafe\u0301", 0},
		{"upper case", "XX TOP1 YY", "top1", "TOP1", 3},
		{"collapsed spaces", "ab   cd", "ab cd", "ab   cd", 0},
		{"letter-spaced digits map to all of them", "建党 1 0 0 周年", "100", "1 0 0", len("建党 ")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := Normalize(tt.in)
			i := strings.Index(n.Text, tt.find)
			if i < 0 {
				t.Fatalf("%q not in normalised %q", tt.find, n.Text)
			}
			s, e := n.Original(i, i+len(tt.find))
			if got := tt.in[s:e]; got != tt.wantOrg || s != tt.wantOff {
				t.Errorf("Original of %q = %q at %d, want %q at %d", tt.find, got, s, tt.wantOrg, tt.wantOff)
			}
		})
	}
}

// Offsets are monotonic, inside the text and on rune boundaries, for any
// input including invalid UTF-8.
func TestNormalizeOffsetInvariants(t *testing.T) {
	alphabet := []string{"最", "佳", " ", "\n", "．", "Ｎ", "a", "B", "1", "\u200b", "\u0301", "，", "㈱", "★", "\xff", "\xe6\x9c", "ﬁ", "\u3000"}
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 2000; iter++ {
		var b strings.Builder
		for range rng.IntN(30) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		in := b.String()
		checkOffsets(t, in)
	}
}

func checkOffsets(t *testing.T, in string) {
	t.Helper()
	n := Normalize(in)
	if len(n.start) != len(n.Text) || len(n.end) != len(n.Text) {
		t.Fatalf("%q: map lengths %d/%d for %d bytes", in, len(n.start), len(n.end), len(n.Text))
	}
	prev := 0
	for i := 0; i < len(n.Text); {
		_, size := utf8.DecodeRuneInString(n.Text[i:])
		s, e := n.Original(i, i+size)
		if s < prev || s >= e || e > len(in) {
			t.Fatalf("%q: rune at %d maps to [%d,%d), previous start %d", in, i, s, e, prev)
		}
		if !utf8.RuneStart(in[s]) && utf8.ValidString(in) || e < len(in) && !utf8.RuneStart(in[e]) && utf8.ValidString(in) {
			t.Fatalf("%q: rune at %d maps to [%d,%d), not on rune boundaries", in, i, s, e)
		}
		prev = s
		i += size
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"全网最 佳口碑", "ＮＯ．１爆款", "最佳abc12最\u0301佳", "品质e\u0301好", "最\u200b佳", "a\u0301\u0302b", "\xff\xfe最", "第一次 · 第一步：清洁"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkOffsets(t, in)
		// Normalising is idempotent on its own output.
		n := Normalize(in).Text
		if again := Normalize(n).Text; again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, n, again)
		}
		// The plain-run path agrees with the general one, offsets too.
		if fast, slow := normalizeBoth(in); sameNormalized(fast, slow) != "" {
			t.Fatalf("Normalize(%q): plain run and general path differ: %s", in, sameNormalized(fast, slow))
		}
		// The fast paths agree with whole-text NFKC.
		if want := refNormalize(in); n != want && utf8.ValidString(in) {
			t.Fatalf("Normalize(%q) = %q, reference %q", in, n, want)
		}
	})
}

// refNormalize is the slow, obviously right normal form: NFKC of the whole
// text, then the same per-rune steps.
func refNormalize(text string) string {
	b := normBuf{lx: lex()}
	b.reset()
	for _, r := range norm.NFKC.String(text) {
		b.add(r, 0, 1)
	}
	b.flush()
	b.joinSpaced()
	return string(b.out)
}

// The fast path agrees with whole-text NFKC, including around combining
// marks, Hangul jamo, compatibility characters and invalid bytes.
func TestNormalizeFastPathMatchesReference(t *testing.T) {
	alphabet := []string{"最", "佳", "a", "A", "e", "\u0301", "\u0323", "\u302a", "Ａ", "ｶ", "\uff9e", "\u1100", "\u1161",
		"\u11a8", "가", "①", "㈱", "ﬁ", "…", "“", "·", "\u3000", "、", "\u3038", "豈", "\xff", " ", "\n", "，", "\u200b", "ǅ", "İ",
		"¥", "é", "×", "®", "™", "Ω", "Å", "\u0308", "ü", "Ä", "\u0300", "ｰ", "\u3099", "か", "\u309a", "は", "\u0345", "α", "\u0313",
		"\u00a0", "￥", "ﾞ", "ﾟ", "ｶ", "ﾊ", "豈", "\u2002", "½", "ℌ", "\u1161", "\u11a8", "ᄀ", "\uffad", "\u1680", "\x00"}
	rng := rand.New(rand.NewPCG(5, 8))
	for iter := 0; iter < 5000; iter++ {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		in := b.String()
		if got, want := Normalize(in).Text, refNormalize(in); got != want && utf8.ValidString(in) {
			t.Fatalf("Normalize(%q) = %q, reference %q", in, got, want)
		}
	}
}

// normalizeBoth normalises in with and without plainRun.
func normalizeBoth(in string) (fast, slow *Normalized) {
	fast = Normalize(in)
	slowOnly = true
	defer func() { slowOnly = false }()
	return fast, Normalize(in)
}

// sameNormalized reports where two normal forms of one text differ: in
// text, or in the offsets of any character.
func sameNormalized(a, b *Normalized) string {
	if a.Text != b.Text {
		return "text " + a.Text + " vs " + b.Text
	}
	for i := 0; i < len(a.Text); {
		_, size := utf8.DecodeRuneInString(a.Text[i:])
		as, ae := a.Original(i, i+size)
		bs, be := b.Original(i, i+size)
		if as != bs || ae != be {
			return fmt.Sprintf("byte %d maps to [%d,%d) vs [%d,%d)", i, as, ae, bs, be)
		}
		i += size
	}
	return ""
}

// The plain-run path gives the same text and offsets as the general path.
func TestNormalizePlainRunMatchesGeneralPath(t *testing.T) {
	alphabet := []string{"最", "佳", "a", "Z", "9", " ", "  ", "\t", "\n", ",", ":", "%", "/", "，", "。", "、", "：", "（", "）",
		"“", "”", "·", "—", "\u3000", "Ａ", "ｚ", "１", "．", "－", "\u0301", "\u200b", "萬", "ｶ", "①", "\xff", "あ", "가", "㐀",
		"\u00a0", "￥", "¥", "×", "\u2002", "豈", "ﾞ", "\x00", "\x7f", "\u1680", "\uffad"}
	rng := rand.New(rand.NewPCG(21, 34))
	check := func(in string) {
		fast, slow := normalizeBoth(in)
		if d := sameNormalized(fast, slow); d != "" {
			t.Fatalf("Normalize(%q): plain run and general path differ: %s", in, d)
		}
	}
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(16) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		check(b.String())
	}
	check(benchText(32 << 10))
	var ctx normBuf
	ctx.keepGaps = true
	for range 3000 {
		var b strings.Builder
		for range rng.IntN(16) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		in := b.String()
		ctx.run(in)
		fast := string(ctx.out)
		slowOnly = true
		ctx.run(in)
		slowOnly = false
		if slow := string(ctx.out); fast != slow {
			t.Fatalf("keeping gaps, %q: plain run %q, general path %q", in, fast, slow)
		}
	}
}

// The inline paths agree with whole-text NFKC, and plain runs with the
// general path, for text drawn from the whole basic plane mixed with
// characters that combine.
func TestNormalizeWideMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	common := []string{"最", "a", " ", "，", "\x00", "\x7f", "\u0301", "\u3099", "\uff9e", "\u1161", "\u11a8", "\u0308", "\u0345", "가"}
	for range 60000 {
		var b strings.Builder
		for range rng.IntN(8) {
			if rng.IntN(3) == 0 {
				b.WriteString(common[rng.IntN(len(common))])
				continue
			}
			r := rune(rng.IntN(0x10000))
			if rng.IntN(4) == 0 {
				r = rune(0x80 + rng.IntN(0x3000))
			}
			if utf8.ValidRune(r) {
				b.WriteRune(r)
			}
		}
		in := b.String()
		if got, want := Normalize(in).Text, refNormalize(in); got != want {
			t.Fatalf("Normalize(%+q) = %+q, reference %+q", in, got, want)
		}
		if fast, slow := normalizeBoth(in); sameNormalized(fast, slow) != "" {
			t.Fatalf("Normalize(%+q): plain run and general path differ: %s", in, sameNormalized(fast, slow))
		}
	}
}

// segmentBMP, built from the norm package's properties, says what NFKC
// does to each character on its own.
func TestSegmentTable(t *testing.T) {
	tab := segmentBMP()
	for r := rune(utf8.RuneSelf); r < 0x10000; r++ {
		if 0xD800 <= r && r <= 0xDFFF || r == utf8.RuneError {
			continue
		}
		s := string(r)
		n := norm.NFKC.String(s)
		inert := tab.inert[r>>6]&(1<<(r&63)) != 0
		mapped := tab.mapped[r>>6]&(1<<(r&63)) != 0
		switch {
		case inert && n != s:
			t.Fatalf("%U is inert, but NFKC makes it %+q", r, n)
		case mapped && n != string(tab.to[r]):
			t.Fatalf("%U maps to %U, but NFKC makes it %+q", r, tab.to[r], n)
		case (inert || mapped) && !norm.NFKC.PropertiesString(s).BoundaryBefore():
			t.Fatalf("%U is in the table but combines with what precedes it", r)
		}
	}
}
