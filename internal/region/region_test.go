package region

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html/atom"

	"shopwatch"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		a    atom.Atom
		at   Attrs
		want shopwatch.Region
	}{
		{atom.Div, Attrs{ID: "J_DivItemDesc"}, shopwatch.RegionDescription},
		{atom.Div, Attrs{Class: "shop-info clearfix"}, shopwatch.RegionSeller},
		{atom.Ul, Attrs{Class: "match-information-list"}, shopwatch.RegionNavigation},
		{atom.Div, Attrs{Class: "anchor-level-ibox"}, shopwatch.RegionNavigation}, // level outranks anchor
		{atom.Div, Attrs{Class: "seller-comments"}, shopwatch.RegionComments},
		{atom.Div, Attrs{Class: "tb-main-title"}, shopwatch.RegionTitle},
		{atom.Div, Attrs{Class: "subtitle title"}, ""},
		{atom.Div, Attrs{Class: "navigator"}, ""}, // whole parts only
		{atom.Div, Attrs{Role: "contentinfo", Class: "price"}, shopwatch.RegionFooter},
		{atom.Div, Attrs{ItemProp: "offers", ItemType: "https://schema.org/Offer"}, shopwatch.RegionPrice},
		{atom.Body, Attrs{Class: "nav-page"}, ""},
		{atom.Nav, Attrs{}, shopwatch.RegionNavigation},
		{atom.Div, Attrs{Class: "x-" + strings.Repeat("a", 40) + "-nav"}, shopwatch.RegionNavigation},
		{atom.Ul, Attrs{Class: "attributes-list"}, shopwatch.RegionSpecs},            // Taobao
		{atom.Ul, Attrs{ID: "J_AttrUL"}, shopwatch.RegionSpecs},                      // Tmall
		{atom.Table, Attrs{Class: "tm-tableAttr"}, shopwatch.RegionSpecs},            // Tmall
		{atom.Div, Attrs{Class: "p-parameter"}, shopwatch.RegionSpecs},               // JD
		{atom.Div, Attrs{Class: "Ptable"}, shopwatch.RegionSpecs},                    // JD
		{atom.Div, Attrs{Class: "tb-price-spec"}, shopwatch.RegionPrice},             // price outranks specs
		{atom.Div, Attrs{ID: "J_DivItemDesc", Class: "spec"}, shopwatch.RegionSpecs}, // specs outrank the description
		{atom.Div, Attrs{ItemProp: "additionalProperty"}, shopwatch.RegionSpecs},
		{atom.Div, Attrs{ItemType: "https://schema.org/PropertyValue"}, shopwatch.RegionSpecs},
		{atom.Div, Attrs{Class: "news-list"}, shopwatch.RegionEditorial},
		{atom.Div, Attrs{Class: "zixun"}, shopwatch.RegionEditorial},
		{atom.Div, Attrs{Class: "news-detail"}, shopwatch.RegionDescription}, // editorial ranks last
		{atom.Div, Attrs{Class: "tb-wrap-newshop"}, ""},                      // whole parts only
		{atom.Article, Attrs{}, shopwatch.RegionEditorial},
		{atom.Article, Attrs{Role: "comment"}, shopwatch.RegionComments},
		{atom.Div, Attrs{ItemType: "https://schema.org/NewsArticle"}, shopwatch.RegionEditorial},
		{atom.Div, Attrs{ItemProp: "articleBody"}, shopwatch.RegionEditorial},
	}
	for _, c := range cases {
		if got, _ := Classify(c.a, c.at); got != c.want {
			t.Errorf("Classify(%s, %+v) = %q, want %q", c.a, c.at, got, c.want)
		}
	}
	if _, aside := Classify(atom.Div, Attrs{Role: "complementary"}); !aside {
		t.Error("role complementary is not aside")
	}
	if n := testing.AllocsPerRun(100, func() { Classify(atom.Div, Attrs{Class: "J_DivItemDesc tb-main-title"}) }); n != 0 {
		t.Errorf("Classify allocates %v times", n)
	}
}

// A Classifier answers as Classify does, from its memory the second time,
// without allocating once it has seen a value, and remembers a bounded
// number of values.
func TestClassifier(t *testing.T) {
	vals := []Attrs{
		{Class: "tb-main-title J_TMySize"}, {Class: "tm-price-panel"}, {ID: "J_DivItemDesc"},
		{Class: "shop-info clearfix"}, {Class: "match-information-list"}, {Class: "box"},
		{Class: "tm-price-panel", ID: "J_Reviews"}, {Class: "box", ID: "site-footer"},
		{Class: "navigator"}, {Role: "navigation", Class: "price"},
	}
	var cl Classifier
	for round := range 3 {
		for _, at := range vals {
			for _, a := range []atom.Atom{atom.Div, atom.Body, atom.Aside} {
				want, wantAside := Classify(a, at)
				if got, aside := cl.Classify(a, at); got != want || aside != wantAside {
					t.Errorf("round %d: Classifier.Classify(%s, %+v) = %q %v, Classify says %q %v", round, a, at, got, aside, want, wantAside)
				}
			}
		}
	}
	at := Attrs{Class: "J_DivItemDesc tb-main-title"}
	cl.Classify(atom.Div, at)
	if n := testing.AllocsPerRun(100, func() { cl.Classify(atom.Div, at) }); n != 0 {
		t.Errorf("Classifier.Classify of a value it has seen allocates %v times", n)
	}
	var big Classifier
	for i := range 2 * maxSeen {
		v := fmt.Sprintf("c%d price", i)
		if got, _ := big.Classify(atom.Div, Attrs{Class: v}); got != shopwatch.RegionPrice {
			t.Fatalf("%q: %q after %d values, want price", v, got, i)
		}
	}
	if len(big.seen) != maxSeen {
		t.Errorf("remembers %d values, want the bound %d", len(big.seen), maxSeen)
	}
}

func TestFill(t *testing.T) {
	tr := func(r shopwatch.Region, s, e int) shopwatch.TextRegion {
		return shopwatch.TextRegion{Region: r, Start: s, End: e}
	}
	N, D, S := shopwatch.RegionNavigation, shopwatch.RegionDescription, shopwatch.RegionSeller
	spans := []shopwatch.TextRegion{tr(D, 10, 20), tr(S, 30, 40)}
	got := Fill(spans, []shopwatch.TextRegion{tr(N, 15, 35), tr(N, 0, 5), tr(N, 2, 12), tr(N, 50, 60)})
	want := []shopwatch.TextRegion{tr(N, 0, 10), tr(D, 10, 20), tr(N, 20, 30), tr(S, 30, 40), tr(N, 50, 60)}
	if !slices.Equal(got, want) {
		t.Errorf("Fill\n got %v\nwant %v", got, want)
	}
	if got := Fill(spans, nil); !slices.Equal(got, spans) {
		t.Errorf("Fill with nothing changed %v", got)
	}
}

func TestLinkDense(t *testing.T) {
	if !LinkDense(4, 24, 27, false) {
		t.Error("a menu of four short links is not navigation")
	}
	if LinkDense(3, 3*60, 3*70, false) {
		t.Error("product tiles with long titles are navigation")
	}
	if LinkDense(2, 12, 12, false) || LinkDense(3, 15, 30, false) || !LinkDense(3, 15, 30, true) {
		t.Error("thresholds wrong")
	}
}

// BenchmarkClassify compares, in one run, judging the class values real
// product pages repeat on every element afresh (Classify) and from a
// Classifier's memory, as the extractor does.
func BenchmarkClassify(b *testing.B) {
	vals := []Attrs{
		{Class: "tb-main-title J_TMySize clearfix"}, {Class: "tm-price-panel"},
		{ID: "J_DivItemDesc", Class: "content ke-post"}, {Class: "item"},
		{Class: "col-sub mod-shop-info"}, {Class: "tb-detail-hd"}, {Class: "a"},
	}
	b.Run("Classify", func(b *testing.B) {
		for b.Loop() {
			for _, at := range vals {
				Classify(atom.Div, at)
			}
		}
	})
	b.Run("Classifier", func(b *testing.B) {
		var cl Classifier
		for b.Loop() {
			for _, at := range vals {
				cl.Classify(atom.Div, at)
			}
		}
	})
}

// News inside what the seller says stays the seller's; elsewhere it is
// editorial, and comments and navigation keep their region.
func TestInheritEditorial(t *testing.T) {
	E := shopwatch.RegionEditorial
	for parent, want := range map[shopwatch.Region]shopwatch.Region{
		"":                          E,
		shopwatch.RegionOther:       E,
		shopwatch.RegionFooter:      E,
		shopwatch.RegionTitle:       shopwatch.RegionTitle,
		shopwatch.RegionDescription: shopwatch.RegionDescription,
		shopwatch.RegionSpecs:       shopwatch.RegionSpecs,
		shopwatch.RegionPrice:       shopwatch.RegionPrice,
		shopwatch.RegionSeller:      shopwatch.RegionSeller,
		shopwatch.RegionComments:    shopwatch.RegionComments,
		shopwatch.RegionNavigation:  shopwatch.RegionNavigation,
	} {
		if got := Inherit(parent, E); got != want {
			t.Errorf("Inherit(%q, editorial) = %q, want %q", parent, got, want)
		}
	}
	if got := Inherit(E, shopwatch.RegionPrice); got != shopwatch.RegionPrice {
		t.Errorf("a price inside news: %q", got)
	}
}

func TestHeading(t *testing.T) {
	for text, want := range map[string]shopwatch.Region{
		"规格参数\n品牌：某某":           shopwatch.RegionSpecs,
		" 产品参数： \n品牌：某某":        shopwatch.RegionSpecs,
		"行业资讯\n一条新闻":            shopwatch.RegionEditorial,
		"新闻":                    shopwatch.RegionEditorial,
		"公司新闻\n我司荣获最佳":          "",
		"媒体报道\n央视报道本品":          "",
		"规格参数很重要的一段说明文字\n":      "",
		strings.Repeat("长", 40): "",
	} {
		if got := Heading(text); got != want {
			t.Errorf("Heading(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestSpecList(t *testing.T) {
	cases := []struct {
		text  string
		cells bool
		want  bool
	}{
		{"品牌:\u00a0KBDfans\n型号:\u00a0乳白外壳\n连接方式:\u00a0无线", false, true}, // Taobao attributes-list
		{"品牌：某某\n产地：宁夏\n保质期：180天\n功效：治疗失眠", false, true},
		{"品牌：某某\n产地：宁夏", false, false},                                         // two lines are not enough …
		{"规格参数\n品牌：某某\n产地：宁夏", false, true},                                    // … under a heading they are
		{"规格参数\n网络\n网络类型 无需合约版\n存储\n存储容量 64GB 128GB\n品牌 Apple/苹果", true, true}, // Tmall tm-tableAttr: group rows count neither way
		{"网络类型 无需合约版\n存储容量 64GB\n品牌 Apple", false, false},                      // spaces are cells only in tables
		{"这款杯子采用优质不锈钢制造，保温效果很好。\n杯盖密封不漏水，送礼自用都合适。\n注意：请勿放入微波炉", false, false},
		{"透气\n舒适\n耐磨\n百搭", false, false},
		{"品牌：某某\n产地：宁夏\n净含量：500g\n" + strings.Repeat("很长的一段描述文字，", 4) + "\n" + strings.Repeat("另一段很长的描述，", 4) + "\n" + strings.Repeat("第三段长描述文字。", 4), false, false},
		{"这句话，很长：不是名称\n一句话。也不是：名称\n还有一句！同样：不是", false, false},
	}
	for _, c := range cases {
		if got := SpecList(c.text, c.cells); got != c.want {
			t.Errorf("SpecList(%q, %v) = %v, want %v", c.text, c.cells, got, c.want)
		}
	}
	if SpecList(strings.Repeat("品牌：某某\n", MaxSpecBytes/10), false) {
		t.Error("a list longer than MaxSpecBytes was read")
	}
}
