package rules

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"shopwatch"
)

func builtin(t testing.TB) *RuleSet {
	t.Helper()
	rs, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// hit is the part of a finding the contract fixes.
type hit struct{ Rule, Match string }

func hits(fs []shopwatch.Finding) []hit {
	out := make([]hit, len(fs))
	for i, f := range fs {
		out[i] = hit{f.Rule, f.Match}
	}
	return out
}

// checkSane asserts the invariants every finding must hold.
func checkSane(t *testing.T, in Input, fs []shopwatch.Finding) {
	t.Helper()
	for _, f := range fs {
		if f.Offset == -1 {
			// An absence has no snippet; a finding about markup has one
			// describing the element.
			if f.Match != "" || f.Snippet != "" && !strings.HasPrefix(f.Snippet, "图片") && !strings.HasPrefix(f.Snippet, "链接") {
				t.Errorf("absence finding %s has match %q snippet %q", f.Rule, f.Match, f.Snippet)
			}
		} else {
			if f.Offset < 0 || f.Offset+len(f.Match) > len(in.Text) || in.Text[f.Offset:f.Offset+len(f.Match)] != f.Match {
				t.Errorf("%s: match %q at offset %d is not the original text", f.Rule, f.Match, f.Offset)
				continue
			}
			if f.Match == "" || !utf8.ValidString(f.Match) && utf8.ValidString(in.Text) {
				t.Errorf("%s: bad match %q", f.Rule, f.Match)
			}
			if !strings.Contains(f.Snippet, f.Match) || !strings.Contains(in.Text, f.Snippet) {
				t.Errorf("%s: snippet %q does not hold match %q or is not from the text", f.Rule, f.Snippet, f.Match)
			}
			if n := utf8.RuneCountInString(f.Snippet) - utf8.RuneCountInString(f.Match); n > 2*snippetRunes {
				t.Errorf("%s: snippet %q has %d runes of context", f.Rule, f.Snippet, n)
			}
		}
		if f.Title == "" || f.Law == "" || f.Category == "" || f.Severity == "" || f.Reason == "" {
			t.Errorf("%s: incomplete finding %+v", f.Rule, f)
		}
		if f.URL != in.URL || f.Kind != in.Kind {
			t.Errorf("%s: URL/Kind %q %q, want %q %q", f.Rule, f.URL, f.Kind, in.URL, in.Kind)
		}
	}
	if !slices.IsSortedFunc(fs, func(a, b shopwatch.Finding) int { return a.Offset - b.Offset }) {
		t.Errorf("findings not ordered by offset: %v", hits(fs))
	}
}

func check(t *testing.T, rs *RuleSet, in Input) []shopwatch.Finding {
	t.Helper()
	if in.URL == "" {
		in.URL = "http://127.0.0.1/test"
	}
	fs := rs.Check(in)
	checkSane(t, in, fs)
	return fs
}

// The phrases SPEC.md fixes between the rules and the marketplace simulator.
var (
	contractViolating = []struct {
		text, category, rule, match string
	}{
		{"全网最佳口碑", "", "ad.absolute-term", "最佳"},
		{"国家级品质", "", "ad.absolute-term", "国家级"},
		{"行业第一品牌", "", "ad.absolute-term", "第一"},
		{"顶级工艺", "", "ad.absolute-term", "顶级"},
		{"ＮＯ．１爆款", "", "ad.absolute-term", "ＮＯ．１"},
		{"最高级配方", "", "ad.absolute-term", "最高级"},
		{"唯一正品渠道", "", "ad.absolute-term", "唯一"},
		{"坚持食用可治疗糖尿病", "food", "ad.medical-claim-food", "治疗"},
		{"三天降血压", "food", "ad.medical-claim-food", "降血压"},
		{"抗癌佳品", "food", "ad.medical-claim-food", "抗癌"},
		{"快速消炎祛痘", "cosmetics", "ad.medical-claim-cosmetics", "消炎"},
		{"药妆品质", "cosmetics", "ad.medical-claim-cosmetics", "药妆"},
		{"有效杀菌", "cosmetics", "ad.medical-claim-cosmetics", "杀菌"},
	}
	contractCompliant = []struct{ text, category string }{
		{"第一次使用请先阅读说明书", ""},
		{"第一步：清洁面部", ""},
		{"最近更新：2026年", ""},
		{"100%纯棉", ""},
		{"最佳赏味期：开封后7天", ""},
		{"一级能效", ""},
		{"本品不能代替药物治疗疾病", "food"},
		{"温和清洁 保湿补水", "cosmetics"},
		{"最后一批现货", ""},
	}
	categories = []string{"", "food", "cosmetics", "apparel", "electronics"}
	kinds      = []shopwatch.Kind{shopwatch.KindProduct, shopwatch.KindLivestream, shopwatch.KindStorefront}
)

// licenceBlock satisfies every licence rule of a food storefront.
const licenceBlock = "营业执照信息 / 企业名称：福州某某食品有限公司 / 统一社会信用代码：91350100M000100Y43 / 住所：福州市 / 法定代表人：张三\n" +
	"食品经营许可证：JY13301060012345\n浙ICP备12345678号-1"

func TestContractViolating(t *testing.T) {
	rs := builtin(t)
	for _, c := range contractViolating {
		for _, kind := range kinds {
			text := c.text
			if kind == shopwatch.KindStorefront {
				text = "欢迎光临\n" + c.text + "\n" + licenceBlock
			}
			in := Input{Kind: kind, Category: c.category, Text: text}
			got := hits(check(t, rs, in))
			want := []hit{{c.rule, c.match}}
			if !slices.Equal(got, want) {
				t.Errorf("%s on %s/%q: got %v, want %v", c.text, kind, c.category, got, want)
			}
		}
	}
}

func TestContractCompliant(t *testing.T) {
	rs := builtin(t)
	for _, c := range contractCompliant {
		for _, cat := range categories {
			for _, kind := range kinds {
				text := c.text
				if kind == shopwatch.KindStorefront {
					text = c.text + "\n" + licenceBlock
				}
				if got := check(t, rs, Input{Kind: kind, Category: cat, Text: text}); len(got) > 0 {
					t.Errorf("%q on %s/%q: got %v, want nothing", c.text, kind, cat, hits(got))
				}
			}
		}
	}
}

// The v1 medical rules only judge their own product category; on other
// categories the general rule of 广告法第十七条 speaks instead, never on
// food or cosmetics pages (which have their own rules).
func TestMedicalRulesOnlyForTheirCategory(t *testing.T) {
	rs := builtin(t)
	for _, c := range contractViolating {
		if c.category == "" {
			continue
		}
		for _, cat := range categories {
			var own, general int
			for _, f := range check(t, rs, Input{Kind: shopwatch.KindProduct, Category: cat, Text: c.text}) {
				switch f.Rule {
				case c.rule:
					own++
				case "ad.medical-claim-general":
					general++
				}
			}
			if cat == c.category && (own != 1 || general != 0) {
				t.Errorf("%q on %q: %d %s and %d general findings, want 1 and 0", c.text, cat, own, c.rule, general)
			}
			if cat != c.category && own != 0 {
				t.Errorf("%q on %q: %d %s findings, want none", c.text, cat, own, c.rule)
			}
			if (cat == "food" || cat == "cosmetics") && general != 0 {
				t.Errorf("%q on %q: the general medical rule judges a category with its own rule", c.text, cat)
			}
		}
	}
	// Categories compare case-insensitively.
	if got := check(t, rs, Input{Kind: shopwatch.KindProduct, Category: " Food ", Text: "三天降血压"}); len(got) != 1 {
		t.Errorf("category \" Food \": %v, want one finding", hits(got))
	}
}

// All contract phrases on one storefront page, joined in several ways:
// joining must not make words across phrase boundaries.
func TestContractComposedPage(t *testing.T) {
	rs := builtin(t)
	for _, sep := range []string{" · ", "\n", "，", " ", "", "【", "\u200b"} {
		for _, cat := range []string{"food", "cosmetics"} {
			var parts []string
			var want []hit
			for _, c := range contractViolating {
				if c.category == "" || c.category == cat {
					parts = append(parts, c.text)
					want = append(want, hit{c.rule, c.match})
				}
			}
			for _, c := range contractCompliant {
				if c.category == "" || c.category == cat {
					parts = append(parts, c.text)
				}
			}
			text := strings.Join(parts, sep) + "\n" + licenceBlock
			got := hits(check(t, rs, Input{Kind: shopwatch.KindStorefront, Category: cat, Text: text}))
			slices.SortFunc(got, func(a, b hit) int { return strings.Compare(a.Rule+a.Match, b.Rule+b.Match) })
			slices.SortFunc(want, func(a, b hit) int { return strings.Compare(a.Rule+a.Match, b.Rule+b.Match) })
			if !slices.Equal(got, want) {
				t.Errorf("separator %q, %s:\ngot  %v\nwant %v", sep, cat, got, want)
			}
		}
	}
}

func TestFindingFields(t *testing.T) {
	rs := builtin(t)
	in := Input{URL: "http://127.0.0.1/shop/1/item/2", Kind: shopwatch.KindProduct, Category: "food",
		Text: "新品上市，三天降血压，欢迎选购"}
	fs := check(t, rs, in)
	if len(fs) != 1 {
		t.Fatalf("got %v", hits(fs))
	}
	f := fs[0]
	want := shopwatch.Finding{
		Rule: "ad.medical-claim-food", Title: "普通食品宣称疾病预防或治疗功能", Category: "advertising",
		Law: "《中华人民共和国食品安全法》", Article: "第七十三条；另见《中华人民共和国广告法》第十七条",
		Severity: shopwatch.SeverityViolation, Match: "降血压", Snippet: in.Text,
		Offset: strings.Index(in.Text, "降血压"), URL: in.URL, Kind: shopwatch.KindProduct,
		Region: shopwatch.RegionOther,
	}
	f.Reason = ""
	if !reflect.DeepEqual(f, want) {
		t.Errorf("finding\n got %+v\nwant %+v", f, want)
	}
	if !strings.Contains(fs[0].Reason, "降血压") || !strings.Contains(fs[0].Reason, "疾病预防、治疗功能") {
		t.Errorf("reason %q does not explain the match", fs[0].Reason)
	}
}

func TestSnippetBounds(t *testing.T) {
	rs := builtin(t)
	pre, post := strings.Repeat("甲", 30), strings.Repeat("乙", 30)
	in := Input{Kind: shopwatch.KindProduct, Text: pre + "顶级" + post}
	fs := check(t, rs, in)
	if len(fs) != 1 {
		t.Fatalf("got %v", hits(fs))
	}
	if want := strings.Repeat("甲", 20) + "顶级" + strings.Repeat("乙", 20); fs[0].Snippet != want {
		t.Errorf("snippet %q, want %q", fs[0].Snippet, want)
	}
}

func TestExceptions(t *testing.T) {
	rs := builtin(t)
	tests := []struct {
		text string
		want []string // matches of ad.absolute-term
	}{
		{"第一次使用，行业第一", []string{"第一"}},
		{"最佳赏味期：开封后7天，口感最佳", []string{"最佳"}},
		{"最 佳 赏味期：开封后7天", nil},        // the exception is normalised too
		{"全网第一次降价", []string{"全网第一"}}, // an exception never swallows a longer claim
		{"第一时间发货", nil},
		{"开封后最好在三天内吃完；本店最好", []string{"最好"}}, // advice, then a claim
		{"万能胶 万能钥匙", []string{"万能"}},         // only the listed product name is exempt
	}
	for _, tt := range tests {
		fs := check(t, rs, Input{Kind: shopwatch.KindProduct, Text: tt.text})
		var got []string
		for _, f := range fs {
			got = append(got, f.Match)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.text, got, tt.want)
		}
	}
	// The reason names the exceptions that were considered.
	fs := check(t, rs, Input{Kind: shopwatch.KindProduct, Text: "行业第一"})
	if len(fs) != 1 || !strings.Contains(fs[0].Reason, "第一次") || !strings.Contains(fs[0].Reason, "等") {
		t.Errorf("reason %q does not list the exceptions considered", fs[0].Reason)
	}
}

func TestOverlapsAndWordEdges(t *testing.T) {
	rs := builtin(t)
	tests := []struct {
		text string
		want []string
	}{
		{"全网第一", []string{"全网第一"}}, // longest at the position, not also 第一
		{"销量冠军 全网第一 第一", []string{"销量冠军", "全网第一", "第一"}},
		{"订单 NO.12345", nil},
		{"ANO.1 型号", nil},
		{"NO.1款", []string{"NO.1"}},
		{"No1 款", []string{"No1"}},
		{"Ｔｏｐ１热卖", []string{"Ｔｏｐ１"}},
		{"TOP10 榜单", nil},
		{"型号 XTOP1", nil},
		{"最​佳", []string{"最\u200b佳"}},
	}
	for _, tt := range tests {
		fs := check(t, rs, Input{Kind: shopwatch.KindProduct, Text: tt.text})
		var got []string
		for _, f := range fs {
			got = append(got, f.Match)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestRepeatsOneFindingWithLocations(t *testing.T) {
	rs := builtin(t)
	text := strings.Repeat("最佳好物，", 6) + "最 佳" + strings.Repeat("，顶级", 2)
	fs := check(t, rs, Input{Kind: shopwatch.KindProduct, Text: text})
	byMatch := map[string][]shopwatch.Finding{}
	for _, f := range fs {
		byMatch[f.Match] = append(byMatch[f.Match], f)
	}
	// The same text is one finding listing every place; another spelling
	// of it is a finding of its own.
	if len(byMatch["最佳"]) != 1 || len(byMatch["最 佳"]) != 1 || len(byMatch["顶级"]) != 1 {
		t.Fatalf("got %v, want one finding each for 最佳, 最 佳 and 顶级", hits(fs))
	}
	best := byMatch["最佳"][0]
	step := len("最佳好物，")
	if best.Offset != 0 || len(best.Locations) != 6 {
		t.Fatalf("最佳 at %d with %d locations, want 0 and 6", best.Offset, len(best.Locations))
	}
	for i, l := range best.Locations {
		if l.Offset != i*step || l.Region != shopwatch.RegionOther || !strings.Contains(l.Snippet, "最佳") {
			t.Errorf("location %d = %+v, want offset %d in region other with a snippet", i, l, i*step)
		}
	}
	if !strings.Contains(best.Reason, "共出现 6 处") {
		t.Errorf("reason %q does not count the 6 occurrences", best.Reason)
	}
	if top := byMatch["顶级"][0]; len(top.Locations) != 2 || byMatch["最 佳"][0].Locations != nil {
		t.Errorf("顶级 has %d locations (want 2); 最 佳 has %v (want none)", len(top.Locations), byMatch["最 佳"][0].Locations)
	}

	// Past MaxLocations the rest are counted, not listed.
	fs = check(t, rs, Input{Kind: shopwatch.KindProduct, Text: strings.Repeat("最佳好物，", MaxLocations+5)})
	if len(fs) != 1 || len(fs[0].Locations) != MaxLocations {
		t.Fatalf("got %d findings, first with %d locations; want 1 with %d", len(fs), len(fs[0].Locations), MaxLocations)
	}
	if want := fmt.Sprintf("共出现 %d 处，仅列前 %d 处", MaxLocations+5, MaxLocations); !strings.Contains(fs[0].Reason, want) {
		t.Errorf("reason %q does not say %q", fs[0].Reason, want)
	}
}

func TestLicenceRules(t *testing.T) {
	rs := builtin(t)
	sf := shopwatch.KindStorefront
	tests := []struct {
		name     string
		kind     shopwatch.Kind
		category string
		text     string
		want     []hit
	}{
		{"complete food shop", sf, "food", licenceBlock, nil},
		{"bare storefront", sf, "apparel", "欢迎光临本店", []hit{
			{"licence.business-info-missing", ""}, {"licence.icp-missing", ""}}},
		{"bare food storefront", sf, "food", "欢迎光临本店", []hit{
			{"licence.business-info-missing", ""}, {"licence.food-permit-missing", ""}, {"licence.icp-missing", ""}}},
		{"licence rules not on product pages", shopwatch.KindProduct, "food", "欢迎光临本店", nil},
		{"licence rules not on livestreams", shopwatch.KindLivestream, "food", "欢迎光临本店", nil},
		{"blank storefront is not judged", sf, "food", " \n\u200b ", nil},
		{"permit label without number", sf, "food", strings.Replace(licenceBlock, "JY13301060012345", "见资质页", 1),
			[]hit{{"licence.food-permit-missing", ""}}},
		{"permit number with 13 digits", sf, "food", strings.Replace(licenceBlock, "JY13301060012345", "JY1330106001234", 1),
			[]hit{{"licence.food-permit-missing", ""}}},
		{"full-width permit", sf, "food", strings.Replace(licenceBlock, "JY13301060012345", "ＪＹ１３３０１０６００１２３４５", 1), nil},
		{"no permit needed outside food", sf, "apparel", strings.Replace(licenceBlock, "食品经营许可证：JY13301060012345", "", 1), nil},
		{"only the licence word", sf, "apparel", "营业执照 浙ICP备12345678号", nil},
		{"ICP without province", sf, "apparel", "营业执照 ICP备12345678号", []hit{{"licence.icp-missing", ""}}},
		{"ICP licence instead of filing", sf, "apparel", "营业执照 京ICP证030173号", nil},
		{"bad check char", sf, "food", strings.Replace(licenceBlock, "91350100M000100Y43", "91350100M000100Y44", 1),
			[]hit{{"licence.uscc-invalid", "91350100M000100Y44"}}},
		{"full-width bad code", sf, "food", strings.Replace(licenceBlock, "91350100M000100Y43", "９１３５０１００Ｍ０００１００Ｙ４４", 1),
			[]hit{{"licence.uscc-invalid", "９１３５０１００Ｍ０００１００Ｙ４４"}}},
		{"code with a letter outside the set", sf, "food", strings.Replace(licenceBlock, "91350100M000100Y43", "91350100M000I00Y43", 1),
			[]hit{{"licence.uscc-invalid", "91350100M000I00Y43"}}},
		{"17-character code is not a candidate", sf, "food", strings.Replace(licenceBlock, "91350100M000100Y43", "91350100M000100Y4", 1), nil},
		{"code far from its label", sf, "apparel", "营业执照 统一社会信用代码：请见下方图片，图片中含有我们公司的全部资质信息以及各类许可证件 91350100M000100Y44 浙ICP备1号", nil},
		{"uscc not judged on product pages", shopwatch.KindProduct, "", "统一社会信用代码：91350100M000100Y44", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := check(t, rs, Input{Kind: tt.kind, Category: tt.category, Text: tt.text})
			if got := hits(fs); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			for _, f := range fs {
				if f.Rule == "licence.uscc-invalid" {
					if f.Severity != shopwatch.SeverityReview || !strings.Contains(f.Reason, "早期试点") || !strings.Contains(f.Article, "GB 32100") {
						t.Errorf("uscc finding %+v", f)
					}
				}
			}
		})
	}
	// The check-character finding says which character was expected.
	fs := check(t, rs, Input{Kind: sf, Text: "统一社会信用代码：91350100M000100Y44 营业执照 浙ICP备1号"})
	if len(fs) != 1 || !strings.Contains(fs[0].Reason, "应为 3，页面所示为 4") {
		t.Errorf("reason does not name the expected check character: %v", fs)
	}
}

// A custom rule set exercising regex rules, anchored and not.
const regexRules = `rules:
  - id: t.cure-rate
    title: {zh: 治愈率, en: Cure rate}
    category: test
    law: 《测试法》
    article: 第一条
    penalty: 《测试法》第二条
    severity: review
    type: regex
    regex: ['治愈率(?:高达)?\d{1,3}%', '(?:有效率|总有效率)\d+%']
    exceptions: [治愈率0%]
    examples:
      positive: [{text: "临床治愈率高达98%", match: 治愈率高达98%}]
      negative: ["治愈率0%，请遵医嘱"]
`

func TestRegexRules(t *testing.T) {
	rs, err := loadMap(t, map[string]string{"r.yaml": regexRules})
	if err != nil {
		t.Fatal(err)
	}
	c := rs.rules[0]
	if c.regs[0].lit != "治愈率" || c.regs[0].before != 0 || c.regs[0].after != len("高达")+3+1 {
		t.Errorf("anchor of %q = %q before %d after %d", c.regs[0].src, c.regs[0].lit, c.regs[0].before, c.regs[0].after)
	}
	if c.regs[1].lit != "%" || c.regs[1].before != anchorWindow {
		t.Errorf("anchor of %q = %q before %d, want %% with an unbounded part before it", c.regs[1].src, c.regs[1].lit, c.regs[1].before)
	}
	text := "治愈率９５％ 治 愈 率80% 治愈率 70% 有效率100% 总有效率99% 治愈率0%"
	fs := check(t, rs, Input{Kind: shopwatch.KindProduct, Text: text})
	got := hits(fs)
	want := []hit{{"t.cure-rate", "治愈率９５％"}, {"t.cure-rate", "治 愈 率80%"}, {"t.cure-rate", "有效率100%"}, {"t.cure-rate", "总有效率99%"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// Windowed search around anchors finds what a whole-text search finds.
func TestAnchoredRegexMatchesWholeText(t *testing.T) {
	rs := builtin(t)
	var icp *compiledRegex
	for _, c := range rs.rules {
		if c.ID == "licence.icp-missing" {
			icp = c.regs[0]
		}
	}
	if icp == nil || icp.lit != "icp备" || icp.before != 3 || icp.after != anchorWindow {
		t.Fatalf("icp anchor = %+v", icp)
	}
	text := []byte(Normalize(strings.Repeat("页脚 浙ICP备123号-2 ICP备 京ICP备9号 ", 40) + "沪ICP备" + strings.Repeat("1", 400) + "号").Text)
	var windowed, whole [][2]int
	sc := &scratch{}
	sc.anchors = nil
	for _, h := range rs.ac.scan(text, nil) {
		if rs.lits[h.pat] == "icp备" {
			sc.anchors = append(sc.anchors, cand{start: h.end - rs.ac.lens[h.pat], end: h.end})
		}
	}
	for w := 0; w < len(sc.anchors); w++ {
		from := runeStartBack(text, int(sc.anchors[w].start)-icp.before)
		to := runeStartFwd(text, int(sc.anchors[w].end)+icp.after)
		searchAll(icp, text, from, to, func(s, e int) bool {
			if !slices.Contains(windowed, [2]int{s, e}) {
				windowed = append(windowed, [2]int{s, e})
			}
			return true
		})
	}
	searchAll(icp, text, 0, len(text), func(s, e int) bool { whole = append(whole, [2]int{s, e}); return true })
	slices.SortFunc(windowed, func(a, b [2]int) int { return a[0] - b[0] })
	// The 400-digit number is past the window, so only the bounded ones agree.
	if len(whole) != 81 || !slices.Equal(windowed, whole[:80]) {
		t.Errorf("windowed %d matches, whole %d; first differ: %v vs %v", len(windowed), len(whole), windowed[:min(3, len(windowed))], whole[:min(3, len(whole))])
	}
}

func TestCheckConcurrent(t *testing.T) {
	rs := builtin(t)
	var inputs []Input
	for i, c := range contractViolating {
		inputs = append(inputs, Input{URL: fmt.Sprint(i), Kind: kinds[i%len(kinds)], Category: c.category,
			Text: strings.Repeat(c.text+"，", i+1) + licenceBlock[:i*7]})
	}
	want := make([][]shopwatch.Finding, len(inputs))
	for i, in := range inputs {
		want[i] = rs.Check(in)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for r := 0; r < 20; r++ {
				for i, in := range inputs {
					if got := rs.Check(in); !reflect.DeepEqual(got, want[i]) {
						t.Errorf("goroutine %d input %d: results differ", g, i)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestNoApplicableRules(t *testing.T) {
	rs, err := loadMap(t, map[string]string{"a.yaml": strings.Replace(goodRule, "    type: terms\n",
		"    type: terms\n    applies_to: {kinds: [livestream]}\n", 1)})
	if err != nil {
		t.Fatal(err)
	}
	if fs := rs.Check(Input{Kind: shopwatch.KindProduct, Text: "甲乙"}); fs != nil {
		t.Errorf("got %v", fs)
	}
	if fs := rs.Check(Input{Kind: "", Text: "甲乙"}); fs != nil {
		t.Errorf("empty kind: got %v, want no findings from a kind-limited rule", fs)
	}
}
