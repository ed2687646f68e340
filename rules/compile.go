package rules

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"shopwatch"
)

// RuleSet is a compiled set of rules. It is immutable once loaded and safe
// for concurrent use by any number of goroutines.
type RuleSet struct {
	rules []*compiled
	ac    *automaton
	lits  []string   // normalised literals; automaton pattern id = index
	refs  [][]litRef // per literal: the rules that use it
	pool  sync.Pool  // *scratch
}

// Rules returns a copy of the rules in load order (file name order, then
// order within the file).
func (rs *RuleSet) Rules() []Rule {
	out := make([]Rule, len(rs.rules))
	for i, c := range rs.rules {
		out[i] = c.Rule.clone()
	}
	return out
}

// compiled is a rule ready for matching.
type compiled struct {
	Rule
	idx      int32
	normPats []string   // normalised Patterns
	normExc  []string   // normalised Exceptions
	excFor   [][]excRef // per pattern: the exceptions that contain it, and where
	regs     []*compiledRegex
	looked   string // require: what was looked for, for the reason text
}

// excRef says that exception text holds a pattern at byte offset at, so a
// match of the pattern at s is covered when text occurs at s-at.
type excRef struct {
	text string // normalised
	orig string // as written
	at   int
}

type compiledRegex struct {
	src    string
	re     *regexp.Regexp
	lit    string // a literal every match contains ("" when none was found)
	anchor int32  // automaton id of lit, or -1
	before int    // at most this many bytes of a match precede lit
	after  int    // at most this many bytes of a match follow lit
}

// litRef ties an automaton literal to a rule: pattern idx of the rule, or,
// when anchor is set, the anchor literal of regular expression idx.
type litRef struct {
	rule   int32
	idx    int32
	anchor bool
}

// anchorWindow bounds how far an expression with an unbounded part is
// searched around its anchor literal. Structured patterns (permit and
// filing numbers) are far shorter.
const anchorWindow = 256

// defaultWindow is the uscc search window after a label, in runes.
const defaultWindow = 24

// build compiles the parsed rules into a rule set and runs their examples.
// Rules with problems are left out; the problems are recorded.
func (l *loader) build() *RuleSet {
	rs := &RuleSet{}
	rs.pool.New = func() any { return new(scratch) }
	litIndex := map[string]int32{}
	intern := func(s string) int32 {
		if id, ok := litIndex[s]; ok {
			return id
		}
		id := int32(len(rs.lits))
		litIndex[s] = id
		rs.lits = append(rs.lits, s)
		rs.refs = append(rs.refs, nil)
		return id
	}
	seen := map[string]*ruleSrc{}
	var srcs []*ruleSrc
	for _, r := range l.rules {
		before := len(l.problems)
		if r.ID != "" {
			if first, dup := seen[r.ID]; dup {
				l.problemAt(r.file, nodePos(r.fields["id"]), r.ID, "duplicate rule id (first defined at %s)", first.Source)
			} else {
				seen[r.ID] = r
			}
		}
		c := l.compileRule(r)
		if len(l.problems) > before {
			continue
		}
		c.idx = int32(len(rs.rules))
		for i, p := range c.normPats {
			id := intern(p)
			rs.refs[id] = append(rs.refs[id], litRef{rule: c.idx, idx: int32(i)})
		}
		for i, cr := range c.regs {
			if cr.lit != "" {
				cr.anchor = intern(cr.lit)
				rs.refs[cr.anchor] = append(rs.refs[cr.anchor], litRef{rule: c.idx, idx: int32(i), anchor: true})
			}
		}
		rs.rules = append(rs.rules, c)
		srcs = append(srcs, r)
	}
	rs.ac = newAutomaton(rs.lits)
	for i, c := range rs.rules {
		l.runExamples(rs, c, srcs[i])
	}
	return rs
}

func (l *loader) compileRule(r *ruleSrc) *compiled {
	c := &compiled{Rule: r.Rule.clone()}
	bad := func(p pos, format string, args ...any) {
		l.problemAt(r.file, p, r.ID, format, args...)
	}
	at := func(key string) pos {
		if v := r.fields[key]; v != nil {
			return nodePos(v)
		}
		return pos{r.line, r.col}
	}
	forbid := func(key, why string) {
		if r.fields[key] != nil {
			bad(at(key), "field %q is not used by %s rules%s", key, r.Type, why)
		}
	}
	switch r.Type {
	case TypeTerms:
		if len(r.patterns) == 0 {
			bad(at("patterns"), "a terms rule needs patterns")
		}
		forbid("regex", " (use a regex rule for structured patterns)")
		forbid("window", "")
	case TypeRegex:
		if len(r.regex) == 0 {
			bad(at("regex"), "a regex rule needs regex")
		}
		forbid("patterns", " (literal patterns belong in a terms rule)")
		forbid("window", "")
	case TypeRequire:
		if len(r.patterns) == 0 && len(r.regex) == 0 {
			bad(at("patterns"), "a require rule needs patterns or regex")
		}
		forbid("exceptions", "")
		forbid("window", "")
	case TypeUSCC:
		if len(r.patterns) == 0 {
			bad(at("patterns"), "a uscc rule needs patterns (the labels the code follows)")
		}
		forbid("regex", "")
		forbid("exceptions", "")
		if c.Window == 0 {
			c.Window = defaultWindow
		}
	}

	seen := map[string]srcItem{}
	for _, it := range r.patterns {
		np, ok := l.normLiteral(r, it, "pattern")
		if !ok {
			continue
		}
		if prev, dup := seen[np]; dup {
			bad(pos{it.line, it.col}, "pattern %q repeats %q (line %d) once normalised", it.val, prev.val, prev.line)
			continue
		}
		seen[np] = it
		c.normPats = append(c.normPats, np)
	}
	c.excFor = make([][]excRef, len(c.normPats))
	for _, it := range r.exceptions {
		ne, ok := l.normLiteral(r, it, "exception")
		if !ok {
			continue
		}
		c.normExc = append(c.normExc, ne)
		if r.Type != TypeTerms {
			continue
		}
		used := false
		for pi, p := range c.normPats {
			for off := 0; off < len(ne); {
				k := strings.Index(ne[off:], p)
				if k < 0 {
					break
				}
				c.excFor[pi] = append(c.excFor[pi], excRef{text: ne, orig: it.val, at: off + k})
				used = true
				off += k + 1
			}
		}
		if !used {
			bad(pos{it.line, it.col}, "exception %q contains none of the rule's patterns, so it can never apply", it.val)
		}
	}
	for _, it := range r.regex {
		cr, err := compileRegex(it.val)
		if err != nil {
			bad(pos{it.line, it.col}, "bad regex %q: %v", it.val, err)
			continue
		}
		c.regs = append(c.regs, cr)
	}
	if r.Type == TypeRequire {
		what := slices.Clone(r.Patterns)
		for _, x := range r.Regex {
			what = append(what, "/"+x+"/")
		}
		c.looked = strings.Join(what, "、")
	}
	return c
}

// normLiteral normalises a pattern or exception and checks that it can
// match normalised text.
func (l *loader) normLiteral(r *ruleSrc, it srcItem, what string) (string, bool) {
	p := pos{it.line, it.col}
	if strings.TrimSpace(it.val) != it.val {
		l.problemAt(r.file, p, r.ID, "%s %q has leading or trailing white space", what, it.val)
		return "", false
	}
	n := Normalize(it.val).Text
	if n == "" {
		l.problemAt(r.file, p, r.ID, "%s %q is empty once normalised", what, it.val)
		return "", false
	}
	if msg := edgeGap(n); msg != "" {
		l.problemAt(r.file, p, r.ID, "%s %q %s", what, it.val, msg)
		return "", false
	}
	return n, true
}

// edgeGap explains why a normalised literal that begins or ends with
// punctuation or space next to a CJK character could never match: in text,
// that gap vanishes whenever the character beyond it is CJK too.
func edgeGap(n string) string {
	r0, s0 := utf8.DecodeRuneInString(n)
	if len(n) > s0 {
		r1, _ := utf8.DecodeRuneInString(n[s0:])
		if isGapClass(classify(r0)) && classify(r1) == clsCJK {
			return "begins with punctuation before a CJK character, which normalisation removes in running text; leave it out"
		}
	}
	rz, sz := utf8.DecodeLastRuneInString(n)
	if len(n) > sz {
		ry, _ := utf8.DecodeLastRuneInString(n[:len(n)-sz])
		if isGapClass(classify(rz)) && classify(ry) == clsCJK {
			return "ends with punctuation after a CJK character, which normalisation removes in running text; leave it out"
		}
	}
	return ""
}

func isGapClass(c charClass) bool { return c == clsSpace || c == clsBreak || c == clsPunct }

// compileRegex compiles a structured pattern. Patterns run over normalised
// text, so they are compiled case-insensitive and must not match the empty
// string. When every match must contain some literal, the literal becomes
// the pattern's anchor: the expression only runs near places the automaton
// found it.
func compileRegex(src string) (*compiledRegex, error) {
	re, err := regexp.Compile("(?i)" + src)
	if err != nil {
		return nil, err
	}
	if re.MatchString("") {
		return nil, fmt.Errorf("it matches the empty string")
	}
	cr := &compiledRegex{src: src, re: re, anchor: -1}
	cr.lit, cr.before, cr.after = findAnchor(src)
	return cr, nil
}

// findAnchor looks for the longest literal among the top-level parts of a
// concatenation and the most bytes a match can hold before and after it
// (capped at anchorWindow). It gives up ("") on alternations at the top,
// on assertions (^ $ \b) whose meaning would change in a window, and on
// literals that normalisation would change.
func findAnchor(src string) (lit string, before, after int) {
	re, err := syntax.Parse("(?i)"+src, syntax.Perl)
	if err != nil {
		return "", 0, 0
	}
	re = re.Simplify()
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	if hasAssertion(re) {
		return "", 0, 0
	}
	parts := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		parts = re.Sub
	}
	best := -1
	for i, p := range parts {
		if p.Op == syntax.OpLiteral && (best < 0 || len(string(p.Rune)) > len(string(parts[best].Rune))) {
			best = i
		}
	}
	if best < 0 {
		return "", 0, 0
	}
	lit = strings.Map(unicode.ToLower, string(parts[best].Rune))
	if len(lit) < 2 || Normalize(lit).Text != lit {
		return "", 0, 0
	}
	sum := func(ps []*syntax.Regexp) int {
		t := 0
		for _, p := range ps {
			n := maxLen(p)
			if n < 0 || t+n > anchorWindow {
				return anchorWindow
			}
			t += n
		}
		return t
	}
	return lit, sum(parts[:best]), sum(parts[best+1:])
}

// maxLen is the most bytes re can match, or -1 when unbounded.
func maxLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			n += maxRuneLen(r)
		}
		return n
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return 0
		}
		return maxRuneLen(re.Rune[len(re.Rune)-1])
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return utf8.UTFMax
	case syntax.OpCapture, syntax.OpQuest:
		return maxLen(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		return -1
	case syntax.OpRepeat:
		n := maxLen(re.Sub[0])
		if re.Max < 0 || n < 0 {
			return -1
		}
		return n * re.Max
	case syntax.OpConcat:
		t := 0
		for _, s := range re.Sub {
			n := maxLen(s)
			if n < 0 {
				return -1
			}
			t += n
		}
		return t
	case syntax.OpAlternate:
		t := 0
		for _, s := range re.Sub {
			n := maxLen(s)
			if n < 0 {
				return -1
			}
			t = max(t, n)
		}
		return t
	}
	return 0
}

// maxRuneLen is the UTF-8 length of r or of any case variant of it.
func maxRuneLen(r rune) int {
	n := utf8.RuneLen(r)
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		n = max(n, utf8.RuneLen(f))
	}
	return max(n, 1)
}

func hasAssertion(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	for _, s := range re.Sub {
		if hasAssertion(s) {
			return true
		}
	}
	return false
}

// runExamples checks a rule against its own examples and records a problem
// at every example that does not behave.
func (l *loader) runExamples(rs *RuleSet, c *compiled, r *ruleSrc) {
	run := func(x exampleSrc) []shopwatch.Finding {
		in := Input{URL: "example:" + c.ID, Kind: x.Kind, Category: x.Category, Text: x.Text}
		if in.Kind == "" && len(c.AppliesTo.Kinds) > 0 {
			in.Kind = c.AppliesTo.Kinds[0]
		}
		if in.Category == "" && len(c.AppliesTo.Categories) > 0 {
			in.Category = c.AppliesTo.Categories[0]
		}
		var out []shopwatch.Finding
		for _, f := range rs.Check(in) {
			if f.Rule == c.ID {
				out = append(out, f)
			}
		}
		return out
	}
	for _, x := range r.positive {
		got := run(x)
		p := pos{x.line, x.col}
		switch {
		case len(got) == 0:
			l.problemAt(r.file, p, c.ID, "positive example %q raises no finding", x.Text)
		case x.Match != "" && !slices.ContainsFunc(got, func(f shopwatch.Finding) bool { return f.Match == x.Match }):
			var ms []string
			for _, f := range got {
				ms = append(ms, f.Match)
			}
			l.problemAt(r.file, p, c.ID, "positive example %q matches %q, want %q", x.Text, ms, x.Match)
		}
	}
	for _, x := range r.negative {
		if got := run(x); len(got) > 0 {
			l.problemAt(r.file, pos{x.line, x.col}, c.ID, "negative example %q raises a finding on %q", x.Text, got[0].Match)
		}
	}
}
