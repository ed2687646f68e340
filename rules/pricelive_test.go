package rules

import (
	"slices"
	"testing"

	"shopwatch"
)

// The livestream rules judge what a host says in a room and the same words
// on a product page; every one of them is review, since the page alone
// cannot show that a story was invented or a promise is false.
func TestLivestreamRulesAreReviewOnEveryKind(t *testing.T) {
	rs := builtin(t)
	texts := map[string]string{
		"live.effect-testimonial":  "家人们，我喝酒夜宵还瘦了7斤，就2盒",
		"live.outcome-guarantee":   "不瘦全额退款",
		"live.special-group-claim": "中老年专用",
		"live.false-scarcity":      "只剩最后50单了",
	}
	for rule, text := range texts {
		for _, kind := range []shopwatch.Kind{shopwatch.KindLivestream, shopwatch.KindProduct} {
			fs := check(t, rs, Input{Kind: kind, Text: text})
			var own []shopwatch.Finding
			for _, f := range fs {
				if f.Rule == rule {
					own = append(own, f)
				}
			}
			if len(own) != 1 || own[0].Severity != shopwatch.SeverityReview {
				t.Errorf("%s on %s %q: %v, want one review finding", rule, kind, text, hits(fs))
			}
		}
	}
}

// A bare discount and urgency wording are common on promotional pages:
// their rules are off until enabled, while a stated compared price is
// judged by default.
func TestPriceWordingDefaults(t *testing.T) {
	const text = "专柜价399，直播间到手价99，五折抢，仅限今天"
	in := Input{Kind: shopwatch.KindLivestream, Text: text}
	rs := builtin(t)
	got := hits(check(t, rs, in))
	if want := []hit{{"price.compared-price", "专柜价399"}}; !slices.Equal(got, want) {
		t.Errorf("default set: %v, want %v", got, want)
	}
	on, err := rs.Enable("price.discount", "price.urgency")
	if err != nil {
		t.Fatal(err)
	}
	got = hits(check(t, on, in))
	for _, want := range []hit{{"price.compared-price", "专柜价399"}, {"price.discount", "五折"}, {"price.urgency", "仅限今天"}} {
		if !slices.Contains(got, want) {
			t.Errorf("enabled: %v lacks %v", got, want)
		}
	}
	// A stated period answers the urgency rule.
	got = hits(check(t, on, Input{Kind: shopwatch.KindProduct, Text: "限时特价：12月1日0:00至12月3日23:59"}))
	if slices.ContainsFunc(got, func(h hit) bool { return h.Rule == "price.urgency" }) {
		t.Errorf("urgency with a period: %v", got)
	}
}
