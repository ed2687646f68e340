package rules

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"shopwatch"
)

// deferFindings drops each finding of a rule with defers_to whose every
// place lies in a clause where a finding of one of those rules also lies:
// one claim, reported once, under the rule that names it best (降血压 as a
// medical claim for food, not again as a disease named in an effect
// clause). A finding with a place in another clause stays whole.
func (rs *RuleSet) deferFindings(text string, out []shopwatch.Finding, tr *Trace) []shopwatch.Finding {
	any := false
	for _, f := range out {
		if len(rs.rules[rs.byID[f.Rule]].defers) > 0 {
			any = true
			break
		}
	}
	if !any {
		return out
	}
	// The clauses each rule's findings lie in, by the clause's start.
	clauses := map[int32]map[int]bool{}
	for _, f := range out {
		j := rs.byID[f.Rule]
		if clauses[j] == nil {
			clauses[j] = map[int]bool{}
		}
		for _, off := range placesOf(f) {
			clauses[j][clauseStart(text, off)] = true
		}
	}
	return slices.DeleteFunc(out, func(f shopwatch.Finding) bool {
		c := rs.rules[rs.byID[f.Rule]]
		if len(c.defers) == 0 {
			return false
		}
		places := placesOf(f)
		if len(places) == 0 {
			return false
		}
		for _, j := range c.defers {
			covered := true
			for _, off := range places {
				if !clauses[j][clauseStart(text, off)] {
					covered = false
					break
				}
			}
			if covered {
				if tr != nil {
					tr.drop(f, fmt.Sprintf("rule %s reports the same clause, and this rule defers to it (defers_to)", rs.rules[j].ID))
				}
				return true
			}
		}
		return false
	})
}

// deferRunes bounds the look back for a clause's start; a clause longer
// than this is split, which can only keep a finding, never drop one.
const deferRunes = 256

// placesOf lists the byte offsets in the text where a finding matched;
// none for page-level findings.
func placesOf(f shopwatch.Finding) []int {
	if len(f.Locations) > 0 {
		out := make([]int, 0, len(f.Locations))
		for _, l := range f.Locations {
			if l.Offset >= 0 {
				out = append(out, l.Offset)
			}
		}
		return out
	}
	if f.Offset >= 0 {
		return []int{f.Offset}
	}
	return nil
}

// clauseStart is the byte offset where the clause holding offset off
// begins: just after the nearest clause end before it (isClauseEnd),
// looking back at most deferRunes characters.
func clauseStart(text string, off int) int {
	if off > len(text) {
		off = len(text)
	}
	a := off
	for i := 0; i < deferRunes && a > 0; i++ {
		r, n := utf8.DecodeLastRuneInString(text[:a])
		if isClauseEnd(r) {
			break
		}
		a -= n
	}
	return a
}
