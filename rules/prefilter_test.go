package rules

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"shopwatch"
)

func TestRequiredLiterals(t *testing.T) {
	tests := []struct {
		re   string
		want []string // nil: none found, the expression always runs
	}{
		{`最佳`, []string{"最佳"}},
		{`(不是|并非|并不是)$`, []string{"不是", "并非"}},
		{`^第一[，,、]`, []string{"第一,", "第一、"}}, // ， is never in normalised text
		{`\d{1,3}%的?(用户|顾客)`, []string{"%用户", "%顾客", "%的用户", "%的顾客"}},
		{`据.{0,12}(统计|数据)`, []string{"统计", "数据"}},
		{`ICP备\d+号`, []string{"icp备"}},
		{`(好评率|满意度)\D{0,4}\d{1,3}%`, []string{"好评率", "满意度"}},
		{`[京津]ICP备`, []string{"京icp备", "津icp备"}},
		{`a|.+`, nil},
		{`最?`, nil},
		{`.*`, nil},
		{`sku`, nil}, // s also matches the long s
		{`[a-z]{2}\d`, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
		{`(最|顶)*级`, []string{"级"}},
	}
	// A lexicon list of a thousand terms, as {{list}} expands. Terms with
	// a traditional character never occur in normalised text, so they
	// are left out.
	var words, occur []string
	for i := range 1000 {
		w := fmt.Sprintf("%c%c病", 0x4E00+i*7, 0x6000+i*3)
		words = append(words, w)
		if Normalize(w).Text == w {
			occur = append(occur, w)
		}
	}
	if len(occur) == len(words) || len(occur) < 500 {
		t.Fatalf("%d of %d terms occur in normalised text; the test wants some but not all", len(occur), len(words))
	}
	tests = append(tests, struct {
		re   string
		want []string
	}{`(` + strings.Join(words, "|") + `)[^，。]{0,8}$`, occur})
	for _, tt := range tests {
		got := requiredLiterals(tt.re)
		slices.Sort(got)
		want := slices.Clone(tt.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("requiredLiterals(%q) = %q, want %q", tt.re, got, want)
		}
	}
}

// Every match of an expression holds one of its required literals, for
// the expressions of the built-in rules on text made of their own pieces.
func TestRequiredLiteralsHold(t *testing.T) {
	rs := builtin(t)
	var srcs []string
	for _, c := range rs.rules {
		for _, cr := range c.regs {
			srcs = append(srcs, cr.src)
		}
		for _, ce := range append(slices.Clone(c.ctx), c.needs...) {
			srcs = append(srcs, strings.TrimPrefix(ce.re.String(), "(?i)"))
		}
	}
	rng := rand.New(rand.NewPCG(7, 9))
	pieces := strings.Split("最佳 第一 , : 、 % 的 用户 1 23 2024 年 月 据 统计 不是 并 非 icp 备 京 号 见效 天 个 即可 瘦 斤 来源 。 ！ \n x ® 承诺 保证 不 能", " ")
	for _, src := range srcs {
		req := requiredLiterals(src)
		if req == nil {
			continue
		}
		re := regexp.MustCompile("(?i)" + src)
		for range 300 {
			var b strings.Builder
			for range rng.IntN(12) {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
			text := Normalize(b.String()).Text
			if re.MatchString(text) && !slices.ContainsFunc(req, func(l string) bool { return strings.Contains(text, l) }) {
				t.Fatalf("/%s/ matches %q, which holds none of %q", src, text, req)
			}
		}
	}
}

// The prefilters change how fast Check is, never what it finds: the
// findings with and without them agree on the corpora, the pages, the
// rules' own examples and random mixes of them.
func TestPrefilterKeepsFindings(t *testing.T) {
	rs := builtin(t)
	var texts []string
	for _, c := range append(readCorpus(t, rs), readRealCorpus(t, rs)...) {
		texts = append(texts, c.Text)
	}
	for _, r := range rs.Rules() {
		for _, x := range append(slices.Clone(r.Examples.Positive), r.Examples.Negative...) {
			texts = append(texts, x.Text)
		}
	}
	rng := rand.New(rand.NewPCG(11, 13))
	n := len(texts)
	for range 300 {
		var b strings.Builder
		for range 1 + rng.IntN(6) {
			b.WriteString(texts[rng.IntN(n)])
			b.WriteString([]string{"", "，", "\n", " ", "。"}[rng.IntN(5)])
		}
		texts = append(texts, b.String())
	}
	texts = append(texts, benchText(64<<10))
	t.Logf("%d texts", len(texts))
	cats := append([]string{""}, rs.cats...)
	t.Cleanup(func() { noPrefilter = false })
	for i, text := range texts {
		in := Input{Kind: []shopwatch.Kind{shopwatch.KindProduct, shopwatch.KindStorefront}[i%2], Category: cats[i%len(cats)], Text: text}
		noPrefilter = false
		got := rs.Check(in)
		noPrefilter = true
		want := rs.Check(in)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("text %q (%s, %q): with prefilters %v\nwithout %v", text, in.Kind, in.Category, got, want)
		}
	}
}
