package rules

import (
	"slices"
	"strings"
	"testing"

	"shopwatch"
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
	for _, r := range []shopwatch.Region{shopwatch.RegionFooter, shopwatch.RegionSeller} {
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

	for _, r := range builtin(t).Rules() {
		want := AdvertisingRegions
		if r.Category == "licence" {
			want = LicenceRegions
		}
		if !slices.Equal(r.Regions, want) && r.Source != "" && !strings.Contains(r.Source, "licence.yaml") {
			t.Errorf("%s: regions %v, want the default %v", r.ID, r.Regions, want)
		}
		if slices.Contains(r.Regions, shopwatch.RegionComments) {
			t.Errorf("%s judges users' comments", r.ID)
		}
	}
}
