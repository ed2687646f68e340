package region

import (
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
