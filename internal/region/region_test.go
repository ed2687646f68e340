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
