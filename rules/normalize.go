package rules

import (
	"bytes"
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Normalized is text in the form rules match against, together with a map
// from every byte of it back to the characters of the original text.
//
// The normal form is:
//   - NFKC, so full-width letters, digits and punctuation become their
//     ASCII forms and compatibility characters (①, ㈱, ﬁ) their plain forms;
//   - lower case (simple Unicode lower-casing after NFKC);
//   - traditional characters folded to simplified ones, and look-alike
//     characters (Greek and Cyrillic letters in Latin words, 蕞 for 最,
//     circled digits NFKC leaves alone) folded to their plain forms, by the
//     tables in configs/lexicon (traditional.yaml, variants.yaml);
//   - without control characters other than white space, format characters
//     (zero-width space and joiners, soft hyphen, BOM, bidi marks) and
//     combining marks (variation selectors and marks that NFKC could not
//     compose);
//   - with white space and punctuation or symbols between two CJK characters
//     removed, so that 最 佳, 最.佳 and 最★佳 all read 最佳. A run that holds a
//     line break is kept (as one line break): text extracted from markup puts
//     block boundaries on separate lines, and joining them would make words
//     out of the end of one block and the start of the next;
//   - with every other run of white space collapsed to one space, or to one
//     line break when the run holds one.
//
// Patterns are put through the same normalisation when a rule set is loaded,
// so a pattern and the text it should match always agree.
type Normalized struct {
	// Text is the normalised text.
	Text  string
	start []int32
	end   []int32
}

// Normalize returns the normal form of text with its offset map.
func Normalize(text string) *Normalized {
	var b normBuf
	b.run(text)
	return &Normalized{Text: string(b.out), start: b.start, end: b.end}
}

// Original returns the byte range [start, end) of the original text that
// the normalised bytes Text[i:j] came from. i and j must lie on rune
// boundaries of Text with i < j. The range covers whole original
// characters: a normalised character that came from a compatibility
// character (Ｎ, ㈱) maps back to that whole character, and characters
// dropped inside the range (the space in 最 佳) are part of it.
func (n *Normalized) Original(i, j int) (start, end int) {
	return int(n.start[i]), int(n.end[j-1])
}

// charClass sorts normalised runes for the gap and drop rules above.
type charClass uint8

const (
	clsOther charClass = iota // letters, digits and everything else kept as is
	clsCJK                    // Han, kana, Hangul: gaps between two of them vanish
	clsSpace                  // white space other than line breaks
	clsBreak                  // line breaks
	clsPunct                  // punctuation and symbols
	clsDrop                   // removed everywhere
)

var asciiClass = func() (t [utf8.RuneSelf]charClass) {
	for c := range t {
		switch {
		case c == '\n' || c == '\r':
			t[c] = clsBreak
		case c == ' ' || c == '\t' || c == '\v' || c == '\f':
			t[c] = clsSpace
		case c < 0x20 || c == 0x7f:
			t[c] = clsDrop
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			t[c] = clsOther
		default:
			t[c] = clsPunct
		}
	}
	return t
}()

// isCJK reports whether r is a character between which gaps are ignored.
func isCJK(r rune) bool {
	switch {
	case 0x4E00 <= r && r <= 0x9FFF, // CJK unified ideographs
		0x3400 <= r && r <= 0x4DBF,   // extension A
		0x20000 <= r && r <= 0x3134F, // extensions B–G
		0xF900 <= r && r <= 0xFAFF,   // compatibility ideographs (rare after NFKC)
		r == 0x3005 || r == 0x3007,   // 々 〇
		0x3041 <= r && r <= 0x3096,   // hiragana
		0x30A1 <= r && r <= 0x30FA,   // katakana (not the middle dot 30FB)
		r == 0x30FC,                  // prolonged sound mark
		0xAC00 <= r && r <= 0xD7A3:   // Hangul syllables
		return true
	}
	return false
}

func classify(r rune) charClass {
	if r < utf8.RuneSelf {
		return asciiClass[r]
	}
	if r < 0x10000 {
		return bmpClass()[r]
	}
	return classifySlow(r)
}

// bmpClass is classify for the basic multilingual plane, as a table.
var bmpClass = sync.OnceValue(func() *[0x10000]charClass {
	t := new([0x10000]charClass)
	for r := range rune(0x10000) {
		t[r] = classifySlow(r)
	}
	return t
})

func classifySlow(r rune) charClass {
	if r < utf8.RuneSelf {
		return asciiClass[r]
	}
	if isCJK(r) {
		return clsCJK
	}
	switch {
	case r == 0x85 || r == 0x2028 || r == 0x2029:
		return clsBreak
	case unicode.IsSpace(r):
		return clsSpace
	case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Mn, unicode.Me, unicode.Co):
		return clsDrop
	case unicode.IsPunct(r) || unicode.IsSymbol(r):
		return clsPunct
	}
	return clsOther
}

func isASCIIAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || 'A' <= c && c <= 'Z'
}

// pendRune is a gap character seen after a CJK character, held until the
// next kept character decides whether the gap vanishes.
type pendRune struct {
	r    rune
	cls  charClass
	s, e int32
}

// normBuf is the reusable working state of the normaliser. Check keeps
// normBufs in a pool so that normalising a page allocates nothing once the
// buffers have grown to the page size.
type normBuf struct {
	dropIdx   []int // joinSpaced's scratch: the spaces it drops
	out       []byte
	start     []int32 // per byte of out: where its source starts in the original
	end       []int32 // per byte of out: where its source ends in the original
	pend      []pendRune
	pendBreak bool
	prevCJK   bool   // the last kept non-gap character was CJK
	tmp       []byte // NFKC output of one segment
	lx        *lexicon
	folds     *foldBits // which runes lx folds
	keepGaps  bool      // keep punctuation between CJK characters (context of a sentence exception)
	foldsOf   *lexicon
}

// foldSets holds foldSet's answers.
var foldSets sync.Map // *lexicon → *foldBits

// foldBits are the runes a lexicon folds, as bitmaps: most runes are not
// folded, and testing a bit is cheaper than a map lookup or a load from
// the large cjkFold table.
type foldBits struct {
	bmp [0x10000 / 64]uint64                // basic-plane runes lx.fold maps
	cjk [(0x9FFF - 0x4E00 + 64) / 64]uint64 // ideographs lx.cjkFold maps (index r-0x4E00)
	gap [0x10000 / 64]uint64                // non-ASCII runes that are simple gaps (isSimpleGap)
}

func (f *foldBits) has(r rune) bool { return r >= 0x10000 || f.bmp[r>>6]&(1<<(r&63)) != 0 }

func (f *foldBits) hasCJK(i rune) bool { return f.cjk[i>>6]&(1<<(i&63)) != 0 }

// foldSet returns the runes lx folds.
func foldSet(lx *lexicon) *foldBits {
	if v, ok := foldSets.Load(lx); ok {
		return v.(*foldBits)
	}
	set := new(foldBits)
	for r := range lx.fold {
		if r < 0x10000 {
			set.bmp[r>>6] |= 1 << (r & 63)
		}
	}
	for i, f := range lx.cjkFold {
		if f != 0 {
			set.cjk[i>>6] |= 1 << (i & 63)
		}
	}
	for r := rune(utf8.RuneSelf); r < 0x10000; r++ {
		if isSimpleGap(r, set) {
			set.gap[r>>6] |= 1 << (r & 63)
		}
	}
	v, _ := foldSets.LoadOrStore(lx, set)
	return v.(*foldBits)
}

func (b *normBuf) reset() {
	b.out = b.out[:0]
	b.start = b.start[:0]
	b.end = b.end[:0]
	b.pend = b.pend[:0]
	b.pendBreak = false
	b.prevCJK = false
}

// run normalises text into b.
//
// Most marketplace text is CJK ideographs, ASCII and full-width
// punctuation, whose NFKC forms are known and which never combine with a
// neighbour. Such a rune followed by another such rune (or by nothing) is
// mapped directly; anything else goes to the norm package one segment
// (from boundary to boundary) at a time. Both paths keep every output rune
// tied to its input span.
func (b *normBuf) run(text string) {
	b.reset()
	if b.lx == nil {
		b.lx = lex()
	}
	if b.folds == nil || b.foldsOf != b.lx {
		b.folds, b.foldsOf = foldSet(b.lx), b.lx
	}
	fold := &b.lx.cjkFold
	if cap(b.out) < len(text) {
		b.out = make([]byte, 0, len(text))
		b.start = make([]int32, 0, len(text))
		b.end = make([]int32, 0, len(text))
	}
	i := 0
	r, size := decodeAt(text, 0)
	for i < len(text) {
		j := i + size
		r2, size2 := decodeAt(text, j)
		if m, ok := fastNFKC(r); ok && (j == len(text) || r2 < utf8.RuneSelf || isFastStarter(r2)) {
			switch {
			case 0x4E00 <= r && r <= 0x9FFF && fold[r-0x4E00] != 0:
				b.add(fold[r-0x4E00], int32(i), int32(j))
			case 0x4E00 <= r && r <= 0x9FFF:
				// The commonest case, inline: an ideograph is kept as is
				// and ends any gap between CJK characters.
				if len(b.pend) > 0 {
					if b.pendBreak {
						b.flush()
					}
					b.pend = b.pend[:0]
					b.pendBreak = false
				}
				b.appendSame(text[i:j], int32(i))
				b.prevCJK = true
				if k := b.plainRun(text, j); k > j {
					i = k
					r, size = decodeAt(text, k)
					continue
				}
			case r < utf8.RuneSelf && asciiClass[r] == clsOther:
				if len(b.pend) > 0 {
					b.flush()
				}
				if 'A' <= r && r <= 'Z' {
					r += 'a' - 'A'
				}
				b.emit(r, int32(i), int32(j))
				b.prevCJK = false
				if k := b.plainRun(text, j); k > j {
					i = k
					r, size = decodeAt(text, k)
					continue
				}
			default:
				b.add(m, int32(i), int32(j))
			}
			i, r, size = j, r2, size2
			continue
		}
		n := norm.NFKC.NextBoundaryInString(text[i:], true)
		if n <= 0 {
			n = len(text) - i
		}
		b.tmp = norm.NFKC.AppendString(b.tmp[:0], text[i:i+n])
		b.addAll(b.tmp, int32(i), int32(i+n))
		i += n
		r, size = decodeAt(text, i)
	}
	b.flush()
	b.joinSpaced()
}

// joinSpaced drops the spaces of letter-spaced text (建 党 1 0 0 周 年,
// z u i 佳, ８　０　年, 9 9 % 以 上): a space goes when the word on one side
// of it is a single ASCII letter, digit or percent sign and the word on the
// other side is one too,
// or ends (starts) with a CJK character there. Gaps between two CJK
// characters are already gone, so what is left is the letters and digits
// sellers space out to dodge filters; a space beside a longer word
// (iPhone 15, 500 ml, I am a boy) stays. Line breaks stay too.
func (b *normBuf) joinSpaced() {
	out := b.out
	drop := b.dropIdx[:0]
	for k := 1; k+1 < len(out); k++ {
		j := bytes.IndexByte(out[k:len(out)-1], ' ')
		if j < 0 {
			break
		}
		k += j
		if b.spacedGap(k) {
			drop = append(drop, k)
		}
	}
	b.dropIdx = drop
	if len(drop) == 0 {
		return
	}
	w := drop[0]
	for i, k := range drop {
		next := len(out)
		if i+1 < len(drop) {
			next = drop[i+1]
		}
		n := copy(out[w:], out[k+1:next])
		copy(b.start[w:], b.start[k+1:next])
		copy(b.end[w:], b.end[k+1:next])
		w += n
	}
	b.out, b.start, b.end = out[:w], b.start[:w], b.end[:w]
}

// spacedGap reports whether the space at out[k], with a character on
// each side, parts letter-spaced characters (joinSpaced).
func (b *normBuf) spacedGap(k int) bool {
	out := b.out
	isWordEnd := func(i int) bool { return i < 0 || i >= len(out) || out[i] == ' ' || out[i] == '\n' }
	// A percent sign counts as a letter here: 9 9 % 以 上 is 99%以上.
	unit := func(c byte) bool { return isASCIIAlnum(c) || c == '%' }
	leftSingle := unit(out[k-1]) && isWordEnd(k-2)
	rightSingle := unit(out[k+1]) && isWordEnd(k+2)
	if !leftSingle && !rightSingle {
		return false
	}
	if leftSingle && rightSingle {
		return true
	}
	if leftSingle {
		r, _ := utf8.DecodeRune(out[k+1:])
		return isCJK(r)
	}
	r, _ := utf8.DecodeLastRune(out[:k])
	return isCJK(r)
}

// slowOnly turns plainRun off; tests compare the two paths.
var slowOnly bool

// plainRun normalises text from i on, straight to the output with its
// offsets, for as long as it holds the common characters whose normal form
// needs no look-around: ideographs that fold to nothing else, ASCII
// letters, digits, punctuation and white space, full-width ASCII and the
// punctuation of isSimpleGap. It returns where it stopped (i when it did
// nothing); run goes on from there. The caller has just kept a character,
// so no gap is pending. Gaps after an ideograph are decided on the spot
// (gapScan): dropped when an ideograph follows, kept (as flush would keep
// them) when a letter, a digit or the end follows; anything else stops
// the run, and run holds the gap as pending. As in run, the last character
// handled must be followed by ASCII, a fast rune or nothing; otherwise the
// run backs off before it.
func (b *normBuf) plainRun(text string, i int) int {
	if slowOnly {
		return i
	}
	fb := b.folds
	n := len(b.out)
	room := n + len(text) - i
	b.grow(room)
	if cap(b.out) < room {
		b.out = slices.Grow(b.out, room-len(b.out))
	}
	out, st, en := b.out[n:room], b.start[n:room], b.end[n:room]
	o, k := 0, i
	prevCJK := b.prevCJK
	keepTo := 0 // gap characters before keepTo are kept, not held
	// Where the run stood before the last character it handled.
	lastO, lastK, lastCJK := 0, i, prevCJK
loop:
	for k < len(text) {
		c := text[k]
		// A run of ideographs that stay as they are (plainIdeograph,
		// inline): their bytes are copied as one block, and only the
		// offsets are written per ideograph.
		if c >= 0xE4 && c <= 0xE9 {
			k0 := k
			for k+2 < len(text) {
				c0, c1, c2 := text[k], text[k+1], text[k+2]
				r := rune(c0&0x0F)<<12 | rune(c1&0x3F)<<6 | rune(c2&0x3F)
				if c0 < 0xE4 || c0 > 0xE9 || c1&0xC0 != 0x80 || c2&0xC0 != 0x80 ||
					r < 0x4E00 || fb.cjk[(r-0x4E00)>>6]&(1<<((r-0x4E00)&63)) != 0 {
					break
				}
				st[o], en[o+2] = int32(k), int32(k+3)
				o, k = o+3, k+3
			}
			if n := k - k0; n > 0 {
				copy(out[o-n:o], text[k0:k])
				lastO, lastK, lastCJK = o-3, k-3, n > 3 || prevCJK
				prevCJK = true
				continue
			}
		}
		// Otherwise one ASCII character m (perhaps the normal form of a
		// full-width one), or punctuation kept as it is (same).
		m, size, same := c, 1, false
		if c >= utf8.RuneSelf {
			r, sz := decodeAt(text, k)
			switch {
			case 0xFF01 <= r && r <= 0xFF5E:
				m = byte(r - 0xFF01 + 0x21)
			case r == 0x3000:
				m = ' '
			case r < 0x10000 && fb.gap[r>>6]&(1<<(r&63)) != 0:
				if f, _ := fastNFKC(r); f < utf8.RuneSelf {
					m = byte(f)
				} else {
					same = true
				}
			default:
				break loop
			}
			size = sz
		}
		cls := clsPunct
		if !same {
			cls = asciiClass[m]
		}
		switch cls {
		case clsOther:
			lastO, lastK, lastCJK = o, k, prevCJK
			if 'A' <= m && m <= 'Z' {
				m += 'a' - 'A'
			}
			out[o], st[o], en[o] = m, int32(k), int32(k+size)
			o, k, prevCJK = o+1, k+size, false
			continue
		case clsPunct, clsSpace:
		default:
			break loop
		}
		if prevCJK && !b.keepGaps && k >= keepTo {
			g, next := gapScan(text, k, fb)
			switch next {
			case gapDropped:
				k = g
				continue
			case gapKept:
				keepTo = g
			default:
				break loop
			}
		}
		lastO, lastK, lastCJK = o, k, prevCJK
		switch {
		case same:
			copy(out[o:], text[k:k+size])
			st[o], en[o+size-1] = int32(k), int32(k+size)
			o += size
		case cls == clsPunct:
			out[o], st[o], en[o] = m, int32(k), int32(k+size)
			o++
		default: // white space, collapsed
			switch {
			case o > 0 && (out[o-1] == ' ' || out[o-1] == '\n'):
				en[o-1] = int32(k + size)
			case o == 0 && n > 0 && (b.out[n-1] == ' ' || b.out[n-1] == '\n'):
				b.end[n-1] = int32(k + size)
			default:
				out[o], st[o], en[o] = ' ', int32(k), int32(k+size)
				o++
			}
		}
		k += size
	}
	if k < len(text) && text[k] >= utf8.RuneSelf && k > i {
		if r2, _ := decodeAt(text, k); !isFastStarter(r2) {
			o, k, prevCJK = lastO, lastK, lastCJK
		}
	}
	b.out = b.out[:n+o]
	b.start, b.end = b.start[:n+o], b.end[:n+o]
	if k > i {
		b.prevCJK = prevCJK
	}
	return k
}

// plainIdeograph decodes the ideograph at text[k] when it is one that
// normalisation keeps as it is.
func plainIdeograph(text string, k int, fb *foldBits) (rune, bool) {
	c := text[k]
	if c < 0xE4 || c > 0xE9 || k+2 >= len(text) {
		return 0, false
	}
	c1, c2 := text[k+1], text[k+2]
	if c1&0xC0 != 0x80 || c2&0xC0 != 0x80 {
		return 0, false
	}
	r := rune(c&0x0F)<<12 | rune(c1&0x3F)<<6 | rune(c2&0x3F)
	if r < 0x4E00 || fb.hasCJK(r-0x4E00) {
		return 0, false
	}
	return r, true
}

// What follows a gap, for gapScan.
const (
	gapStops   = iota // something plainRun leaves to run
	gapDropped        // an ideograph plainRun keeps: the gap vanishes
	gapKept           // an ASCII or full-width letter or digit, or the end: the gap is kept
)

// gapScan looks at a gap of white space (no line break) and punctuation
// that follows an ideograph from text[k] on, and returns where the gap
// ends and what follows it.
func gapScan(text string, k int, fb *foldBits) (int, int) {
	g := k
	for g < len(text) {
		c := text[g]
		if c < utf8.RuneSelf {
			switch asciiClass[c] {
			case clsSpace, clsPunct:
				g++
				continue
			case clsOther:
				return g, gapKept
			}
			return g, gapStops
		}
		if _, ok := plainIdeograph(text, g, fb); ok {
			return g, gapDropped
		}
		r, size := decodeAt(text, g)
		if r < 0x10000 && fb.gap[r>>6]&(1<<(r&63)) != 0 {
			g += size
			continue
		}
		if 0xFF01 <= r && r <= 0xFF5E && asciiClass[r-0xFF01+0x21] == clsOther {
			return g, gapKept
		}
		return g, gapStops
	}
	return g, gapKept
}

// isSimpleGap reports whether the non-ASCII rune r is a fast rune whose
// normal form is ASCII white space (not a line break) or punctuation, or
// is r itself, punctuation neither lower-cased nor folded: a gap plainRun
// may drop or keep.
func isSimpleGap(r rune, fb *foldBits) bool {
	m, ok := fastNFKC(r)
	if !ok || r < utf8.RuneSelf || m >= utf8.RuneSelf && m != r {
		return false
	}
	if m < utf8.RuneSelf {
		cl := asciiClass[m]
		return cl == clsSpace || cl == clsPunct
	}
	// Kept as it is: punctuation only (white space becomes a space).
	if fb.has(m) || (m < 0x3000 || m > 0x9FFF) && unicode.ToLower(m) != m {
		return false
	}
	return classifySlow(m) == clsPunct
}

// decodeAt decodes the rune at s[i], with an inline path for the ASCII and
// three-byte (BMP, CJK) sequences that make up most Chinese text.
func decodeAt(s string, i int) (rune, int) {
	if i >= len(s) {
		return utf8.RuneError, 0
	}
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1
	}
	if c >= 0xE1 && c <= 0xEF && c != 0xED && i+2 < len(s) { // no overlong or surrogate forms start here
		c1, c2 := s[i+1], s[i+2]
		if c1&0xC0 == 0x80 && c2&0xC0 == 0x80 {
			return rune(c&0x0F)<<12 | rune(c1&0x3F)<<6 | rune(c2&0x3F), 3
		}
	}
	return utf8.DecodeRuneInString(s[i:])
}

// fastNFKC returns the NFKC form of r when r is one of the common runes
// whose form is a single known rune and which take no part in composition.
func fastNFKC(r rune) (rune, bool) {
	switch {
	case r < utf8.RuneSelf:
		return r, true
	case 0x4E00 <= r && r <= 0x9FFF, 0x3400 <= r && r <= 0x4DBF, // ideographs
		0x3001 <= r && r <= 0x3029, // CJK punctuation, 々 〇 and brackets
		r == 0x2014 || r == 0x2018 || r == 0x2019 || r == 0x201C || r == 0x201D || r == 0x00B7: // — ‘ ’ “ ” ·
		return r, true
	case 0xFF01 <= r && r <= 0xFF5E: // full-width ASCII
		return r - 0xFF01 + 0x21, true
	case r == 0x3000: // ideographic space
		return ' ', true
	case r < 0x10000 && r >= utf8.RuneSelf:
		// Any other character a segment starts at whose NFKC form is one
		// character.
		t := segmentBMP()
		if t.inert[r>>6]&(1<<(r&63)) != 0 {
			return r, true
		}
		if t.mapped[r>>6]&(1<<(r&63)) != 0 {
			return t.to[r], true
		}
	}
	return r, false
}

// segmentTable lists the basic-plane characters that do not combine with
// what comes before them (a segment starts at each) and whose NFKC form is
// one character: inert when it is the character itself, mapped (to to[r])
// when it is another, such as U+00A0 (no-break space) and ￥. Followed by
// ASCII or another such character, one is a segment of its own.
type segmentTable struct {
	inert  [0x10000 / 64]uint64
	mapped [0x10000 / 64]uint64
	to     map[rune]rune
}

var segmentBMP = sync.OnceValue(func() *segmentTable {
	t := &segmentTable{to: map[rune]rune{}}
	var buf [utf8.UTFMax]byte
	for r := rune(utf8.RuneSelf); r < 0x10000; r++ {
		if 0xD800 <= r && r <= 0xDFFF || r == utf8.RuneError {
			continue // RuneError: also what an invalid byte decodes to
		}
		p := norm.NFKC.Properties(buf[:utf8.EncodeRune(buf[:], r)])
		if !p.BoundaryBefore() {
			continue
		}
		d := p.Decomposition()
		if d == nil {
			t.inert[r>>6] |= 1 << (r & 63)
			continue
		}
		m, size := utf8.DecodeRune(d)
		if size != len(d) || m == utf8.RuneError {
			continue
		}
		if pm := norm.NFKC.Properties(buf[:utf8.EncodeRune(buf[:], m)]); pm.Decomposition() == nil && pm.BoundaryBefore() {
			t.mapped[r>>6] |= 1 << (r & 63)
			t.to[r] = m
		}
	}
	return t
})

// isFastStarter reports whether r is a fast rune; those never combine with
// the rune before them, so a boundary falls before each.
func isFastStarter(r rune) bool {
	_, ok := fastNFKC(r)
	return ok
}

// addAll adds the runes of NFKC output whose source is text[s:e].
func (b *normBuf) addAll(seg []byte, s, e int32) {
	for k := 0; k < len(seg); {
		r, size := rune(seg[k]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(seg[k:])
		}
		k += size
		b.add(r, s, e)
	}
}

// add takes one NFKC rune whose source is text[s:e], lower-cases and
// folds it.
func (b *normBuf) add(r rune, s, e int32) {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		b.addFolded(r, s, e)
		return
	}
	if r < 0x3000 || r > 0x9FFF { // no case in CJK symbols, kana and ideographs
		r = unicode.ToLower(r)
	}
	if 0x4E00 <= r && r <= 0x9FFF {
		if f := b.lx.cjkFold[r-0x4E00]; f != 0 {
			r = f
		}
	} else {
		if b.folds == nil || b.foldsOf != b.lx {
			b.folds, b.foldsOf = foldSet(b.lx), b.lx
		}
		if b.folds.has(r) {
			if f, ok := b.lx.fold[r]; ok {
				for _, x := range f {
					b.addFolded(x, s, e)
				}
				return
			}
		}
	}
	b.addFolded(r, s, e)
}

// addFolded takes one rune in its final form whose source is text[s:e].
func (b *normBuf) addFolded(r rune, s, e int32) {
	cls := classify(r)
	switch cls {
	case clsDrop:
		return
	case clsSpace, clsBreak, clsPunct:
		if b.prevCJK && !b.keepGaps {
			b.pend = append(b.pend, pendRune{r, cls, s, e})
			if cls == clsBreak {
				b.pendBreak = true
			}
			return
		}
		b.emitGap(r, cls, s, e)
		return
	}
	cjk := cls == clsCJK
	if len(b.pend) > 0 {
		if !cjk || b.pendBreak {
			b.flush()
		}
		b.pend = b.pend[:0]
		b.pendBreak = false
	}
	b.emit(r, s, e)
	b.prevCJK = cjk
}

// flush emits the held gap characters.
func (b *normBuf) flush() {
	for _, p := range b.pend {
		b.emitGap(p.r, p.cls, p.s, p.e)
	}
	b.pend = b.pend[:0]
	b.pendBreak = false
}

// emitGap emits a gap character that is kept, collapsing white space.
func (b *normBuf) emitGap(r rune, cls charClass, s, e int32) {
	if cls == clsPunct {
		b.emit(r, s, e)
		return
	}
	if n := len(b.out); n > 0 && (b.out[n-1] == ' ' || b.out[n-1] == '\n') {
		if cls == clsBreak {
			b.out[n-1] = '\n'
		}
		b.end[n-1] = e
		return
	}
	if cls == clsBreak {
		b.emit('\n', s, e)
	} else {
		b.emit(' ', s, e)
	}
}

// appendSame appends src, the unchanged text of one rune at offset s.
func (b *normBuf) appendSame(src string, s int32) {
	n := len(b.out)
	b.out = append(b.out, src...)
	b.grow(len(b.out))
	b.start[n] = s
	b.end[len(b.out)-1] = s + int32(len(src))
}

func (b *normBuf) grow(m int) {
	if m > cap(b.start) {
		b.start = append(b.start[:cap(b.start)], make([]int32, m+m/2-cap(b.start))...)
		b.end = append(b.end[:cap(b.end)], make([]int32, m+m/2-cap(b.end))...)
	}
	b.start = b.start[:m]
	b.end = b.end[:m]
}

// emit appends r, whose source is text[s:e]. Only the entries Original
// reads are written: start at the rune's first byte, end at its last.
func (b *normBuf) emit(r rune, s, e int32) {
	n := len(b.out)
	if r < utf8.RuneSelf {
		b.out = append(b.out, byte(r))
	} else {
		b.out = utf8.AppendRune(b.out, r)
	}
	m := len(b.out)
	b.grow(m)
	b.start[n] = s
	b.end[m-1] = e
}
