package rules

import (
	"errors"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"shopwatch"
	"shopwatch/configs"
)

func TestNormalizeFolds(t *testing.T) {
	tests := []struct{ in, want string }{
		{"頂級工藝 國家級", "顶级工艺国家级"},
		{"蕞好", "最好"},
		{"ΝΟ.1", "no.1"},
		{"ТОР1", "top1"},
		{"第壹", "第一"},
		{"❶号", "1号"},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in).Text; got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// A folded character maps back to itself.
	n := Normalize("全網最佳")
	i := strings.Index(n.Text, "网")
	if s, e := n.Original(i, i+len("网")); "全網最佳"[s:e] != "網" {
		t.Errorf("folded character maps back to %q", "全網最佳"[s:e])
	}
}

func TestLexicon(t *testing.T) {
	l, err := builtinLexicon()
	if err != nil {
		t.Fatal(err)
	}
	if len(l.fold) == 0 || len(l.spellings) == 0 || len(l.categories) == 0 {
		t.Fatalf("lexicon: %d folds, %d spellings, %d categories", len(l.fold), len(l.spellings), len(l.categories))
	}
	// Folding is idempotent: no folded form is folded again.
	for r, f := range l.fold {
		for _, x := range f {
			if g := l.foldOf(x); g != nil && string(g) != string(x) {
				t.Errorf("fold of %q is %q, which folds again to %q", r, string(f), string(g))
			}
		}
	}
	got := l.expandSpellings("第一品牌", 16)
	for _, want := range []string{"di一品牌", "第1品牌", "弟一品牌"} {
		if !slices.Contains(got, want) {
			t.Errorf("spellings of 第一品牌 = %q, want %q among them", got, want)
		}
	}
	if slices.Contains(got, "第一品牌") {
		t.Error("spellings include the pattern itself")
	}
}

func TestContextExceptionsAndReferral(t *testing.T) {
	rs := builtin(t)
	tests := []struct {
		text string
		want []hit
	}{
		{"最佳冲泡水温85度", nil}, // usage tip (guide art. 6 item 2)
		{"顾客第一", nil},      // philosophy (guide art. 5)
		{"本系列最轻薄", nil},    // self-comparison (guide art. 6 item 1)
		{"最大承重150公斤，全网最大", []hit{{"ad.absolute-term", "最大"}}}, // specification, then a claim
		{"2024年天猫坚果类目销量第一", []hit{{"ad.claim-needs-proof", "销量第一"}}},
		{"国家级非物质文化遗产", []hit{{"ad.claim-needs-proof", "国家级"}}},
		{"第一锅最香", []hit{{"ad.absolute-term", "最香"}}},
		{"限时特惠，全网第一", []hit{{"ad.absolute-term", "全网第一"}}}, // the qualifier is in another clause
	}
	for _, tt := range tests {
		got := hits(check(t, rs, Input{Kind: shopwatch.KindProduct, Category: "food", Text: tt.text}))
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %v, want %v", tt.text, got, tt.want)
		}
	}
	fs := check(t, rs, Input{Kind: shopwatch.KindProduct, Text: "2024年天猫坚果类目销量第一"})
	if len(fs) != 1 || fs[0].Severity != shopwatch.SeverityReview || !strings.Contains(fs[0].Reason, "第六条第六项") ||
		!strings.Contains(fs[0].Reason, "ad.absolute-term") {
		t.Errorf("referred finding %+v does not explain the exception", fs)
	}
	fs = check(t, rs, Input{Kind: shopwatch.KindProduct, Text: "全网最佳口碑"})
	if len(fs) != 1 || !strings.Contains(fs[0].Reason, "定性：违法") || !strings.Contains(fs[0].Reason, "罚则：《中华人民共和国广告法》第五十七条") {
		t.Errorf("reason %q lacks the severity note or the penalty", fs[0].Reason)
	}
}

func TestSpellingsMatchAndReport(t *testing.T) {
	rs := builtin(t)
	fs := check(t, rs, Input{Kind: shopwatch.KindProduct, Text: "zui佳伴手礼，di一次购买"})
	if got := hits(fs); !slices.Equal(got, []hit{{"ad.absolute-term", "zui佳"}}) {
		t.Fatalf("got %v", got)
	}
	if !strings.Contains(fs[0].Reason, "变体写法") {
		t.Errorf("reason %q does not say the match is a variant spelling", fs[0].Reason)
	}
}

const markupRules = `rules:
  - id: t.missing
    title: {zh: 缺, en: Missing}
    category: test
    law: 《测试法》
    article: 第一条
    penalty: 《测试法》第九条
    severity: violation
    type: require
    patterns: [执照]
    yields_to: [t.image]
    examples: {positive: [甲], negative: [执照]}
  - id: t.image
    title: {zh: 图, en: Image}
    category: test
    law: 《测试法》
    article: 第二条
    penalty: 《测试法》第九条
    severity: review
    type: terms
    scope: images
    patterns: [执照, yyzz]
    exceptions: [执照样本]
    only_with: [t.missing]
    examples:
      positive: [{text: 甲, html: '<img alt="执照">'}]
      negative: [{text: 执照, html: '<img alt="执照">'}]
  - id: t.link
    title: {zh: 链, en: Link}
    category: test
    law: 《测试法》
    article: 第三条
    penalty: 《测试法》第九条
    severity: info
    type: terms
    scope: links
    patterns: [证照]
    enabled: false
    examples:
      positive: [{text: 甲, html: '<a href="/l">证照信息</a>'}]
      negative: [{text: 甲, html: '<a href="/x">首页</a>'}]
`

func TestMarkupScopesAndRelations(t *testing.T) {
	rs, err := loadMap(t, map[string]string{"m.yaml": markupRules})
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Kind: shopwatch.KindStorefront, Text: "欢迎光临", HTML: `<p>欢迎光临</p><img src="/a/yyzz.jpg"><a href="/shop/licence" title="亮照">证照信息</a>`}
	fs := rs.Check(in)
	if got := hits(fs); !slices.Equal(got, []hit{{"t.image", ""}}) {
		t.Fatalf("got %v, want only the image finding (t.missing yields to it, t.link is off)", got)
	}
	if fs[0].Offset != -1 || !strings.Contains(fs[0].Snippet, "/a/yyzz.jpg") {
		t.Errorf("image finding %+v", fs[0])
	}
	// The image rule only speaks with the missing-licence rule.
	in.Text = "执照信息"
	if fs := rs.Check(in); len(fs) != 0 {
		t.Errorf("text shows the licence: got %v", hits(fs))
	}
	// An exception inside a label.
	in = Input{Kind: shopwatch.KindStorefront, Text: "甲", HTML: `<img alt="执照样本">`}
	if got := hits(rs.Check(in)); !slices.Equal(got, []hit{{"t.missing", ""}}) {
		t.Errorf("excepted image label: got %v", got)
	}
	// Enable switches on a rule its file switches off.
	if r := rs.Rules()[2]; !r.Disabled {
		t.Errorf("rule %s not reported as disabled", r.ID)
	}
	on, err := rs.Enable("t.link")
	if err != nil {
		t.Fatal(err)
	}
	in = Input{Kind: shopwatch.KindStorefront, Text: "欢迎光临", HTML: `<a href="/shop/licence">证照信息</a>`}
	if got := hits(on.Check(in)); !slices.Contains(got, hit{"t.link", ""}) {
		t.Errorf("enabled link rule: got %v", got)
	}
	if links := on.FollowLinks(in); len(links) != 1 || links[0].Href != "/shop/licence" || links[0].Text != "证照信息" {
		t.Errorf("FollowLinks = %+v", links)
	}
	if links := rs.FollowLinks(in); len(links) != 0 {
		t.Errorf("FollowLinks of a disabled rule = %+v", links)
	}
	if _, err := rs.Enable("t.nope"); err == nil || !strings.Contains(err.Error(), "t.nope") {
		t.Errorf("Enable of an unknown id: %v", err)
	}
}

func TestBuiltinLicenceMarkup(t *testing.T) {
	rs := builtin(t)
	sf := shopwatch.KindStorefront
	tests := []struct {
		name, text, html string
		want             []hit
	}{
		{"licence as image only", "欢迎光临 浙ICP备12345678号", `<img src="/img/营业执照.jpg">`, []hit{{"licence.shown-as-image", ""}}},
		{"licence behind a link", "欢迎光临 浙ICP备12345678号", `<a href="/licence">证照信息</a>`, []hit{{"licence.shown-by-link", ""}}},
		{"licence as text, image too", "营业执照 浙ICP备12345678号", `<img alt="营业执照">`, nil},
		{"no licence anywhere", "欢迎光临 浙ICP备12345678号", `<img alt="新品">`, []hit{{"licence.business-info-missing", ""}}},
	}
	for _, tt := range tests {
		got := hits(check(t, rs, Input{Kind: sf, Category: "apparel", Text: tt.text, HTML: tt.html}))
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBuiltinValidators(t *testing.T) {
	rs := builtin(t)
	sf := shopwatch.KindStorefront
	base := "营业执照 浙ICP备12345678号 "
	tests := []struct {
		text string
		want []hit
	}{
		{base + "统一社会信用代码：913501001234567800", []hit{{"licence.uscc-orgcode-mismatch", "913501001234567800"}}},
		{base + "统一社会信用代码：913501001234567801", []hit{{"licence.uscc-invalid", "913501001234567801"}}},
		{base + "注册号：330106000012341", []hit{{"licence.regno-invalid", "330106000012341"}}},
		{base + "注册号：330106000012340", nil},
		{base + "京公网安备 11010502030143号", nil},
		{base + "沪公网安备 11010502030143号", []hit{{"licence.psb-invalid", "11010502030143"}}},
		{base + "食品经营许可证：JY13301060012345", nil},
		{base + "食品经营许可证：JY99901060012345", []hit{{"licence.food-permit-invalid", "JY99901060012345"}}},
	}
	for _, tt := range tests {
		got := hits(check(t, rs, Input{Kind: sf, Category: "apparel", Text: tt.text}))
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %v, want %v", tt.text, got, tt.want)
		}
	}
	fs := check(t, rs, Input{Kind: sf, Text: base + "统一社会信用代码：913501001234567800"})
	if len(fs) != 1 || !strings.Contains(fs[0].Reason, "校验码应为 8") {
		t.Errorf("org code finding does not name the expected check character: %+v", fs)
	}
}

func TestDetectCategory(t *testing.T) {
	tests := []struct {
		name, title, text, html, want string
	}{
		{"breadcrumb", "", "", `<nav class="crumbs"><a>首页</a> › <span>美妆护肤</span></nav>`, "cosmetics"},
		{"longest word wins", "某某牌保健食品 鱼油软胶囊", "", "", "healthfood"},
		{"json-ld", "", "", `<script type="application/ld+json">{"@type":"Product","category":"数码家电"}</script>`, "electronics"},
		{"json-ld breadcrumbs", "", "", `<script type="application/ld+json">{"@type":"BreadcrumbList","itemListElement":[{"name":"首页"},{"name":"食品"}]}</script>`, "food"},
		{"title from markup", "", "", `<title>禾源 原味高山绿茶 250克罐装 - 禾源食品旗舰店</title>`, "food"},
		{"crumbs outweigh text", "", "蓝牙耳机 耳机 耳机", `<div class="breadcrumb">首页 &gt; 服饰鞋包 &gt; 女装</div>`, "apparel"},
		{"nothing to go on", "欢迎光临", "七天无理由退换", "", ""},
		{"a tie decides nothing", "食品 护肤", "", "", ""},
	}
	for _, tt := range tests {
		if got := DetectCategory(tt.title, tt.text, tt.html); got != tt.want {
			t.Errorf("%s: DetectCategory = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestLoadNewFieldProblems(t *testing.T) {
	tests := []struct {
		name, old, new string
		line           int
		msg            string
	}{
		{"missing penalty", "    penalty: 《测试法》第二条\n", "", 3, `missing field "penalty"`},
		{"missing article", "    article: 第一条\n", "", 3, `missing field "article"`},
		{"bad scope", "    type: terms\n", "    type: terms\n    scope: pixels\n", 10, `unknown scope "pixels"`},
		{"scope on a require rule", "    type: terms\n", "    type: require\n    scope: images\n", 10, "scope images needs a terms rule"},
		{"unknown validator", "    type: terms\n", "    type: code\n    validator: magic\n", 10, `unknown validator "magic"`},
		{"unknown reference", "    type: terms\n", "    type: terms\n    yields_to: [t.nope]\n", 10, `unknown rule id "t.nope"`},
		{"self reference", "    type: terms\n", "    type: terms\n    only_with: [t.one]\n", 10, "names the rule itself"},
		{"bad context regex", "exceptions: [甲乙丙]", "exceptions: [{before: '(x'}]", 11, "bad regex"},
		{"two exception kinds", "exceptions: [甲乙丙]", "exceptions: [{before: x, after: y}]", 11, "exactly one of"},
		{"for names no pattern", "exceptions: [甲乙丙]", "exceptions: [{after: x, for: [丙丁]}]", 11, `"丙丁", which is not one of the rule's patterns`},
		{"unknown refer", "exceptions: [甲乙丙]", "exceptions: [{text: 甲乙丙, refer: t.nope}]", 11, `unknown rule id "t.nope"`},
		{"bad enabled", "    type: terms\n", "    type: terms\n    enabled: maybe\n", 10, `enabled "maybe"`},
		{"bad unless", "    type: terms\n", "    type: terms\n    unless: ['(']\n", 10, "bad regex"},
		{"text need", "    type: terms\n", "    type: terms\n    needs: [甲乙]\n", 10, "needs: want before, after, clause or sentence"},
		{"bad need regex", "    type: terms\n", "    type: terms\n    needs: [{clause: '(x'}]\n", 10, "needs: bad regex"},
		{"unknown lexicon list", "    type: terms\n", "    type: terms\n    lexicon: [nope]\n", 10, `lexicon: unknown list "nope" (known: body-effect-verbs, body-functions, diseases, `},
		{"unknown list in needs", "    type: terms\n", "    type: terms\n    needs: [{clause: '{{nope}}'}]\n", 10, "needs: unknown lexicon list {{nope}}"},
		{"unknown list in exceptions", "exceptions: [甲乙丙]", "exceptions: [甲乙丙, '{{nope}}']", 11, `exceptions: unknown lexicon list "nope"`},
		{"needs on a code rule", "    type: terms\n", "    type: code\n    validator: uscc\n    needs: [{clause: x}]\n", 11, `field "needs" is not used by code rules`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(goodRule, tt.old) {
				t.Fatalf("test setup: %q not in goodRule", tt.old)
			}
			_, err := loadMap(t, map[string]string{"a.yaml": strings.Replace(goodRule, tt.old, tt.new, 1)})
			wantProblem(t, err, "rules/a.yaml", tt.line, tt.msg)
		})
	}
}

func TestSkipExamplesAndRunExamples(t *testing.T) {
	bad := strings.Replace(goodRule, "negative: [甲乙丙]", "negative: [甲乙丁]", 1)
	if _, err := loadMap(t, map[string]string{"a.yaml": bad}); err == nil {
		t.Fatal("a failing example loaded")
	}
	dir := t.TempDir()
	path := dir + "/a.yaml"
	if err := writeFile(path, bad); err != nil {
		t.Fatal(err)
	}
	rs, err := LoadFiles([]string{path}, Options{SkipExamples: true})
	if err != nil {
		t.Fatalf("LoadFiles with SkipExamples: %v", err)
	}
	res := rs.RunExamples()
	if len(res) != 2 || res[0].Problem != "" || !strings.Contains(res[1].Problem, `raises a finding on "甲乙"`) {
		t.Errorf("RunExamples = %+v", res)
	}
	if _, err := LoadFiles(nil, Options{}); err == nil {
		t.Error("LoadFiles of no files succeeded")
	}
	_, err = LoadFiles([]string{dir + "/missing.yaml"}, Options{})
	var le *LoadError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// A rule's needs keep a match only where its context holds them: a disease
// counts as a claim in the clause of an effect verb, not where it is just
// named; a candidate dropped for a need is traced as such.
func TestNeeds(t *testing.T) {
	rs := builtin(t)
	tests := []struct {
		text, category string
		want           []hit
	}{
		{"食用玉米可预防冠心病", "food", []hit{{"ad.disease-claim", "冠心病"}}},
		{"血栓快速溶解", "healthfood", []hit{{"ad.disease-claim", "血栓"}}},
		{"冠心病是常见的心脏疾病", "food", nil},                               // named, not claimed
		{"预防为主，冠心病患者慎用", "food", nil},                              // the verb is in another clause; a warning
		{"不适宜人群：高血压患者、孕妇", "healthfood", nil},                      // the label's section
		{"有助于改善睡眠，改善缺铁性贫血", "healthfood", nil},                     // permitted health-food wording
		{"可治疗糖尿病", "food", []hit{{"ad.medical-claim-food", "治疗"}}}, // reported once, by the medical-wording rule
		{"降血压，治高血压", "drug", nil},                                  // a drug's indication is not this rule's
	}
	for _, tt := range tests {
		got := hits(check(t, rs, Input{Kind: shopwatch.KindProduct, Category: tt.category, Text: tt.text}))
		var claims []hit
		for _, h := range got {
			if h.Rule == "ad.disease-claim" || h.Rule == "ad.medical-claim-food" {
				claims = append(claims, h)
			}
		}
		if !slices.Equal(claims, tt.want) {
			t.Errorf("%q (%s): got %v, want %v", tt.text, tt.category, claims, tt.want)
		}
	}
	_, tr := rs.CheckTrace(Input{Kind: shopwatch.KindProduct, Category: "food", Text: "冠心病是常见的心脏疾病"})
	var traced bool
	for _, c := range tr.Candidates {
		if c.Rule == "ad.disease-claim" && c.Outcome == OutcomeNeeds && strings.Contains(c.Why, "预防") {
			traced = true
		}
	}
	if !traced {
		t.Errorf("no candidate of ad.disease-claim traced as lacking its need: %+v", tr.Candidates)
	}
}

// A malformed or runaway lexicon file is refused naming its file and line.
func TestLexiconBadInput(t *testing.T) {
	good := map[string]string{}
	for _, name := range lexiconFiles {
		b, err := fs.ReadFile(configs.FS, "lexicon/"+name)
		if err != nil {
			t.Fatal(err)
		}
		good[name] = string(b)
	}
	for _, tc := range []struct {
		name, file, text, want string
	}{
		{"unknown key", "variants.yaml", "version: 1\nspellings: {}\ncolour: red\n", "lexicon lex/variants.yaml:3:"},
		{"broken yaml", "categories.yaml", "version: 1\ncategories: [\n", "lexicon lex/categories.yaml:"},
		{"too big", "traditional.yaml", "version: 1\ntraditional: " + strings.Repeat("國国 ", 1<<20) + "\n", "more than the"},
		{"not a pair", "traditional.yaml", "version: 1\ntraditional: 國國国\n", "is not two characters"},
		{"bad list name", "claims.yaml", "version: 1\nlists:\n  Diseases: [癌症]\n", `list name "Diseases"`},
		{"repeated word", "claims.yaml", "version: 1\nlists:\n  diseases: [癌症, 痛风, 癌症]\n", `repeated word "癌症"`},
		{"list in two files", "diseases.yaml", "version: 1\nlists:\n  diseases: [癌症]\n", `lexicon lex/diseases.yaml: list "diseases" given twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, text := range good {
				fsys["lex/"+name] = &fstest.MapFile{Data: []byte(text)}
			}
			fsys["lex/"+tc.file] = &fstest.MapFile{Data: []byte(tc.text)}
			_, err := loadLexicon(fsys, "lex")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// A rule's lexicon lists become its patterns, and {{name}} in an
// expression matches any word of the list.
func TestLexiconLists(t *testing.T) {
	rs := builtin(t)
	var r *Rule
	for _, x := range rs.Rules() {
		if x.ID == "ad.disease-claim" {
			r = &x
		}
	}
	words := map[string]bool{}
	for _, w := range slices.Concat(lex().lists["diseases"], lex().lists["diseases-std"]) {
		words[w] = true
	}
	if r == nil || !slices.Equal(r.Lexicon, []string{"diseases", "diseases-std"}) || !slices.Contains(r.Patterns, "冠心病") || !slices.Contains(r.Patterns, "腱鞘炎") || len(r.Patterns) != len(words) {
		t.Fatalf("ad.disease-claim: %+v", r)
	}
	re, err := expandLists("^{{effect-verbs}}$")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range lex().lists["effect-verbs"] {
		if !regexp.MustCompile(re).MatchString(w) {
			t.Errorf("{{effect-verbs}} does not match %q", w)
		}
	}
	if _, err := expandLists("{{nope}}"); err == nil {
		t.Error("an unknown list expanded")
	}
}

// defers_to: a rule's finding whose every place shares a clause with a
// finding of the rule it defers to is dropped (and traced); a place in
// another clause keeps it whole.
func TestDefersTo(t *testing.T) {
	rs := builtin(t)
	count := func(text, category, rule string) int {
		n := 0
		for _, f := range check(t, rs, Input{Kind: shopwatch.KindProduct, Category: category, Text: text}) {
			if f.Rule == rule {
				n++
			}
		}
		return n
	}
	// 领导人推荐 is ad.state-organ's; the endorsement regex defers to it.
	if n := count("领导人推荐的养生茶", "", "ad.state-organ-endorsement"); n != 0 {
		t.Errorf("ad.state-organ-endorsement beside ad.state-organ in one clause: %d findings, want 0", n)
	}
	if n := count("领导人推荐的养生茶", "", "ad.state-organ"); n != 1 {
		t.Errorf("ad.state-organ: %d findings, want 1", n)
	}
	// The same endorsement alone still speaks.
	if n := count("省委领导调研时品尝并赞誉", "", "ad.state-organ-endorsement"); n != 1 {
		t.Errorf("ad.state-organ-endorsement alone: %d findings, want 1", n)
	}
	// 临床治愈率高达98%: one finding, the guarantee rule's.
	if n := count("临床治愈率高达98%", "medical", "ad.medical-rate-claim"); n != 0 {
		t.Errorf("ad.medical-rate-claim beside ad.medical-guarantee: %d findings, want 0", n)
	}
	if n := count("临床治愈率高达98%", "medical", "ad.medical-guarantee"); n != 1 {
		t.Errorf("ad.medical-guarantee: %d findings, want 1", n)
	}
	_, tr := rs.CheckTrace(Input{Kind: shopwatch.KindProduct, Category: "medical", Text: "临床治愈率高达98%"})
	var traced bool
	for _, d := range tr.Dropped {
		if d.Finding.Rule == "ad.medical-rate-claim" && strings.Contains(d.Why, "defers_to") {
			traced = true
		}
	}
	if !traced {
		t.Errorf("the deferred finding is not traced: %+v", tr.Dropped)
	}
	// A place in a clause of its own keeps the deferring finding.
	if n := count("临床治愈率高达98%。手术成功率100%", "medical", "ad.medical-rate-claim"); n != 1 {
		t.Errorf("ad.medical-rate-claim with a place of its own: %d findings, want 1", n)
	}
}

// The health functions of the catalogues, as the lexicon lists them: lawful
// on health food in the 2023 wording or the 2003 name an earlier approval
// bears, a violation on ordinary food, a lead for review when the category
// is unknown. A text exception '{{list}}' covers the matches its words
// hold (辅助降血压 covers 降血压) and skips the words that hold none.
func TestHealthFunctionLists(t *testing.T) {
	rs := builtin(t)
	hf := []string{"ad.health-food-function-wording", "ad.health-food-claim", "ad.disease-claim", "ad.disease-mention",
		"food.health-function-claim", "food.health-function-phrase", "ad.health-function-claim-general"}
	tests := []struct {
		text, category string
		want           []hit
	}{
		{"本品经动物实验评价，具有对化学性肝损伤有辅助保护作用、增强免疫力的保健功能", "healthfood", nil},
		{"保健功能：辅助降血压", "healthfood", nil},
		{"保健功能：改善营养性贫血", "healthfood", nil},
		{"有助于维持血脂（胆固醇/甘油三酯）健康水平", "healthfood", nil},
		{"维生素 C 有抗氧化作用。", "healthfood", nil},
		{"维生素 C 有抗氧化作用。", "food", nil},
		{"配料：小麦粉、植物油、抗氧化剂（维生素E）", "food", nil},
		{"国珍松花粉有提高免疫力功效", "healthfood", []hit{{"ad.health-food-function-wording", "提高免疫力"}}},
		{"快速降血压", "healthfood", []hit{{"ad.health-food-claim", "降血压"}}},
		{"有助于改善睡眠", "food", []hit{{"food.health-function-claim", "有助于改善睡眠"}}}, // once: the phrase rule defers to the catalogue name
		{"辅助降血压", "food", []hit{{"food.health-function-claim", "辅助降血压"}}},
		{"有助于改善睡眠", "", []hit{{"ad.health-function-claim-general", "有助于改善睡眠"}}},
		{"地铁口旁，交通便利", "", nil},
	}
	for _, tt := range tests {
		var got []hit
		for _, h := range hits(check(t, rs, Input{Kind: shopwatch.KindProduct, Category: tt.category, Text: tt.text})) {
			if slices.Contains(hf, h.Rule) {
				got = append(got, h)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q (%s): got %v, want %v", tt.text, tt.category, got, tt.want)
		}
	}
	for _, f := range check(t, rs, Input{Kind: shopwatch.KindProduct, Category: "food", Text: "辅助降血压"}) {
		if f.Rule == "food.health-function-claim" && f.Severity != shopwatch.SeverityViolation {
			t.Errorf("%s on ordinary food: severity %s, want violation", f.Rule, f.Severity)
		}
	}
}
