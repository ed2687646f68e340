package rules

import (
	"slices"

	"shopwatch"
)

// Type says how a rule judges a page.
type Type string

// The rule types.
const (
	// TypeTerms raises a finding for every occurrence of one of the rule's
	// literal patterns that no exception covers.
	TypeTerms Type = "terms"
	// TypeRegex raises a finding for every match of one of the rule's
	// regular expressions that no exception covers.
	TypeRegex Type = "regex"
	// TypeRequire raises one finding (Offset -1) when the page shows none of
	// the rule's literal patterns and matches none of its expressions.
	TypeRequire Type = "require"
	// TypeUSCC finds 18-character codes shortly after one of the rule's
	// labels and raises a finding for each one that fails
	// licence.ValidateUSCC.
	TypeUSCC Type = "uscc"
)

// Title is a rule's name in Chinese and English.
type Title struct {
	Zh string `json:"zh"`
	En string `json:"en"`
}

// AppliesTo limits a rule to some page kinds and product categories. An
// empty list means no limit.
type AppliesTo struct {
	Kinds      []shopwatch.Kind `json:"kinds,omitempty"`
	Categories []string         `json:"categories,omitempty"`
}

// Example is one text a rule must (positive) or must not (negative) raise
// a finding on. Kind and Category default to the first ones the rule
// applies to.
type Example struct {
	Text     string         `json:"text"`
	Match    string         `json:"match,omitempty"` // positive only: a finding must match exactly this
	Kind     shopwatch.Kind `json:"kind,omitempty"`
	Category string         `json:"category,omitempty"`
	Source   string         `json:"source"` // file:line
}

// Examples are a rule's own test cases. Loading a rule set runs them.
type Examples struct {
	Positive []Example `json:"positive"`
	Negative []Example `json:"negative"`
}

// Rule is one rule as written in its rule file.
type Rule struct {
	ID         string             `json:"id"`
	Title      Title              `json:"title"`
	Category   string             `json:"category"`
	Law        string             `json:"law"`
	Article    string             `json:"article,omitempty"`
	Also       []string           `json:"also,omitempty"` // further legal bases, each a full citation
	Severity   shopwatch.Severity `json:"severity"`
	AppliesTo  AppliesTo          `json:"applies_to"`
	Type       Type               `json:"type"`
	Patterns   []string           `json:"patterns,omitempty"`
	Regex      []string           `json:"regex,omitempty"`
	Exceptions []string           `json:"exceptions,omitempty"`
	Window     int                `json:"window,omitempty"` // uscc: runes after a label searched for the code
	Reason     string             `json:"reason,omitempty"`
	Examples   Examples           `json:"examples"`
	Source     string             `json:"source"` // file:line of the rule
}

// Applies reports whether the rule judges pages of this kind and product
// category. Categories compare case-insensitively; an empty kind or
// category on the page only satisfies a rule that does not limit it.
func (r *Rule) Applies(kind shopwatch.Kind, category string) bool {
	if len(r.AppliesTo.Kinds) > 0 && !slices.Contains(r.AppliesTo.Kinds, kind) {
		return false
	}
	if len(r.AppliesTo.Categories) > 0 && !slices.Contains(r.AppliesTo.Categories, normCategory(category)) {
		return false
	}
	return true
}

// citation is the Article text of a finding: the article, then any further
// legal bases.
func (r *Rule) citation() string {
	s := r.Article
	for _, a := range r.Also {
		if s != "" {
			s += "；"
		}
		s += "另见" + a
	}
	return s
}

func (r Rule) clone() Rule {
	r.Also = slices.Clone(r.Also)
	r.AppliesTo.Kinds = slices.Clone(r.AppliesTo.Kinds)
	r.AppliesTo.Categories = slices.Clone(r.AppliesTo.Categories)
	r.Patterns = slices.Clone(r.Patterns)
	r.Regex = slices.Clone(r.Regex)
	r.Exceptions = slices.Clone(r.Exceptions)
	r.Examples.Positive = slices.Clone(r.Examples.Positive)
	r.Examples.Negative = slices.Clone(r.Examples.Negative)
	return r
}
