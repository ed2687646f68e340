package marketsim

import (
	"testing"

	"shopwatch"
)

func TestCompareFindsMissedAndUnexpected(t *testing.T) {
	m := New(Config{Seed: 3, Shops: 20})
	const base = "http://127.0.0.1:1"
	var all []shopwatch.Finding
	var compliant string
	if err := m.Truth(base, func(pt PageTruth) error {
		for _, e := range pt.Expect {
			all = append(all, shopwatch.Finding{URL: pt.URL, Rule: e.Rule, Match: e.Match})
		}
		if len(pt.Expect) == 0 && compliant == "" {
			compliant = pt.URL
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(all) < 2 || compliant == "" {
		t.Fatalf("market too small to test: %d expectations", len(all))
	}
	s, err := Compare(m, base, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Missed) != 0 || len(s.Unexpected) != 0 || s.Recall() != 1 || s.Precision() != 1 {
		t.Fatalf("perfect findings scored %+v", s)
	}
	// Drop one expected finding and add one on a compliant page.
	dropped := all[0]
	extra := shopwatch.Finding{URL: compliant, Rule: RuleAbsoluteTerm, Match: "最佳"}
	s, err = Compare(m, base, append(append([]shopwatch.Finding{}, all[1:]...), extra))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Missed) != 1 || s.Missed[0] != (Item{URL: dropped.URL, Rule: dropped.Rule, Match: dropped.Match}) {
		t.Errorf("missed = %+v, want the dropped finding %+v", s.Missed, dropped)
	}
	if len(s.Unexpected) != 1 || s.Unexpected[0].URL != compliant {
		t.Errorf("unexpected = %+v, want the one on %s", s.Unexpected, compliant)
	}
	if s.Recall() >= 1 || s.Precision() >= 1 {
		t.Errorf("recall %.3f precision %.3f, want both below 1", s.Recall(), s.Precision())
	}
}
