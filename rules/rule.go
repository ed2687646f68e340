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
	// TypeCode finds a code (credit code, permit or filing number) shortly
	// after one of the rule's labels and raises a finding for each one that
	// the rule's validator rejects.
	TypeCode Type = "code"
	// TypeUSCC is the v1 name of a code rule with validator uscc. Rule
	// files may still say type: uscc; the loaded rule has TypeCode.
	TypeUSCC Type = "uscc"
)

// Scope says what part of a page a terms rule reads.
type Scope string

// The scopes.
const (
	// ScopeText is the visible text (Input.Text), the default.
	ScopeText Scope = "text"
	// ScopeImages is the images of the markup: each img element's alt and
	// title text and the file name of its src.
	ScopeImages Scope = "images"
	// ScopeLinks is the links of the markup: each a element's text and
	// title.
	ScopeLinks Scope = "links"
)

// AdvertisingRegions are the regions an advertising rule judges by
// default: what the seller says about the product (its title,
// description, specifications, price and seller information) and the rest
// of the page, but not the site's navigation, the users' comments, news
// and editorial content beside the product, or the page footer. A
// specification is the seller's statement: 材质：100%纯棉 is a fact, 功效：
// 治疗失眠 a claim.
var AdvertisingRegions = []shopwatch.Region{shopwatch.RegionTitle, shopwatch.RegionDescription,
	shopwatch.RegionSpecs, shopwatch.RegionPrice, shopwatch.RegionSeller, shopwatch.RegionOther}

// LicenceRegions are the regions a licence-display rule (category
// licence) judges by default: the seller information and the footer, where
// licences are usually shown, and every other part the seller or site
// controls, news and editorial content included; a licence named in a
// user's comment shows nothing.
var LicenceRegions = []shopwatch.Region{shopwatch.RegionSeller, shopwatch.RegionFooter,
	shopwatch.RegionNavigation, shopwatch.RegionTitle, shopwatch.RegionDescription,
	shopwatch.RegionSpecs, shopwatch.RegionPrice, shopwatch.RegionEditorial, shopwatch.RegionOther}

// DefaultRegions returns the regions a rule of category judges when its
// rule file names none: LicenceRegions for licence rules,
// AdvertisingRegions for the others.
func DefaultRegions(category string) []shopwatch.Region {
	if normCategory(category) == "licence" {
		return slices.Clone(LicenceRegions)
	}
	return slices.Clone(AdvertisingRegions)
}

// regionSet is a set of regions, one bit per entry of shopwatch.Regions.
type regionSet uint16

func regionBit(r shopwatch.Region) regionSet {
	for i, k := range shopwatch.Regions {
		if k == r {
			return 1 << i
		}
	}
	return 0
}

func makeRegionSet(rs []shopwatch.Region) regionSet {
	var s regionSet
	for _, r := range rs {
		s |= regionBit(r)
	}
	return s
}

// has reports whether the set holds r; an empty region is RegionOther.
func (s regionSet) has(r shopwatch.Region) bool {
	if r == "" {
		r = shopwatch.RegionOther
	}
	return s&regionBit(r) != 0
}

// Title is a rule's name in Chinese and English.
type Title struct {
	Zh string `json:"zh"`
	En string `json:"en"`
}

// AppliesTo limits a rule to some page kinds and product categories. An
// empty list means no limit.
type AppliesTo struct {
	Kinds         []shopwatch.Kind `json:"kinds,omitempty"`
	Categories    []string         `json:"categories,omitempty"`
	NotCategories []string         `json:"not_categories,omitempty"` // categories the rule never judges
}

// Exception is one case in which a candidate match is not a breach. Exactly
// one of Text, Before, After, Clause and Sentence is set.
type Exception struct {
	// Text is literal text that, where it occurs around a match and
	// contains the whole match, covers it (第一次 covers 第一).
	Text string `json:"text,omitempty"`
	// Before is a regular expression searched in the clause text before
	// the match (write $ to require it right before); After in the clause
	// text after it (^ for right after); Clause in the whole clause holding
	// the match; Sentence in the whole sentence. A clause ends at commas,
	// full stops, semicolons, line breaks and list separators, a sentence
	// at full stops, question and exclamation marks, semicolons and line
	// breaks; both are bounded to a window around the match. The context is
	// normalised like the page text, except that a sentence keeps the
	// punctuation between CJK characters (so 来源：and 《…》 can be matched).
	Before   string `json:"before,omitempty"`
	After    string `json:"after,omitempty"`
	Clause   string `json:"clause,omitempty"`
	Sentence string `json:"sentence,omitempty"`
	// For limits a context exception to some of the rule's patterns
	// (terms rules); empty means all.
	For []string `json:"for,omitempty"`
	// Note says why the exception holds, with its legal source; findings
	// quote it.
	Note string `json:"note,omitempty"`
	// Refer names a rule that a covered match is reported under instead of
	// being dropped: a claim that an exception takes out of this rule but
	// that is still lawful only with proof.
	Refer string `json:"refer,omitempty"`
}

// Example is one text a rule must (positive) or must not (negative) raise
// a finding on. Kind and Category default to the first ones the rule
// applies to.
type Example struct {
	Text     string         `json:"text"`
	HTML     string         `json:"html,omitempty"`  // markup, for rules that read images or links
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
	ID        string             `json:"id"`
	Title     Title              `json:"title"`
	Category  string             `json:"category"`
	Law       string             `json:"law"`
	Article   string             `json:"article"`
	Item      string             `json:"item,omitempty"`
	Also      []string           `json:"also,omitempty"` // further legal bases, each a full citation
	Penalty   string             `json:"penalty"`        // the provision that sets the penalty, a full citation
	Severity  shopwatch.Severity `json:"severity"`
	AppliesTo AppliesTo          `json:"applies_to"`
	Type      Type               `json:"type"`
	Scope     Scope              `json:"scope,omitempty"`
	// Regions are the page regions the rule judges; a rule file that
	// names none gets DefaultRegions for the rule's category.
	Regions    []shopwatch.Region `json:"regions,omitempty"`
	Validator  string             `json:"validator,omitempty"` // code rules
	Patterns   []string           `json:"patterns,omitempty"`
	Regex      []string           `json:"regex,omitempty"`
	Exceptions []Exception        `json:"exceptions,omitempty"`
	Unless     []string           `json:"unless,omitempty"`    // expressions: a page matching one is not judged by this rule
	YieldsTo   []string           `json:"yields_to,omitempty"` // rule ids: drop this rule's findings when one of them fires
	DefersTo   []string           `json:"defers_to,omitempty"` // rule ids: drop a finding of this rule whose every place shares a clause with a finding of one of them
	OnlyWith   []string           `json:"only_with,omitempty"` // rule ids: keep this rule's findings only when one of them fires
	Disabled   bool               `json:"disabled,omitempty"`  // off unless RuleSet.Enable names it
	Window     int                `json:"window,omitempty"`    // code: runes after a label searched for the code
	Reason     string             `json:"reason,omitempty"`
	Examples   Examples           `json:"examples"`
	Source     string             `json:"source"` // file:line of the rule
	// Needs is the context a match needs to count (terms and regex
	// rules): each entry a before, after, clause or sentence expression
	// that must match around it, or the match is dropped. A claim rule so
	// says "a disease term counts only in a clause with an effect verb".
	Needs []Exception `json:"needs,omitempty"`
	// Lexicon names the word lists of the lexicon (configs/lexicon,
	// claims.yaml) whose words are patterns of the rule besides Patterns
	// (which then holds them too).
	Lexicon []string `json:"lexicon,omitempty"`
}

// Applies reports whether the rule judges pages of this kind and product
// category. Categories compare case-insensitively; an empty kind or
// category on the page only satisfies a rule that does not limit it.
func (r *Rule) Applies(kind shopwatch.Kind, category string) bool {
	if len(r.AppliesTo.Kinds) > 0 && !slices.Contains(r.AppliesTo.Kinds, kind) {
		return false
	}
	c := normCategory(category)
	if len(r.AppliesTo.Categories) > 0 && !slices.Contains(r.AppliesTo.Categories, c) {
		return false
	}
	if c != "" && slices.Contains(r.AppliesTo.NotCategories, c) {
		return false
	}
	return true
}

// citation is the Article text of a finding: the article and item, then
// any further legal bases.
func (r *Rule) citation() string {
	s := r.Article + r.Item
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
	r.Regions = slices.Clone(r.Regions)
	r.AppliesTo.Kinds = slices.Clone(r.AppliesTo.Kinds)
	r.AppliesTo.Categories = slices.Clone(r.AppliesTo.Categories)
	r.AppliesTo.NotCategories = slices.Clone(r.AppliesTo.NotCategories)
	r.Patterns = slices.Clone(r.Patterns)
	r.Regex = slices.Clone(r.Regex)
	r.Exceptions = slices.Clone(r.Exceptions)
	for i := range r.Exceptions {
		r.Exceptions[i].For = slices.Clone(r.Exceptions[i].For)
	}
	r.Needs = slices.Clone(r.Needs)
	r.Lexicon = slices.Clone(r.Lexicon)
	r.Unless = slices.Clone(r.Unless)
	r.YieldsTo = slices.Clone(r.YieldsTo)
	r.DefersTo = slices.Clone(r.DefersTo)
	r.OnlyWith = slices.Clone(r.OnlyWith)
	r.Examples.Positive = slices.Clone(r.Examples.Positive)
	r.Examples.Negative = slices.Clone(r.Examples.Negative)
	return r
}
