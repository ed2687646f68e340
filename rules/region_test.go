package rules

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"shopwatch"
	"shopwatch/crawler"
)

// span marks the first occurrence of s in text as region r.
func span(text, s string, r shopwatch.Region) shopwatch.TextRegion {
	i := strings.Index(text, s)
	if i < 0 {
		panic("span: " + s + " not in text")
	}
	return shopwatch.TextRegion{Region: r, Start: i, End: i + len(s)}
}

func findingsOf(fs []shopwatch.Finding, rule string) []shopwatch.Finding {
	var out []shopwatch.Finding
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

// An advertising rule judges the title, description, price, seller and
// other text, not navigation, comments or the footer; each finding names
// its region.
func TestRegionsAdvertising(t *testing.T) {
	rs := builtin(t)
	const text = "全网最佳保温杯\n导航：最佳新作\n买家评论：最佳的选择\n页脚：最佳服务商\n描述：保温最佳的杯子\n其他：最佳"
	regs := []shopwatch.TextRegion{
		span(text, "全网最佳保温杯", shopwatch.RegionTitle),
		span(text, "导航：最佳新作", shopwatch.RegionNavigation),
		span(text, "买家评论：最佳的选择", shopwatch.RegionComments),
		span(text, "页脚：最佳服务商", shopwatch.RegionFooter),
		span(text, "描述：保温最佳的杯子", shopwatch.RegionDescription),
	}
	fs := findingsOf(check(t, rs, Input{Kind: shopwatch.KindProduct, Text: text, Regions: regs}), "ad.absolute-term")
	if len(fs) != 1 {
		t.Fatalf("got %v, want one 最佳 finding", hits(fs))
	}
	var got []shopwatch.Region
	for _, l := range fs[0].Locations {
		got = append(got, l.Region)
		if text[l.Offset:l.Offset+len("最佳")] != "最佳" {
			t.Errorf("location %+v does not point at 最佳", l)
		}
	}
	want := []shopwatch.Region{shopwatch.RegionTitle, shopwatch.RegionDescription, shopwatch.RegionOther}
	if fs[0].Region != shopwatch.RegionTitle || !slices.Equal(got, want) {
		t.Errorf("finding in %s at %v, want title at %v", fs[0].Region, got, want)
	}
	// Without regions the same text is all "other": every occurrence counts.
	fs = findingsOf(check(t, rs, Input{Kind: shopwatch.KindProduct, Text: text}), "ad.absolute-term")
	if len(fs) != 1 || len(fs[0].Locations) != 6 || fs[0].Region != shopwatch.RegionOther {
		t.Errorf("without regions: got %v with %d locations, want one finding with 6", hits(fs), len(fs[0].Locations))
	}
}

// A licence shown in the footer or seller information satisfies the
// licence rules; one named in a user's comment does not, and a code there
// is not judged.
func TestRegionsLicence(t *testing.T) {
	rs := builtin(t)
	const text = "欢迎光临本店\n营业执照信息 统一社会信用代码：91350100M000100Y44"
	in := Input{Kind: shopwatch.KindStorefront, Text: text}
	for _, r := range []shopwatch.Region{shopwatch.RegionFooter, shopwatch.RegionSeller, shopwatch.RegionSpecs, shopwatch.RegionEditorial} {
		in.Regions = []shopwatch.TextRegion{span(text, "营业执照信息 统一社会信用代码：91350100M000100Y44", r)}
		fs := check(t, rs, in)
		if len(findingsOf(fs, "licence.business-info-missing")) != 0 {
			t.Errorf("licence in %s: reported missing", r)
		}
		if got := findingsOf(fs, "licence.uscc-invalid"); len(got) != 1 || got[0].Region != r {
			t.Errorf("bad code in %s: got %v, want one finding in %s", r, hits(got), r)
		}
	}
	in.Regions = []shopwatch.TextRegion{span(text, "营业执照信息 统一社会信用代码：91350100M000100Y44", shopwatch.RegionComments)}
	fs := check(t, rs, in)
	if len(findingsOf(fs, "licence.business-info-missing")) != 1 || len(findingsOf(fs, "licence.uscc-invalid")) != 0 {
		t.Errorf("licence only in a comment: got %v, want it missing and the code unjudged", hits(fs))
	}

	// Markup: a licence image in the comments is not the shop's.
	html := `<div class="comment-list"><img src="/u/1.jpg" alt="营业执照"></div>`
	fs = check(t, rs, Input{Kind: shopwatch.KindStorefront, Text: "欢迎光临本店", HTML: html})
	if len(findingsOf(fs, "licence.shown-as-image")) != 0 || len(findingsOf(fs, "licence.business-info-missing")) != 1 {
		t.Errorf("licence image in comments: got %v", hits(fs))
	}
	html = `<footer><img src="/img/yyzz.jpg" alt="营业执照"></footer>`
	fs = check(t, rs, Input{Kind: shopwatch.KindStorefront, Text: "欢迎光临本店", HTML: html})
	if got := findingsOf(fs, "licence.shown-as-image"); len(got) != 1 || got[0].Region != shopwatch.RegionFooter {
		t.Errorf("licence image in the footer: got %v, want shown-as-image in footer", hits(fs))
	}
}

// Rules name their regions; unknown names are load errors naming the rule,
// and a rule that names none gets its category's default.
func TestRegionsLoad(t *testing.T) {
	withRegions := func(regions string) string {
		return strings.Replace(goodRule, "    type: terms\n", "    type: terms\n    regions: "+regions+"\n", 1)
	}
	rs, err := loadMap(t, map[string]string{"a.yaml": withRegions("[comments, footer, other]")})
	if err != nil {
		t.Fatal(err)
	}
	if got := rs.Rules()[0].Regions; !slices.Equal(got, []shopwatch.Region{shopwatch.RegionComments, shopwatch.RegionFooter, shopwatch.RegionOther}) {
		t.Errorf("regions %v", got)
	}
	const text = "甲乙 评论甲乙"
	fs := rs.Check(Input{Text: text, Regions: []shopwatch.TextRegion{span(text, "评论甲乙", shopwatch.RegionComments)}})
	if len(fs) != 1 || len(fs[0].Locations) != 2 || fs[0].Locations[1].Region != shopwatch.RegionComments {
		t.Errorf("got %+v, want one finding in other and comments", fs)
	}

	for _, bad := range []string{"[navigaton]", "[]", "[title, title]"} {
		_, err := loadMap(t, map[string]string{"a.yaml": withRegions(bad)})
		if err == nil || !strings.Contains(err.Error(), "t.one") || !strings.Contains(err.Error(), "region") {
			t.Errorf("regions %s: error %v, want one naming the rule and the region", bad, err)
		}
	}
	if _, err := loadMap(t, map[string]string{"a.yaml": withRegions("[navigaton]")}); err == nil || !strings.Contains(err.Error(), `"navigaton"`) {
		t.Errorf("unknown region not named: %v", err)
	}

	// A rule meant for users' words names comments alone: its examples
	// are read as comments, and it judges comments and nothing else.
	rs, err = loadMap(t, map[string]string{"a.yaml": withRegions("[comments]")})
	if err != nil {
		t.Fatalf("a rule of regions [comments] with examples: %v", err)
	}
	fs = rs.Check(Input{Text: text, Regions: []shopwatch.TextRegion{span(text, "评论甲乙", shopwatch.RegionComments)}})
	if len(fs) != 1 || fs[0].Region != shopwatch.RegionComments || len(fs[0].Locations) > 1 {
		t.Errorf("a rule of regions [comments]: got %+v, want one finding in the comment only", fs)
	}
	if fs := rs.Check(Input{Text: text}); len(fs) != 0 {
		t.Errorf("a rule of regions [comments] judged text without regions: %+v", fs)
	}

	// The new regions are names a rule may give.
	rs, err = loadMap(t, map[string]string{"a.yaml": withRegions("[specs, editorial]")})
	if err != nil {
		t.Fatal(err)
	}
	const text2 = "甲乙 规格甲乙 新闻甲乙 评论甲乙"
	fs = rs.Check(Input{Text: text2, Regions: []shopwatch.TextRegion{span(text2, "规格甲乙", shopwatch.RegionSpecs),
		span(text2, "新闻甲乙", shopwatch.RegionEditorial), span(text2, "评论甲乙", shopwatch.RegionComments)}})
	var got []shopwatch.Region
	for _, f := range fs {
		got = append(got, f.Region)
		for _, l := range f.Locations {
			got = append(got, l.Region)
		}
	}
	if want := []shopwatch.Region{shopwatch.RegionSpecs, shopwatch.RegionSpecs, shopwatch.RegionEditorial}; !slices.Equal(got, want) {
		t.Errorf("a rule of regions [specs, editorial] found %v, want %v", got, want)
	}

	for _, r := range builtin(t).Rules() {
		want := AdvertisingRegions
		if r.Category == "licence" {
			want = LicenceRegions
		}
		// Rules meant for users' words (reviews.yaml) name comments; the
		// others keep their category's default.
		meantForComments := strings.Contains(r.Source, "reviews.yaml")
		if !slices.Equal(r.Regions, want) && r.Source != "" && !strings.Contains(r.Source, "licence.yaml") && !meantForComments {
			t.Errorf("%s: regions %v, want the default %v", r.ID, r.Regions, want)
		}
		if slices.Contains(r.Regions, shopwatch.RegionComments) != meantForComments {
			t.Errorf("%s (%s): judges comments %v, want only rules meant for users' words to", r.ID, r.Source, !meantForComments)
		}
		// Absolute terms are the seller's claims: never judged in users'
		// words, news or the site's interface, whatever else may be.
		if strings.Contains(r.Source, "ad-absolute.yaml") || r.ID == "ad.absolute-term" {
			for _, no := range []shopwatch.Region{shopwatch.RegionComments, shopwatch.RegionEditorial, shopwatch.RegionNavigation, shopwatch.RegionFooter} {
				if slices.Contains(r.Regions, no) {
					t.Errorf("%s judges %s", r.ID, no)
				}
			}
			if !slices.Contains(r.Regions, shopwatch.RegionSpecs) {
				t.Errorf("%s does not judge specifications", r.ID)
			}
		}
	}
	if slices.Contains(AdvertisingRegions, shopwatch.RegionComments) || slices.Contains(AdvertisingRegions, shopwatch.RegionEditorial) ||
		slices.Contains(LicenceRegions, shopwatch.RegionComments) {
		t.Errorf("default regions judge users' comments or news: advertising %v, licence %v", AdvertisingRegions, LicenceRegions)
	}
}

// On a product page laid out like the real sites' (testdata/regions), read
// through the crawler's extractor: the specification list and table are
// specs and the advertising rules judge them (全网最佳版型 is a claim,
// 材质：100%纯棉 a fact); the same absolute terms in the news column beside
// the product and in a buyer's review raise nothing, while in the
// description they do; every finding and location carries the region of
// its text.
func TestRegionsProductPage(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "regions", "product.html"))
	if err != nil {
		t.Fatal(err)
	}
	rs := builtin(t)
	const claim = "国家级品质，效果最佳"
	page := func(desc string) (fs []shopwatch.Finding, text string, regs []shopwatch.TextRegion) {
		h := strings.Replace(string(raw), "DESCRIPTION_CLAIM", desc, 1)
		_, text, _, regs = crawler.ExtractRegions(h)
		return check(t, rs, Input{Kind: shopwatch.KindProduct, Text: text, HTML: h, Regions: regs}), text, regs
	}
	at := func(f shopwatch.Finding) []shopwatch.Location {
		if len(f.Locations) > 0 {
			return f.Locations
		}
		return []shopwatch.Location{{Offset: f.Offset, Region: f.Region}}
	}

	fs, text, regs := page(claim + "，全棉舒适。")
	for s, want := range map[string]shopwatch.Region{
		"版型:\u00a0全网最佳版型":     shopwatch.RegionSpecs,
		"材质:\u00a0100%纯棉":     shopwatch.RegionSpecs,
		"尺码 S M L XL":         shopwatch.RegionSpecs,
		"精选新疆长绒棉":             shopwatch.RegionDescription,
		claim + "，全棉舒适":       shopwatch.RegionDescription,
		"记者从行业协会获悉":           shopwatch.RegionEditorial,
		"据报道，" + claim:        shopwatch.RegionEditorial,
		claim + "，穿着很舒服":      shopwatch.RegionComments,
		"某某牌纯棉T恤 夏季新款\n79.00": shopwatch.RegionTitle, // title, then the price
	} {
		i := strings.Index(text, s)
		if i < 0 {
			t.Fatalf("%q not in the page text %q", s, text)
		}
		if got := shopwatch.RegionAt(regs, i); got != want {
			t.Errorf("%q in %s, want %s", s, got, want)
		}
	}
	abs := findingsOf(fs, "ad.absolute-term")
	if len(abs) == 0 {
		t.Fatalf("no absolute term found; findings %v", hits(fs))
	}
	seen := map[shopwatch.Region]bool{}
	for _, f := range fs {
		if f.Offset < 0 {
			continue
		}
		for _, l := range at(f) {
			if got := shopwatch.RegionAt(regs, l.Offset); l.Region != got {
				t.Errorf("%s at %d says region %s, the text there is %s", f.Rule, l.Offset, l.Region, got)
			}
			if l.Region == shopwatch.RegionComments || l.Region == shopwatch.RegionEditorial {
				t.Errorf("%s found %q in %s", f.Rule, f.Match, l.Region)
			}
			if f.Rule == "ad.absolute-term" {
				seen[l.Region] = true
			}
			if line := lineAt(text, l.Offset); strings.Contains(line, "100%纯棉") {
				t.Errorf("%s found %q in the fact %q", f.Rule, f.Match, line)
			}
		}
	}
	if !seen[shopwatch.RegionSpecs] || !seen[shopwatch.RegionDescription] {
		t.Errorf("absolute terms found in %v, want specs and description; findings %v", seen, hits(abs))
	}

	// Without the claim in the description, 国家级 and 效果最佳 are only in
	// the news and the review: no finding names them.
	fs, _, _ = page("领口加固，不易变形。")
	for _, f := range findingsOf(fs, "ad.absolute-term") {
		for _, l := range at(f) {
			if l.Region != shopwatch.RegionSpecs {
				t.Errorf("with the claim only in news and a review: %q found in %s", f.Match, l.Region)
			}
		}
	}
	// The regions are what keeps them out: the same text unlabelled is judged.
	all := check(t, rs, Input{Kind: shopwatch.KindProduct, Text: text})
	n := 0
	for _, f := range findingsOf(all, "ad.absolute-term") {
		n += len(at(f))
	}
	if n <= len(seen) {
		t.Errorf("without regions only %d absolute-term locations", n)
	}
}

// lineAt returns the line of text holding byte offset off.
func lineAt(text string, off int) string {
	s := strings.LastIndexByte(text[:off], '\n') + 1
	e := strings.IndexByte(text[off:], '\n')
	if e < 0 {
		return text[s:]
	}
	return text[s : off+e]
}

// The markup reader gives images and links the regions the extractor
// gives text: editorial beside the product, the product's own inside an
// article holding its price, the seller's inside its description, and no
// editorial at all on a page without the product.
func TestRegionsMarkupEditorial(t *testing.T) {
	where := func(markup string) map[string]shopwatch.Region {
		out := map[string]shopwatch.Region{}
		for _, e := range readMarkup(markup) {
			out[strings.Fields(e.label)[0]] = e.where
		}
		return out
	}
	got := where(`<div class="tm-price-panel">¥99</div>
<div class="news"><img alt="图一"></div>
<article><div class="price">¥199</div><img alt="图二"></article>
<div id="J_DivItemDesc"><div class="news"><img alt="图三"></div></div>
<article class="news-item"><p><a href="/n/1">新闻一</a></p></article>
<ul class="attributes-list"><li><img alt="图四"></li></ul>`)
	for label, want := range map[string]shopwatch.Region{
		"图一": shopwatch.RegionEditorial, "图二": "", "图三": shopwatch.RegionDescription,
		"新闻一": shopwatch.RegionEditorial, "图四": shopwatch.RegionSpecs,
	} {
		if r, ok := got[label]; !ok || r != want {
			t.Errorf("%s in %q, want %q (all %v)", label, r, want, got)
		}
	}
	got = where(`<article><h1>公司动态</h1><img alt="图五"><div class="news"><img alt="图六"></div></article>`)
	if got["图五"] != "" || got["图六"] != "" {
		t.Errorf("an article page without the product: %v, want no editorial", got)
	}
}

// A buyer's review that reports a reward for good reviews is evidence of
// the seller's conduct: reviews.paid-review judges comments, while the
// absolute-term rule beside it in the same comment stays silent.
func TestRegionsCommentsRule(t *testing.T) {
	rs := builtin(t)
	const text = "保温杯 500ml\n买家评论：商家说晒图返现3块，最佳的杯子\n描述：不锈钢内胆"
	regs := []shopwatch.TextRegion{span(text, "买家评论：商家说晒图返现3块，最佳的杯子", shopwatch.RegionComments)}
	fs := check(t, rs, Input{Kind: shopwatch.KindProduct, Text: text, Regions: regs})
	paid := findingsOf(fs, "reviews.paid-review")
	if len(paid) != 1 || paid[0].Region != shopwatch.RegionComments || !strings.Contains(paid[0].Match, "返现") {
		t.Fatalf("reviews.paid-review in a comment: got %v, want one finding in comments", hits(paid))
	}
	if abs := findingsOf(fs, "ad.absolute-term"); len(abs) != 0 {
		t.Errorf("ad.absolute-term judged a comment: %v", hits(abs))
	}
	// In the footer, which the rule does not name, the offer is not judged.
	regs = []shopwatch.TextRegion{span(text, "买家评论：商家说晒图返现3块，最佳的杯子", shopwatch.RegionFooter)}
	if paid := findingsOf(check(t, rs, Input{Kind: shopwatch.KindProduct, Text: text, Regions: regs}), "reviews.paid-review"); len(paid) != 0 {
		t.Errorf("reviews.paid-review judged the footer: %v", hits(paid))
	}
}
