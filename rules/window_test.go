package rules

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"shopwatch"
)

func TestMatchSpan(t *testing.T) {
	tests := []struct {
		re   string
		want int
	}{
		{`最佳`, 6},
		{`(好评|五星)[^，。；]{0,2}红包`, 6 + 2*4 + 6},
		{`[0-9]{1,3}%`, 4},
		{`k`, 3}, // also matches the Kelvin sign
		{`最.*`, -1},
		{`最+佳`, -1},
		{`^最佳`, -1},
		{`最佳$`, -1},
		{`\bno\.1`, -1},
	}
	for _, tt := range tests {
		if got := matchSpan(tt.re); got != tt.want {
			t.Errorf("matchSpan(%q) = %d, want %d", tt.re, got, tt.want)
		}
	}
}

func TestHeadRegex(t *testing.T) {
	tests := []struct {
		re   string
		head bool // every match starts with a required literal
	}{
		{`(好评|评价)[^，。；]{0,8}?(返现|红包)`, true},
		{`最佳|顶级`, true},
		{`(最佳|顶级)品质|第一品牌`, true},
		{`(百年|[二三]代|第[0-9]{1,3}代)(传承|工艺)`, false}, // the required set is the second group
		{`(百年|千年)(传承|工艺)`, true},
		{`\d{1,3}%的?(用户|顾客)`, false},
		{`(好评|评价)?返现`, false},
	}
	for _, tt := range tests {
		req := requiredLiterals(tt.re)
		if req == nil {
			t.Fatalf("%q: no required literals", tt.re)
		}
		head := headRegex(tt.re, req)
		if (head != nil) != tt.head {
			t.Errorf("headRegex(%q, %q) = %v, want a head regex: %v", tt.re, req, head, tt.head)
		}
		if head != nil && head.MatchString("x"+req[0]) {
			t.Errorf("headRegex(%q) is not anchored at the start", tt.re)
		}
	}
}

func TestPartLits(t *testing.T) {
	show := func(alts []partAlt) [][][]string {
		var out [][][]string
		for _, alt := range alts {
			var sets [][]string
			for _, set := range alt {
				var s []string
				for _, l := range set {
					s = append(s, string(l))
				}
				slices.Sort(s)
				sets = append(sets, s)
			}
			out = append(out, sets)
		}
		return out
	}
	tests := []struct {
		re   string
		want [][][]string
	}{
		{`(好评|评价)[^，。；]{0,8}?(返现|红包|返[0-9]{1,3}元)`, [][][]string{{{"好评", "评价"}, {"红包", "返"}}}},
		{`(比|是)[^，。；]{0,12}(传统|普通)[^，。；]{0,10}[0-9]{1,4}倍|(几十|几百)倍`,
			[][][]string{{{"倍"}, {"是", "比"}, {"传统", "普通"}, {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}}, {{"倍"}, {"几十", "几百"}}}},
		{`最佳|顶级`, [][][]string{{{"最佳"}}, {{"顶级"}}}},
		{`最佳|.+`, nil},
	}
	for _, tt := range tests {
		if got := show(partLits(tt.re)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("partLits(%q) = %q, want %q", tt.re, got, tt.want)
		}
	}
	// Alternatives that require the same set share it.
	shared := partLits(`(比|是)[0-9]{1,4}倍|(几十|几百)倍`)
	if len(shared) != 2 || &shared[0][0][0][0] != &shared[1][0][0][0] {
		t.Errorf("partLits: the two alternatives do not share their set 倍: %q", show(shared))
	}
	alts := partLits(`(好评|评价)[^，。；]{0,8}?返现|晒图红包`)
	for text, want := range map[string]bool{"五星好评返现": true, "晒图红包": true, "晒图领红包": false, "五星好评送礼": false, "晒图": false, "返现": false} {
		if got := holdsParts([]byte(text), alts); got != want {
			t.Errorf("holdsParts(%q) = %v, want %v", text, got, want)
		}
	}
}

// windowTexts returns texts to search the expressions of rs in: the
// corpora, the rules' own examples, and, per expression, random strings of
// its own literals, digits and punctuation, where matches and near misses
// crowd together and windows overlap.
func windowTexts(t *testing.T, rs *RuleSet, cr *compiledRegex, rng *rand.Rand, base []string) []string {
	t.Helper()
	pieces := []string{"，", "。", "；", " ", "\n", "的", "好", "元", "%", "1", "23", "x", "最", "年", "人"}
	for _, l := range requiredLiterals(cr.src) {
		pieces = append(pieces, l, l)
	}
	for _, alt := range cr.parts {
		for _, set := range alt {
			for _, l := range set {
				pieces = append(pieces, string(l))
			}
		}
	}
	texts := slices.Clone(base)
	for range 60 {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		texts = append(texts, b.String())
	}
	return texts
}

// Searching an expression only around its required literals (searchAround:
// windows, or the anchored form at each literal's start) finds exactly the
// matches a search of the whole normalised text finds, for every
// expression of the built-in rules that is searched that way.
func TestWindowedSearchFindsWhatWholeSearchFinds(t *testing.T) {
	rs := builtin(t)
	var base []string
	for _, c := range append(readCorpus(t, rs), readRealCorpus(t, rs)...) {
		base = append(base, c.Text)
	}
	base = append(base, benchText(16<<10))
	rng := rand.New(rand.NewPCG(17, 19))
	var hits []acHit
	var bufs [3][]acHit
	exprs, heads, matches := 0, 0, 0
	for ri, c := range rs.rules {
		for gi, cr := range c.regs {
			if cr.anchor >= 0 || !cr.hasReq || cr.span <= 0 {
				continue
			}
			exprs++
			if cr.head != nil {
				heads++
			}
			for _, text := range windowTexts(t, rs, cr, rng, base) {
				norm := []byte(Normalize(text).Text)
				hits = rs.ac.scanSorted(norm, hits[:0], &bufs)
				var lits []cand
				for _, h := range hits {
					for _, ref := range rs.refs[h.pat] {
						if ref.req && ref.rule == int32(ri) && ref.idx == int32(gi) {
							lits = append(lits, cand{start: h.end - rs.ac.lens[h.pat], end: h.end})
						}
					}
				}
				var got, want [][2]int
				searchAround(cr, norm, lits, func(s, e int) bool { got = append(got, [2]int{s, e}); return true })
				searchAll(cr, norm, 0, len(norm), func(s, e int) bool { want = append(want, [2]int{s, e}); return true })
				if !slices.Equal(got, want) {
					t.Fatalf("%s /%s/ on %q: around its literals %v, whole text %v", c.ID, cr.src, norm, got, want)
				}
				matches += len(want)
			}
		}
	}
	t.Logf("%d expressions (%d with a head), %d matches", exprs, heads, matches)
	if exprs == 0 || heads == 0 || matches < 100 {
		t.Fatalf("%d expressions, %d with a head, %d matches: the test exercises too little", exprs, heads, matches)
	}
}

// The findings of the built-in rules are the same with and without the
// prefilters (the whole-text search is the reference) on the saved pages
// and on the corpora with mutations: characters dropped, doubled, spaced
// out, made full-width, or run into their neighbours, and required
// literals of the expressions put in at random.
func TestPrefilterKeepsFindingsMutated(t *testing.T) {
	rs := builtin(t)
	var texts []string
	pages, err := filepath.Glob("testdata/pages/*.txt")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no pages in testdata/pages: %v", err)
	}
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(b))
	}
	var lits []string
	for _, c := range rs.rules {
		for _, cr := range c.regs {
			lits = append(lits, requiredLiterals(cr.src)...)
		}
	}
	rng := rand.New(rand.NewPCG(23, 29))
	corpus := append(readCorpus(t, rs), readRealCorpus(t, rs)...)
	for range 600 {
		rs := []rune(corpus[rng.IntN(len(corpus))].Text + "，" + corpus[rng.IntN(len(corpus))].Text)
		var b strings.Builder
		for _, r := range rs {
			switch rng.IntN(12) {
			case 0: // dropped
			case 1:
				b.WriteRune(r)
				b.WriteRune(r)
			case 2:
				b.WriteRune(r)
				b.WriteString(" ")
			case 3:
				if '!' <= r && r <= '~' {
					r += 0xFF01 - '!'
				}
				b.WriteRune(r)
			case 4:
				b.WriteString(lits[rng.IntN(len(lits))])
				b.WriteRune(r)
			default:
				b.WriteRune(r)
			}
		}
		texts = append(texts, b.String())
	}
	cats := append([]string{""}, rs.cats...)
	t.Cleanup(func() { noPrefilter = false })
	findings := 0
	for i, text := range texts {
		in := Input{Kind: []shopwatch.Kind{shopwatch.KindProduct, shopwatch.KindStorefront, shopwatch.KindLivestream}[i%3], Category: cats[i%len(cats)], Text: text}
		noPrefilter = false
		got := rs.Check(in)
		noPrefilter = true
		want := rs.Check(in)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("text %q (%s, %q): with prefilters %v\nwithout %v", text, in.Kind, in.Category, got, want)
		}
		findings += len(got)
	}
	t.Logf("%d texts, %d findings", len(texts), findings)
	if findings < len(texts) {
		t.Fatalf("%d findings in %d texts: the texts exercise too little", findings, len(texts))
	}
}

// Candidates at the same place share their context windows; the findings
// and traces are those of candidates that each build their own.
func TestSharedContextWindowsKeepFindings(t *testing.T) {
	rs := builtin(t)
	var texts []string
	for _, c := range append(readCorpus(t, rs), readRealCorpus(t, rs)...) {
		texts = append(texts, c.Text)
	}
	texts = append(texts, strings.Join(texts, "，"), benchText(64<<10))
	t.Cleanup(func() { noCtxShare = false })
	for i, text := range texts {
		in := Input{Kind: []shopwatch.Kind{shopwatch.KindProduct, shopwatch.KindStorefront}[i%2], Category: []string{"", "food", "cosmetics"}[i%3], Text: text}
		noCtxShare = false
		got := rs.Check(in)
		noCtxShare = true
		want := rs.Check(in)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("text %q: sharing windows %v\nnot sharing %v", text, got, want)
		}
	}
}

// FuzzPrefilterKeepsFindings checks the built-in rules on arbitrary text
// with and without the prefilters (required literals, windows, heads and
// parts): the findings agree.
func FuzzPrefilterKeepsFindings(f *testing.F) {
	for _, s := range []string{"五星好评返现5元，晒图送红包", "百年传承工艺，三代传人匠心", "好评 返 现",
		"评价评价评价红包", "全网最 佳口碑，ＮＯ．１爆款", "好評返現", "三天降血压\n服务过10000名客户"} {
		f.Add(s, "food")
	}
	rs, err := Default()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text, category string) {
		in := Input{Kind: shopwatch.KindStorefront, Category: category, Text: text}
		noPrefilter = false
		got := rs.Check(in)
		noPrefilter = true
		want := rs.Check(in)
		noPrefilter = false
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: with prefilters %v\nwithout %v", text, got, want)
		}
	})
}

func TestIsExceptionLabel(t *testing.T) {
	tests := []struct {
		s, label, note string
		want           bool
	}{
		{"第一次", "第一次", "", true},
		{"第一次（序数）", "第一次", "序数", true},
		{"第一次", "第一次", "序数", false},
		{"第一次（序数）", "第一次", "", false},
		{"第一次（序）", "第一次", "序数", false},
		{"第一步（序数）", "第一次", "序数", false},
	}
	for _, tt := range tests {
		if got := isExceptionLabel(tt.s, tt.label, tt.note); got != tt.want {
			t.Errorf("isExceptionLabel(%q, %q, %q) = %v, want %v", tt.s, tt.label, tt.note, got, tt.want)
		}
		if built := tt.label + map[bool]string{true: "（" + tt.note + "）", false: ""}[tt.note != ""]; (built == tt.s) != tt.want {
			t.Errorf("case %q, %q, %q: the label as matchFindings builds it is %q", tt.s, tt.label, tt.note, built)
		}
	}
}
