package marketsim

import (
	"fmt"
	"sort"

	"shopwatch"
)

// Item is one finding, expected or produced, reduced to what the ground
// truth decides: the page, the rule and the matched text ("" for a rule that
// reports something missing).
type Item struct {
	URL   string `json:"url"`
	Rule  string `json:"rule"`
	Match string `json:"match"`
}

// Score compares produced findings with a market's ground truth.
type Score struct {
	Expected   int    `json:"expected"`   // distinct expected items
	Produced   int    `json:"produced"`   // distinct produced items
	Matched    int    `json:"matched"`    // expected items that were produced
	Missed     []Item `json:"missed"`     // expected, not produced
	Unexpected []Item `json:"unexpected"` // produced, not expected (false positives)
}

// Recall is Matched/Expected (1 when nothing was expected).
func (s *Score) Recall() float64 {
	if s.Expected == 0 {
		return 1
	}
	return float64(s.Matched) / float64(s.Expected)
}

// Precision is Matched/Produced (1 when nothing was produced).
func (s *Score) Precision() float64 {
	if s.Produced == 0 {
		return 1
	}
	return float64(s.Matched) / float64(s.Produced)
}

// Compare scores findings against the truth of every page of m under base.
// Findings and expectations are compared as sets of (URL, rule, match);
// findings on URLs the market does not have count as unexpected.
func Compare(m *Market, base string, found []shopwatch.Finding) (*Score, error) {
	expected := map[Item]bool{}
	if err := m.Truth(base, func(pt PageTruth) error {
		for _, e := range pt.Expect {
			expected[Item{URL: pt.URL, Rule: e.Rule, Match: e.Match}] = true
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("compare with ground truth: %w", err)
	}
	produced := map[Item]bool{}
	for _, f := range found {
		produced[Item{URL: f.URL, Rule: f.Rule, Match: f.Match}] = true
	}
	s := &Score{Expected: len(expected), Produced: len(produced)}
	for it := range expected {
		if produced[it] {
			s.Matched++
		} else {
			s.Missed = append(s.Missed, it)
		}
	}
	for it := range produced {
		if !expected[it] {
			s.Unexpected = append(s.Unexpected, it)
		}
	}
	sortItems(s.Missed)
	sortItems(s.Unexpected)
	return s, nil
}

func sortItems(items []Item) {
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.URL != b.URL {
			return a.URL < b.URL
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Match < b.Match
	})
}
