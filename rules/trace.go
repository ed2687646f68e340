package rules

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"shopwatch"
)

// Outcome is what became of a candidate match.
type Outcome string

// The outcomes of a candidate.
const (
	// OutcomeFinding: the candidate is (or is one more location of) a
	// finding.
	OutcomeFinding Outcome = "finding"
	// OutcomeReferred: an exception took it out of its rule and referred
	// it to another rule, under which it is a finding.
	OutcomeReferred Outcome = "referred"
	// OutcomeException: an exception of the rule covers it.
	OutcomeException Outcome = "exception"
	// OutcomePartWord: the literal cuts an ASCII word (NO.1 in NO.12).
	OutcomePartWord Outcome = "part-of-word"
	// OutcomeRegion: it lies in a page region the rule does not judge.
	OutcomeRegion Outcome = "region"
	// OutcomeOverlap: a longer or earlier match of the same rule covers it.
	OutcomeOverlap Outcome = "overlap"
	// OutcomeRepeat: the same text matched earlier; this place is one more
	// location of that finding.
	OutcomeRepeat Outcome = "repeat"
	// OutcomeNeeds: its context lacks what the rule needs (see Rule.Needs).
	OutcomeNeeds Outcome = "needs"
	// OutcomeUnless: one of the rule's unless expressions matches the page.
	OutcomeUnless Outcome = "unless"
	// OutcomeDropped: its finding was dropped because the rule yields to
	// another that fired, or speaks only with others that did not.
	OutcomeDropped Outcome = "dropped"
	// OutcomeLabel: a code rule's label; the code after it is checked by
	// the rule's validator and a finding raised only when it fails.
	OutcomeLabel Outcome = "label"
)

// Trace is the record of how CheckTrace judged one text: how the text was
// normalised, which rules judged it, every candidate match and what became
// of it, and the findings.
type Trace struct {
	// Normalised is the text the rules match against.
	Normalised string `json:"normalised"`
	// Folds are the places where Normalised differs from the original
	// text, in order.
	Folds []Fold `json:"folds"`
	// Skipped are the rules that did not judge the text, and why.
	Skipped []SkippedRule `json:"skipped"`
	// Candidates are every match of a rule's pattern or expression, in
	// order of the normalised text.
	Candidates []Candidate `json:"candidates"`
	// Dropped are findings dropped by yields_to and only_with.
	Dropped []DroppedFinding `json:"dropped,omitempty"`
	// Findings are what Check returns.
	Findings []shopwatch.Finding `json:"findings"`

	index map[candKey]int
}

// Fold is one place where the normalised text differs from the original.
type Fold struct {
	Offset   int    `json:"offset"` // byte offset in the original text
	Original string `json:"original"`
	Normal   string `json:"normal"` // "" when the characters were removed
	Why      string `json:"why"`
}

// SkippedRule is a rule that did not judge the text.
type SkippedRule struct {
	Rule string `json:"rule"`
	Why  string `json:"why"`
}

// Candidate is one match of a rule's pattern or expression.
type Candidate struct {
	Rule string `json:"rule"`
	// From says what matched: the pattern, the evasion spelling of a
	// pattern, or the expression between slashes.
	From string `json:"from"`
	// Start and End are the match's byte range in the normalised text,
	// Offset and OffsetEnd in the original text, Match the original text.
	Start     int     `json:"start"`
	End       int     `json:"end"`
	Offset    int     `json:"offset"`
	OffsetEnd int     `json:"offset_end"`
	Match     string  `json:"match"`
	Outcome   Outcome `json:"outcome"`
	// Exception is the exception that covered the candidate (its text or
	// /expression/, and its note), for OutcomeException and
	// OutcomeReferred; ReferredTo the rule it was referred to.
	Exception  string `json:"exception,omitempty"`
	ReferredTo string `json:"referred_to,omitempty"`
	// Why says more about the outcome: the region, the reason a finding
	// was dropped.
	Why string `json:"why,omitempty"`
}

// DroppedFinding is a finding that yields_to or only_with removed.
type DroppedFinding struct {
	Finding shopwatch.Finding `json:"finding"`
	Why     string            `json:"why"`
}

type candKey struct {
	rule       int32
	kind       candKind
	idx        int32
	start, end int32
}

// key identifies a candidate by the rule that matched it, before any
// referral.
func (cd cand) key() candKey {
	r := cd.rule
	if cd.from >= 0 {
		r = cd.from
	}
	return candKey{r, cd.kind, cd.idx, cd.start, cd.end}
}

// CheckTrace is Check that also records how it reached its findings, for
// explaining them to a person (shopwatch rules explain). It returns the
// same findings as Check. It is slower than Check and meant for one text
// at a time.
func (rs *RuleSet) CheckTrace(in Input) ([]shopwatch.Finding, *Trace) {
	tr := &Trace{index: map[candKey]int{}, Folds: []Fold{}, Skipped: []SkippedRule{}, Candidates: []Candidate{}}
	fs := rs.check(in, -1, tr)
	if tr.Findings == nil { // no rule judges the text: Check stopped early
		tr.Findings = []shopwatch.Finding{}
		var nb normBuf
		nb.run(in.Text)
		tr.normalised(&nb, in.Text)
	}
	return fs, tr
}

// start records the rules that do not judge the page.
func (tr *Trace) start(rs *RuleSet, sc *scratch, in Input, force int32) {
	for i, c := range rs.rules {
		if sc.on[i] {
			continue
		}
		tr.Skipped = append(tr.Skipped, SkippedRule{Rule: c.ID, Why: skipWhy(c, rs.off[i] && int32(i) != force, in)})
	}
}

// skipWhy says why rule c does not judge a page.
func skipWhy(c *compiled, off bool, in Input) string {
	if off {
		return "switched off by its rule file (enable it by id)"
	}
	a := c.AppliesTo
	cat := normCategory(in.Category)
	var why []string
	if len(a.Kinds) > 0 && !slices.Contains(a.Kinds, in.Kind) {
		var ks []string
		for _, k := range a.Kinds {
			ks = append(ks, string(k))
		}
		why = append(why, fmt.Sprintf("applies only to page kinds %s, not %q", strings.Join(ks, ", "), in.Kind))
	}
	if len(a.Categories) > 0 && !slices.Contains(a.Categories, cat) {
		if cat == "" {
			why = append(why, fmt.Sprintf("applies only to categories %s, and the text has none", strings.Join(a.Categories, ", ")))
		} else {
			why = append(why, fmt.Sprintf("applies only to categories %s, not %s", strings.Join(a.Categories, ", "), cat))
		}
	}
	if cat != "" && slices.Contains(a.NotCategories, cat) {
		why = append(why, fmt.Sprintf("never judges category %s", cat))
	}
	if len(why) == 0 {
		return "does not apply to this page"
	}
	return strings.Join(why, "; ")
}

// normalised records the normal form and where it differs from text.
func (tr *Trace) normalised(nb *normBuf, text string) {
	tr.Normalised = string(nb.out)
	out := nb.out
	prev := 0 // end of the original text accounted for
	prevCJK := false
	for i := 0; i < len(out); {
		// A group: the output runes that share one source span.
		s, e := int(nb.start[i]), 0
		j := i
		for j < len(out) {
			_, size := utf8.DecodeRune(out[j:])
			if int(nb.start[j]) != s {
				break
			}
			e = int(nb.end[j+size-1])
			j += size
		}
		if s > prev {
			gap := text[prev:s]
			next, _ := utf8.DecodeRune(out[i:])
			why := "removed: control, format or combining character"
			if prevCJK && isCJK(next) {
				why = "removed: white space or punctuation between CJK characters"
			}
			tr.fold(prev, gap, "", why)
		}
		orig, got := text[s:e], string(out[i:j])
		if orig != got {
			tr.fold(s, orig, got, foldWhy(orig, got))
		}
		last, _ := utf8.DecodeLastRune(out[i:j])
		prevCJK = isCJK(last)
		prev = max(prev, e)
		i = j
	}
	if prev < len(text) {
		tr.fold(prev, text[prev:], "", "removed: control, format or combining character")
	}
}

// fold adds a fold, merging it into the previous one when they touch and
// both change characters (ＮＯ．１ → no.1) or both remove them.
func (tr *Trace) fold(off int, orig, normal, why string) {
	if n := len(tr.Folds); n > 0 {
		p := &tr.Folds[n-1]
		if p.Offset+len(p.Original) == off && (p.Normal == "") == (normal == "") && !strings.HasPrefix(why, "white space") && !strings.HasPrefix(p.Why, "white space") {
			p.Original += orig
			p.Normal += normal
			for _, w := range strings.Split(why, ", ") {
				if !slices.Contains(strings.Split(p.Why, ", "), w) {
					p.Why += ", " + w
				}
			}
			return
		}
	}
	tr.Folds = append(tr.Folds, Fold{Offset: off, Original: orig, Normal: normal, Why: why})
}

// foldWhy names the steps of the normal form that turned orig into got.
func foldWhy(orig, got string) string {
	if strings.TrimSpace(orig) == "" {
		return "white space collapsed"
	}
	var why []string
	s := orig
	if n := norm.NFKC.String(s); n != s {
		r, _ := utf8.DecodeRuneInString(s)
		if r == 0x3000 || 0xFF01 <= r && r <= 0xFF5E {
			why = append(why, "full-width form")
		} else {
			why = append(why, "compatibility form (NFKC)")
		}
		s = n
	}
	if l := strings.ToLower(s); l != s {
		why = append(why, "lower case")
		s = l
	}
	if s != got {
		r, _ := utf8.DecodeRuneInString(orig)
		if lex().traditional[r] {
			why = append(why, "traditional → simplified")
		} else {
			why = append(why, "look-alike character (configs/lexicon/variants.yaml)")
		}
	}
	return strings.Join(why, ", ")
}

// add records a candidate with its first outcome.
func (tr *Trace) add(rs *RuleSet, sc *scratch, in Input, cd cand, o Outcome, why string) {
	c := rs.rules[cd.rule]
	var from string
	switch cd.kind {
	case candLiteral, candLabel:
		p := c.pats[cd.idx]
		from = "pattern " + c.Patterns[p.pat]
		if p.spelling {
			from = fmt.Sprintf("spelling %s of pattern %s", p.norm, c.Patterns[p.pat])
		}
		if cd.kind == candLabel {
			o = OutcomeLabel
			from = "label " + c.Patterns[p.pat]
			why = fmt.Sprintf("the code after it is checked by validator %s", c.Validator)
		}
	default:
		from = "/" + c.regs[cd.idx].src + "/"
	}
	os, oe := sc.nb.original(int(cd.start), int(cd.end))
	tr.index[cd.key()] = len(tr.Candidates)
	tr.Candidates = append(tr.Candidates, Candidate{Rule: c.ID, From: from, Start: int(cd.start), End: int(cd.end),
		Offset: os, OffsetEnd: oe, Match: in.Text[os:oe], Outcome: o, Why: why})
}

// set changes the outcome of a recorded candidate.
func (tr *Trace) set(cd cand, o Outcome, why string) {
	if i, ok := tr.index[cd.key()]; ok {
		tr.Candidates[i].Outcome, tr.Candidates[i].Why = o, why
	}
}

// exception records that exception ex of rule c covers cd, and whether
// the candidate goes on to the rule the exception refers it to.
func (tr *Trace) exception(rs *RuleSet, c *compiled, cd cand, ex int32, referred bool) {
	i, ok := tr.index[cd.key()]
	if !ok {
		return
	}
	x := c.excs[ex]
	cn := &tr.Candidates[i]
	cn.Exception = x.label
	if x.note != "" {
		cn.Exception += "（" + x.note + "）"
	}
	cn.Outcome = OutcomeException
	switch {
	case referred:
		cn.Outcome, cn.ReferredTo = OutcomeReferred, rs.rules[x.refer].ID
	case x.refer >= 0:
		cn.Why = fmt.Sprintf("it would be referred to %s, which does not judge this text", rs.rules[x.refer].ID)
	}
}

// unless records that the unless expressions of c drop its candidates.
func (tr *Trace) unless(c *compiled, cands []cand) {
	for _, cd := range cands {
		tr.set(cd, OutcomeUnless, "the page matches an unless expression of the rule")
	}
}

// drop records a finding that yields_to or only_with removed.
func (tr *Trace) drop(f shopwatch.Finding, why string) {
	tr.Dropped = append(tr.Dropped, DroppedFinding{Finding: f, Why: why})
}

// finish records the findings and sorts the candidates.
func (tr *Trace) finish(out []shopwatch.Finding) {
	tr.Findings = slices.Clone(out)
	if tr.Findings == nil {
		tr.Findings = []shopwatch.Finding{}
	}
	for _, d := range tr.Dropped {
		for i := range tr.Candidates {
			cn := &tr.Candidates[i]
			rule := cn.Rule
			if cn.ReferredTo != "" {
				rule = cn.ReferredTo
			}
			if (cn.Outcome == OutcomeFinding || cn.Outcome == OutcomeReferred) && rule == d.Finding.Rule && cn.Offset == d.Finding.Offset {
				cn.Outcome, cn.Why = OutcomeDropped, d.Why
			}
		}
	}
	slices.SortStableFunc(tr.Candidates, func(a, b Candidate) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return b.End - a.End
	})
	tr.index = nil
}
