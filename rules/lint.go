package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"shopwatch"
)

// Lint reports what loading accepts but a rule author should hear of:
//   - a literal pattern that two rules of the same severity judging the
//     same pages both hold (after normalisation): the same text would be
//     reported twice, under two legal bases. Rules of different severities
//     may share a pattern on purpose (保证治愈，无效退款 is a §16 violation
//     and a §28 marker for review);
//   - a pattern that one of its own rule's text exceptions equals: the
//     exception covers every match, so the pattern can never fire.
//
// Each problem names the rule's file and line. The shopwatch rules lint
// command prints them after the loading problems.
func (rs *RuleSet) Lint() []Problem {
	var out []Problem
	kinds := []shopwatch.Kind{shopwatch.KindStorefront, shopwatch.KindProduct, shopwatch.KindLivestream}
	cats := append([]string{""}, rs.Categories()...)
	judged := func(r *Rule) map[string]bool {
		m := map[string]bool{}
		for _, k := range kinds {
			for _, c := range cats {
				if r.Applies(k, c) {
					m[string(k)+"/"+c] = true
				}
			}
		}
		return m
	}
	type lit struct {
		rule    *compiled
		pattern string
	}
	byText := map[string][]lit{}
	var order []string
	for _, c := range rs.rules {
		if c.Type != TypeTerms {
			continue
		}
		for _, p := range c.Patterns {
			n := Normalize(p).Text
			if n == "" {
				continue
			}
			key := string(c.Scope) + "\x00" + n
			if _, ok := byText[key]; !ok {
				order = append(order, key)
			}
			byText[key] = append(byText[key], lit{c, p})
			for _, x := range c.Exceptions {
				if x.Text != "" && Normalize(x.Text).Text == n {
					out = append(out, problemAt(&c.Rule, fmt.Sprintf("pattern %q can never fire: its exception %q covers every match", p, x.Text)))
				}
			}
		}
	}
	pages := map[*compiled]map[string]bool{}
	for _, key := range order {
		ls := byText[key]
		for i := 0; i < len(ls); i++ {
			for j := i + 1; j < len(ls); j++ {
				a, b := ls[i].rule, ls[j].rule
				if a == b || a.Severity != b.Severity {
					continue
				}
				if pages[a] == nil {
					pages[a] = judged(&a.Rule)
				}
				if pages[b] == nil {
					pages[b] = judged(&b.Rule)
				}
				var both []string
				for p := range pages[a] {
					if pages[b][p] {
						both = append(both, p)
					}
				}
				if len(both) == 0 {
					continue
				}
				slices.Sort(both)
				where := both[0]
				if len(both) > 1 {
					where += fmt.Sprintf(" and %d more kind/category pairs", len(both)-1)
				}
				out = append(out, problemAt(&b.Rule, fmt.Sprintf("pattern %q is also a pattern of %s (%s), and both judge %s: the text would be reported twice",
					ls[j].pattern, a.ID, a.Source, where)))
			}
		}
	}
	return out
}

// problemAt is a problem at rule r's source line.
func problemAt(r *Rule, msg string) Problem {
	file, line := r.Source, 0
	if i := strings.LastIndexByte(r.Source, ':'); i > 0 {
		if n, err := strconv.Atoi(r.Source[i+1:]); err == nil {
			file, line = r.Source[:i], n
		}
	}
	return Problem{File: file, Line: line, Rule: r.ID, Msg: msg}
}
