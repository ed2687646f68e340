package rules

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"shopwatch"
)

// benchText builds about size bytes of mixed marketplace text: ordinary
// product copy, a few violations and look-alikes, full-width and ASCII
// runs, line breaks, and a licence block.
func benchText(size int) string {
	copy := []string{
		"本店商品均为正品，支持七天无理由退货，顺丰包邮，下单后四十八小时内发货。",
		"精选优质原料，传统工艺制作，口感细腻，甜而不腻，适合全家老少分享。",
		"规格：500g/袋，保质期12个月，储存条件：阴凉干燥处，避免阳光直射。",
		"第一次购买的顾客请先阅读说明书，如有疑问请联系在线客服。",
		"最佳赏味期：开封后7天 · 最近更新：2026年 · 100%纯棉 · 一级能效",
		"Size: M/L/XL  Color: black/white  SKU NO.20260101-A  Model TOP10",
		"【限时特惠】满199减30，会员再享九五折，数量有限，先到先得！",
		"ＦＵＬＬ－ＷＩＤＴＨ ｔｅｘｔ １２３４５ 与半角 text 12345 混排。",
		"用户评价：包装很好，物流很快，味道不错，会回购的。\n",
		"温和清洁 保湿补水，适合各种肤质，敏感肌也可以放心使用。",
	}
	bad := []string{"全网最佳口碑", "国家级品质", "ＮＯ．１爆款", "三天降血压", "行业第一品牌", "最 佳 伴手礼"}
	rng := rand.New(rand.NewPCG(42, 42))
	var b strings.Builder
	for b.Len() < size {
		if rng.IntN(40) == 0 {
			b.WriteString(bad[rng.IntN(len(bad))])
		}
		b.WriteString(copy[rng.IntN(len(copy))])
		if rng.IntN(5) == 0 {
			b.WriteByte('\n')
		}
	}
	b.WriteString("\n" + licenceBlock)
	return b.String()
}

func BenchmarkCheck(b *testing.B) {
	rs := builtin(b)
	text := benchText(100 << 10)
	in := Input{URL: "bench", Kind: shopwatch.KindStorefront, Category: "food", Text: text}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = len(rs.Check(in))
	}
	b.ReportMetric(float64(n), "findings")
}

// BenchmarkCheckRegions measures what judging by region costs, against a
// baseline in the same run: each page is checked without regions (the
// baseline, every rule reads all text) and with them (each candidate looked
// up in the page's regions, rules skipping text outside theirs). The pages
// are the 100 KB text of BenchmarkCheck with a region on every line, and the
// saved Tmall product page as the crawler extracts it (its real regions).
//
//	go test -run '^$' -bench 'CheckRegions' -benchtime 2s ./rules
func BenchmarkCheckRegions(b *testing.B) {
	rs := builtin(b)
	text := benchText(100 << 10)
	var lines []shopwatch.TextRegion
	kinds := []shopwatch.Region{shopwatch.RegionNavigation, shopwatch.RegionDescription, shopwatch.RegionComments, shopwatch.RegionPrice}
	start := 0
	for i, line := range strings.SplitAfter(text, "\n") {
		lines = append(lines, shopwatch.TextRegion{Region: kinds[i%len(kinds)], Start: start, End: start + len(line)})
		start += len(line)
	}
	tmall := extractRealPage(b, "tmall.html")
	tmall.Kind, tmall.Category = shopwatch.KindProduct, DetectCategory("", tmall.Text, tmall.HTML)
	pages := []struct {
		name string
		in   Input
	}{
		{"synthetic-100KB", Input{URL: "bench", Kind: shopwatch.KindStorefront, Category: "food", Text: text, Regions: lines}},
		{"tmall", tmall},
	}
	for _, p := range pages {
		for _, mode := range []string{"baseline-no-regions", "regions"} {
			in := p.in
			if mode != "regions" {
				in.Regions = nil
			}
			b.Run(p.name+"/"+mode, func(b *testing.B) {
				b.SetBytes(int64(len(in.Text)))
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					n = len(rs.Check(in))
				}
				b.ReportMetric(float64(n), "findings")
				b.ReportMetric(float64(len(in.Regions)), "regions")
			})
		}
	}
}

// BenchmarkNaiveContains is the baseline: strings.Contains of every literal
// pattern of every rule over the raw text. It does less than Check (no
// normalisation, no offsets beyond the first, no exceptions, no
// expressions) and is still the slower way once patterns are many.
func BenchmarkNaiveContains(b *testing.B) {
	rs := builtin(b)
	text := benchText(100 << 10)
	var pats []string
	for _, r := range rs.Rules() {
		pats = append(pats, r.Patterns...)
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		found := 0
		for _, p := range pats {
			if strings.Contains(text, p) {
				found++
			}
		}
		if found == 0 {
			b.Fatal("nothing found")
		}
	}
	b.ReportMetric(float64(len(pats)), "patterns")
}

// BenchmarkNaiveIndexAll finds every occurrence of every literal pattern
// with strings.Index: the naive way to get what Check needs (all offsets).
func BenchmarkNaiveIndexAll(b *testing.B) {
	rs := builtin(b)
	text := benchText(100 << 10)
	var pats []string
	for _, r := range rs.Rules() {
		pats = append(pats, r.Patterns...)
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		found := 0
		for _, p := range pats {
			for off := 0; ; {
				k := strings.Index(text[off:], p)
				if k < 0 {
					break
				}
				found++
				off += k + len(p)
			}
		}
		if found == 0 {
			b.Fatal("nothing found")
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	text := benchText(100 << 10)
	var nb normBuf
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		nb.run(text)
	}
}

func BenchmarkAutomatonScan(b *testing.B) {
	rs := builtin(b)
	text := []byte(Normalize(benchText(100 << 10)).Text)
	hits := rs.ac.scan(text, nil)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		hits = rs.ac.scan(text, hits[:0])
	}
	b.ReportMetric(float64(rs.ac.size()), "states")
}

// manyPatterns builds a rule set of n synthetic three-character terms, the
// scale the full legal catalogue (with variants) is expected to reach.
func manyPatterns(b *testing.B, n int) (*RuleSet, []string) {
	b.Helper()
	pool := []rune("的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情已面最女但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间斯知世什两次使身者被高已亲其进此话常与活正感")
	rng := rand.New(rand.NewPCG(3, 5))
	seen := map[string]bool{}
	var pats []string
	for len(pats) < n {
		p := string([]rune{pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))]})
		if !seen[p] {
			seen[p] = true
			pats = append(pats, p)
		}
	}
	var y strings.Builder
	fmt.Fprintf(&y, "rules:\n  - id: t.many\n    title: {zh: 多, en: Many}\n    category: test\n    law: 《测试法》\n    article: 第一条\n    penalty: 《测试法》第二条\n    severity: info\n    type: terms\n    patterns:\n")
	for _, p := range pats {
		fmt.Fprintf(&y, "      - %s\n", p)
	}
	fmt.Fprintf(&y, "    examples: {positive: [%s], negative: [xyz]}\n", pats[0])
	rs, err := LoadFS(fstest.MapFS{"r/many.yaml": {Data: []byte(y.String())}}, "r")
	if err != nil {
		b.Fatal(err)
	}
	return rs, pats
}

func BenchmarkCheck2000Patterns(b *testing.B) {
	rs, _ := manyPatterns(b, 2000)
	text := benchText(100 << 10)
	in := Input{Kind: shopwatch.KindProduct, Text: text}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		rs.Check(in)
	}
	b.ReportMetric(float64(rs.ac.size()), "states")
}

func BenchmarkNaiveContains2000Patterns(b *testing.B) {
	_, pats := manyPatterns(b, 2000)
	text := benchText(100 << 10)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		for _, p := range pats {
			_ = strings.Contains(text, p)
		}
	}
}

// literals returns every literal the automaton of rs looks for.
func literals(rs *RuleSet) []string { return slices.Clone(rs.lits) }

// BenchmarkLiteralStage compares, in one run, three ways of finding every
// occurrence of every literal of the full built-in rule set in the same
// normalised Chinese product text: the automaton, Go's regexp with the
// literals as one alternation (leftmost-first, so it finds less), and a
// loop of strings.Index over the literals. MB/s are of normalised text.
// automaton-one-chain is the automaton without its four interleaved
// streams. Run it alone for stable figures:
//
//	go test -run '^$' -bench 'LiteralStage|BenchmarkCheck$' -benchtime 3s ./rules
func BenchmarkLiteralStage(b *testing.B) {
	rs := builtin(b)
	text := []byte(Normalize(benchText(128 << 10)).Text) // a large product page
	lits := literals(rs)
	b.Run("automaton", func(b *testing.B) {
		hits := rs.ac.scan(text, nil)
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		for b.Loop() {
			hits = rs.ac.scan(text, hits[:0])
		}
		b.ReportMetric(float64(len(hits)), "hits")
		b.ReportMetric(float64(rs.ac.size()), "states")
		b.ReportMetric(float64(len(lits)), "literals")
	})
	// One chain of table loads over the whole text, as a scan fed byte
	// by byte from the normaliser would run: the cost of fusing the two.
	b.Run("automaton-one-chain", func(b *testing.B) {
		var hits []acHit
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		for b.Loop() {
			_, hits = rs.ac.scanRange(text, 0, 0, len(text), 0, hits[:0])
		}
		b.ReportMetric(float64(len(hits)), "hits")
	})
	b.Run("regexp-alternation", func(b *testing.B) {
		quoted := make([]string, len(lits))
		for i, l := range lits {
			quoted[i] = regexp.QuoteMeta(l)
		}
		re := regexp.MustCompile(strings.Join(quoted, "|"))
		b.SetBytes(int64(len(text)))
		n := 0
		for b.Loop() {
			n = len(re.FindAllIndex(text, -1))
		}
		b.ReportMetric(float64(n), "hits")
	})
	b.Run("strings-index-loop", func(b *testing.B) {
		s := string(text)
		b.SetBytes(int64(len(text)))
		n := 0
		for b.Loop() {
			n = 0
			for _, l := range lits {
				for off := 0; ; {
					k := strings.Index(s[off:], l)
					if k < 0 {
						break
					}
					n++
					off += k + 1
				}
			}
		}
		b.ReportMetric(float64(n), "hits")
	})
}
