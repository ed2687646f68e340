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
	byID  map[string]int32
	ac    *automaton
	lits  []string   // normalised literals; automaton pattern id = index
	refs  [][]litRef // per literal: the rules that use it
	off   []bool     // per rule: not judged (disabled and not enabled)
	pool  *sync.Pool // *scratch
	cats  []string   // the product categories the set knows (Categories), sorted
	// cx finds the required literals of context exceptions and needs
	// (ctxException.lits) in a candidate's context window.
	cx *automaton
	// regBase numbers the regular expressions of all rules: expression i
	// of rule r is regBase[r]+i; the last entry is the count.
	regBase []int32
}

// Rules returns a copy of the rules in load order (file name order, then
// order within the file).
func (rs *RuleSet) Rules() []Rule {
	out := make([]Rule, len(rs.rules))
	for i, c := range rs.rules {
		out[i] = c.Rule.clone()
		out[i].Disabled = rs.off[i]
	}
	return out
}

// Enable returns a rule set that also judges the named rules, which their
// rule files switch off (enabled: false). The new set shares the compiled
// rules with rs; rs is unchanged. It fails naming any id the set does not
// hold.
func (rs *RuleSet) Enable(ids ...string) (*RuleSet, error) {
	n := &RuleSet{rules: rs.rules, byID: rs.byID, ac: rs.ac, lits: rs.lits, refs: rs.refs,
		off: slices.Clone(rs.off), pool: newScratchPool(), cats: rs.cats, cx: rs.cx, regBase: rs.regBase}
	var unknown []string
	for _, id := range ids {
		i, ok := rs.byID[id]
		if !ok {
			unknown = append(unknown, id)
			continue
		}
		n.off[i] = false
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("enable rules: unknown rule id %s", strings.Join(unknown, ", "))
	}
	return n, nil
}

func newScratchPool() *sync.Pool {
	return &sync.Pool{New: func() any { return new(scratch) }}
}

// compiled is a rule ready for matching.
type compiled struct {
	Rule
	idx    int32
	pats   []patEntry // literal entries: the patterns, then their spellings
	excFor [][]excRef // per entry: the literal exceptions that contain it, and where
	normEx []string   // per exception: normalised text of a literal exception ("" for context ones)
	excs   []excMeta  // per exception, in rule order
	ctx    []*ctxException
	regs   []*compiledRegex
	unless []*regexp.Regexp
	yields []int32
	defers []int32 // defers_to: rules whose findings in the same clause take this rule's place
	only   []int32
	valid  *validator
	looked string // require: what was looked for, for the reason text
	// needs are the contexts a candidate needs (Rule.Needs); needNotes
	// say what each asks for, for traces.
	needs     []*ctxException
	needNotes []string
	// where are the page regions the rule judges.
	where regionSet
	// unlessLits are, per unless expression, the automaton literals one of
	// which the page must hold for it to match (nil: it always runs).
	unlessLits [][]int32
}

// patEntry is one literal the automaton looks for on behalf of a rule.
type patEntry struct {
	norm     string // normalised text
	pat      int32  // index in Patterns of the pattern it spells
	spelling bool   // an evasion spelling of the pattern, not the pattern
}

// excRef says that exception ex's text holds a pattern entry at byte offset
// at, so a match of the entry at s is covered when text occurs at s-at.
type excRef struct {
	text string // normalised
	at   int
	ex   int32
}

// excMeta is what findings say about an exception.
type excMeta struct {
	label string // the text, or the expression between slashes
	note  string
	refer int32 // rule index, or -1
}

type ctxKind uint8

const (
	ctxBefore ctxKind = iota
	ctxAfter
	ctxClause
	ctxSentence
)

// ctxException is an exception read from the context around a match.
type ctxException struct {
	kind ctxKind
	re   *regexp.Regexp
	pats []bool // per pattern: applies; nil means every pattern
	ex   int32
	// req are literals one of which every match of re holds
	// (requiredLiterals), nil when none are known; lits are their ids in
	// RuleSet.cx, sorted.
	req  []string
	lits []int32
}

// compileContext compiles the expression of a context exception or need
// (one of before, after, clause and sentence, lexicon lists expanded) as
// entry ex of its rule.
func compileContext(x Exception, ex int32) (*ctxException, error) {
	src := x.Before + x.After + x.Clause + x.Sentence
	expanded, err := expandLists(src)
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile("(?i)" + expanded)
	if err != nil {
		return nil, fmt.Errorf("bad regex %q: %v", src, err)
	}
	ce := &ctxException{re: re, ex: ex, req: requiredLiterals(expanded)}
	switch {
	case x.Before != "":
		ce.kind = ctxBefore
	case x.After != "":
		ce.kind = ctxAfter
	case x.Clause != "":
		ce.kind = ctxClause
	default:
		ce.kind = ctxSentence
	}
	return ce, nil
}

type compiledRegex struct {
	src    string
	re     *regexp.Regexp
	lit    string // a literal every match contains ("" when none was found)
	anchor int32  // automaton id of lit, or -1
	before int    // at most this many bytes of a match precede lit
	after  int    // at most this many bytes of a match follow lit
	// hasReq says that every match holds one of the literals the
	// automaton reports for the expression as required (litRef.req): text
	// without one of them is not searched.
	hasReq bool
	// span is the most bytes a match can hold, or -1 when that is
	// unbounded or the expression has assertions (matchSpan).
	span int
	// head, when not nil, is the expression anchored at the start of the
	// text: every match starts with one of the required literals
	// (headRegex), so the expression is tried only where one starts.
	head *regexp.Regexp
	// parts are the required literal sets of the parts of the expression,
	// per alternative (partLits): a stretch of text that lacks every
	// literal of one set of each alternative holds no match.
	parts []partAlt
}

// litRef ties an automaton literal to a rule: pattern entry idx of the
// rule, or, when anchor is set, the anchor literal of regular expression
// idx.
type litRef struct {
	rule   int32
	idx    int32
	anchor bool
	req    bool // a required literal of regular expression idx
}

// anchorWindow bounds how far an expression with an unbounded part is
// searched around its anchor literal. Structured patterns (permit and
// filing numbers) are far shorter.
const anchorWindow = 256

// defaultWindow is the code search window after a label, in runes.
const defaultWindow = 24

// maxSpellings bounds the spellings one pattern expands to.
const maxSpellings = 16

// build compiles the parsed rules into a rule set and runs their examples.
// Rules with problems are left out; the problems are recorded.
func (l *loader) build() *RuleSet {
	rs := &RuleSet{byID: map[string]int32{}, pool: newScratchPool()}
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
	for _, r := range l.rules {
		if r.ID == "" {
			continue
		}
		if first, dup := seen[r.ID]; dup {
			l.problemAt(r.file, nodePos(r.fields["id"]), r.ID, "duplicate rule id (first defined at %s)", first.Source)
			r.dup = true
		} else {
			seen[r.ID] = r
		}
	}
	var srcs []*ruleSrc
	for _, r := range l.rules {
		before := len(l.problems)
		c := l.compileRule(r)
		if len(l.problems) > before || r.dup {
			continue
		}
		c.idx = int32(len(rs.rules))
		rs.byID[c.ID] = c.idx
		rs.rules = append(rs.rules, c)
		rs.off = append(rs.off, c.Disabled)
		srcs = append(srcs, r)
	}
	// Rule references, now that every rule has its index. A reference to
	// a rule that exists but failed to compile is left out quietly: that
	// rule's own problems are reported.
	var kept []*compiled
	var keptSrcs []*ruleSrc
	for i, c := range rs.rules {
		r := srcs[i]
		before := len(l.problems)
		ref := func(it srcItem, what string) int32 {
			if j, ok := rs.byID[it.val]; ok {
				if j == c.idx {
					l.problemAt(r.file, pos{it.line, it.col}, r.ID, "%s names the rule itself", what)
				}
				return j
			}
			if seen[it.val] == nil {
				l.problemAt(r.file, pos{it.line, it.col}, r.ID, "%s: unknown rule id %q", what, it.val)
			}
			return -1
		}
		for ei, x := range r.exceptions {
			c.excs[ei].refer = -1
			if x.Refer != "" {
				c.excs[ei].refer = ref(x.refer, "exception refer")
			}
		}
		for _, it := range r.yieldsTo {
			if j := ref(it, "yields_to"); j >= 0 {
				c.yields = append(c.yields, j)
			}
		}
		for _, it := range r.defersTo {
			if j := ref(it, "defers_to"); j >= 0 {
				c.defers = append(c.defers, j)
			}
		}
		for _, it := range r.onlyWith {
			if j := ref(it, "only_with"); j >= 0 {
				c.only = append(c.only, j)
			}
		}
		if len(l.problems) > before {
			continue
		}
		kept = append(kept, c)
		keptSrcs = append(keptSrcs, r)
	}
	if len(kept) != len(rs.rules) {
		// Renumber: references must point at kept rules only.
		rs.rules, rs.off, rs.byID = nil, nil, map[string]int32{}
		remap := map[int32]int32{}
		for _, c := range kept {
			remap[c.idx] = int32(len(rs.rules))
			c.idx = int32(len(rs.rules))
			rs.byID[c.ID] = c.idx
			rs.rules = append(rs.rules, c)
			rs.off = append(rs.off, c.Disabled)
		}
		fix := func(js []int32) []int32 {
			var out []int32
			for _, j := range js {
				if k, ok := remap[j]; ok {
					out = append(out, k)
				}
			}
			return out
		}
		for _, c := range rs.rules {
			for i := range c.excs {
				if c.excs[i].refer >= 0 {
					if k, ok := remap[c.excs[i].refer]; ok {
						c.excs[i].refer = k
					} else {
						c.excs[i].refer = -1
					}
				}
			}
			c.yields, c.only, c.defers = fix(c.yields), fix(c.only), fix(c.defers)
		}
		srcs = keptSrcs
	}
	for _, c := range rs.rules {
		for i, p := range c.pats {
			id := intern(p.norm)
			rs.refs[id] = append(rs.refs[id], litRef{rule: c.idx, idx: int32(i)})
		}
		for i, cr := range c.regs {
			if cr.lit != "" {
				cr.anchor = intern(cr.lit)
				rs.refs[cr.anchor] = append(rs.refs[cr.anchor], litRef{rule: c.idx, idx: int32(i), anchor: true})
			}
			// Required literals, unless the anchor alone is one: every
			// window around an anchor holds it.
			if req := requiredLiterals(cr.src); req != nil && !(len(req) == 1 && req[0] == cr.lit) {
				cr.hasReq = true
				cr.head = headRegex(cr.src, req)
				for _, l := range req {
					id := intern(l)
					rs.refs[id] = append(rs.refs[id], litRef{rule: c.idx, idx: int32(i), req: true})
				}
			}
		}
		c.unlessLits = make([][]int32, len(c.unless))
		for i, re := range c.unless {
			for _, l := range requiredLiterals(strings.TrimPrefix(re.String(), "(?i)")) {
				c.unlessLits[i] = append(c.unlessLits[i], intern(l))
			}
		}
	}
	rs.ac = newAutomaton(rs.lits)
	rs.regBase = make([]int32, len(rs.rules)+1)
	for i, c := range rs.rules {
		rs.regBase[i+1] = rs.regBase[i] + int32(len(c.regs))
	}
	var cxLits []string
	cxIndex := map[string]int32{}
	for _, c := range rs.rules {
		for _, ce := range append(slices.Clone(c.ctx), c.needs...) {
			ce.lits = nil
			for _, l := range ce.req {
				id, ok := cxIndex[l]
				if !ok {
					id = int32(len(cxLits))
					cxIndex[l] = id
					cxLits = append(cxLits, l)
				}
				ce.lits = append(ce.lits, id)
			}
			slices.Sort(ce.lits)
		}
	}
	rs.cx = newAutomaton(cxLits)
	rs.cats = Categories()
	for _, c := range rs.rules {
		for _, cat := range append(slices.Clone(c.AppliesTo.Categories), c.AppliesTo.NotCategories...) {
			if cat = normCategory(cat); cat != "" && !slices.Contains(rs.cats, cat) {
				rs.cats = append(rs.cats, cat)
			}
		}
	}
	slices.Sort(rs.cats)
	if !l.skipExamples {
		for i, c := range rs.rules {
			l.runExamples(rs, c, srcs[i])
		}
	}
	return rs
}

func (l *loader) compileRule(r *ruleSrc) *compiled {
	c := &compiled{Rule: r.Rule.clone()}
	if len(c.Regions) == 0 {
		c.Regions = DefaultRegions(c.Category)
	}
	c.where = makeRegionSet(c.Regions)
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
		forbid("validator", "")
	case TypeRegex:
		if len(r.regex) == 0 {
			bad(at("regex"), "a regex rule needs regex")
		}
		forbid("patterns", " (literal patterns belong in a terms rule)")
		forbid("window", "")
		forbid("validator", "")
	case TypeRequire:
		if len(r.patterns) == 0 && len(r.regex) == 0 {
			bad(at("patterns"), "a require rule needs patterns or regex")
		}
		forbid("exceptions", "")
		forbid("needs", "")
		forbid("window", "")
		forbid("validator", "")
	case TypeCode:
		if len(r.patterns) == 0 {
			bad(at("patterns"), "a code rule needs patterns (the labels the code follows)")
		}
		forbid("regex", "")
		forbid("exceptions", "")
		forbid("needs", "")
		if c.Validator == "" {
			bad(at("type"), "a code rule needs a validator (one of %s)", validatorNames())
		} else if c.valid = validators[c.Validator]; c.valid == nil {
			bad(at("validator"), "unknown validator %q (want one of %s)", c.Validator, validatorNames())
		}
		if c.Window == 0 {
			c.Window = defaultWindow
		}
	}
	if r.Type != TypeCode && r.Type != "" {
		forbid("validator", "")
	}
	if c.Scope == "" {
		c.Scope = ScopeText
	}
	if c.Scope != ScopeText && r.Type != TypeTerms {
		bad(at("scope"), "scope %s needs a terms rule", c.Scope)
	}

	seen := map[string]srcItem{}
	for i, it := range r.patterns {
		np, ok := l.normLiteral(r, it, "pattern")
		if !ok {
			continue
		}
		if prev, dup := seen[np]; dup {
			bad(pos{it.line, it.col}, "pattern %q repeats %q (line %d) once normalised", it.val, prev.val, prev.line)
			continue
		}
		seen[np] = it
		c.pats = append(c.pats, patEntry{norm: np, pat: int32(i)})
	}
	nCanon := len(c.pats)
	// Spellings: more entries for the same patterns. A spelling that is
	// another pattern of the rule is left to that pattern.
	if r.Type == TypeTerms && c.Scope == ScopeText {
		n := len(c.pats)
		for _, p := range c.pats[:n] {
			for _, v := range lex().expandSpellings(p.norm, maxSpellings) {
				if _, dup := seen[v]; dup {
					continue
				}
				seen[v] = srcItem{val: v}
				c.pats = append(c.pats, patEntry{norm: v, pat: p.pat, spelling: true})
			}
		}
	}
	for _, x := range r.needs {
		ce, err := compileContext(x.Exception, int32(len(c.needNotes)))
		if err != nil {
			bad(pos{x.re.line, x.re.col}, "needs: %v", err)
			continue
		}
		note := "/" + x.re.val + "/"
		if n := strings.TrimSpace(x.Note); n != "" {
			note += "（" + n + "）"
		}
		c.needs = append(c.needs, ce)
		c.needNotes = append(c.needNotes, note)
	}
	c.excFor = make([][]excRef, len(c.pats))
	c.excs = make([]excMeta, len(r.exceptions))
	c.normEx = make([]string, len(r.exceptions))
	for ei, x := range r.exceptions {
		meta := excMeta{label: x.Text, note: strings.TrimSpace(x.Note), refer: -1}
		if x.Text == "" {
			meta.label = "/" + x.re.val + "/"
		}
		c.excs[ei] = meta
		if x.Text == "" {
			// A context exception.
			if r.Type != TypeTerms && r.Type != TypeRegex {
				continue
			}
			ce, err := compileContext(x.Exception, int32(ei))
			if err != nil {
				bad(pos{x.re.line, x.re.col}, "exception: %v", err)
				continue
			}
			if len(x.forItems) > 0 {
				if r.Type != TypeTerms {
					bad(pos{x.forItems[0].line, x.forItems[0].col}, "exception: for needs a terms rule")
					continue
				}
				ce.pats = make([]bool, len(r.patterns))
				for _, it := range x.forItems {
					k := slices.Index(r.Patterns, it.val)
					if k < 0 {
						bad(pos{it.line, it.col}, "exception: for names %q, which is not one of the rule's patterns", it.val)
						continue
					}
					ce.pats[k] = true
				}
			}
			c.ctx = append(c.ctx, ce)
			continue
		}
		ne, ok := l.normLiteral(r, x.re, "exception")
		if !ok {
			continue
		}
		c.normEx[ei] = ne
		if r.Type != TypeTerms {
			continue
		}
		used := false
		for pi, p := range c.pats[:nCanon] {
			for off := 0; off < len(ne); {
				k := strings.Index(ne[off:], p.norm)
				if k < 0 {
					break
				}
				c.excFor[pi] = append(c.excFor[pi], excRef{text: ne, at: off + k, ex: int32(ei)})
				used = true
				off += k + 1
			}
		}
		if !used && x.list == "" {
			bad(pos{x.re.line, x.re.col}, "exception %q contains none of the rule's patterns, so it can never apply", x.Text)
		}
	}
	// Spelling entries inherit the literal exceptions of their pattern,
	// with the spelling spliced in: 第一次 covers di一 as di一次.
	canon := map[int32]int{}
	for pi, p := range c.pats {
		if _, ok := canon[p.pat]; !ok {
			canon[p.pat] = pi
			continue
		}
		base := c.pats[canon[p.pat]]
		for _, x := range c.excFor[canon[p.pat]] {
			t := x.text[:x.at] + p.norm + x.text[x.at+len(base.norm):]
			c.excFor[pi] = append(c.excFor[pi], excRef{text: t, at: x.at, ex: x.ex})
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
	for _, it := range r.unless {
		re, err := regexp.Compile("(?i)" + it.val)
		if err != nil {
			bad(pos{it.line, it.col}, "bad regex %q: %v", it.val, err)
			continue
		}
		c.unless = append(c.unless, re)
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
	cr.span = matchSpan(src)
	cr.parts = partLits(src)
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
	if len(lit) == 0 || len(lit) == 1 && isASCIIAlnum(lit[0]) || Normalize(lit).Text != lit {
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

// ExampleResult is the outcome of one rule example.
type ExampleResult struct {
	Rule     string
	Example  Example
	Positive bool
	Matches  []string // what the rule matched (positive) or wrongly matched (negative)
	Problem  string   // empty when the example behaved
}

// RunExamples runs every rule's own examples against the rule set and
// returns one result per example, in rule order. A rule that its file
// switches off is judged for its own examples all the same.
func (rs *RuleSet) RunExamples() []ExampleResult {
	var out []ExampleResult
	for _, c := range rs.rules {
		for _, x := range c.Examples.Positive {
			out = append(out, rs.runExample(c, x, true))
		}
		for _, x := range c.Examples.Negative {
			out = append(out, rs.runExample(c, x, false))
		}
	}
	return out
}

func (rs *RuleSet) runExample(c *compiled, x Example, positive bool) ExampleResult {
	in := Input{URL: "example:" + c.ID, Kind: x.Kind, Category: x.Category, Text: x.Text, HTML: x.HTML}
	if in.Kind == "" && len(c.AppliesTo.Kinds) > 0 {
		in.Kind = c.AppliesTo.Kinds[0]
	}
	if in.Category == "" && len(c.AppliesTo.Categories) > 0 {
		in.Category = c.AppliesTo.Categories[0]
	}
	if x.Text != "" && len(c.Regions) > 0 && !c.where.has(shopwatch.RegionOther) {
		// A rule that does not judge other text (one meant for users'
		// comments) reads its examples as text of its first region.
		in.Regions = []shopwatch.TextRegion{{Region: c.Regions[0], Start: 0, End: len(x.Text)}}
	}
	res := ExampleResult{Rule: c.ID, Example: x, Positive: positive}
	found := false
	for _, f := range rs.check(in, c.idx, nil) {
		if f.Rule == c.ID {
			found = true
			res.Matches = append(res.Matches, f.Match)
		}
	}
	switch {
	case positive && !found:
		res.Problem = fmt.Sprintf("positive example %q raises no finding", x.Text)
	case positive && x.Match != "" && !slices.Contains(res.Matches, x.Match):
		res.Problem = fmt.Sprintf("positive example %q matches %q, want %q", x.Text, res.Matches, x.Match)
	case !positive && found:
		res.Problem = fmt.Sprintf("negative example %q raises a finding on %q", x.Text, res.Matches[0])
	}
	return res
}

// runExamples checks a rule against its own examples and records a problem
// at every example that does not behave.
func (l *loader) runExamples(rs *RuleSet, c *compiled, r *ruleSrc) {
	for _, x := range r.positive {
		if res := rs.runExample(c, x.Example, true); res.Problem != "" {
			l.problemAt(r.file, pos{x.line, x.col}, c.ID, "%s", res.Problem)
		}
	}
	for _, x := range r.negative {
		if res := rs.runExample(c, x.Example, false); res.Problem != "" {
			l.problemAt(r.file, pos{x.line, x.col}, c.ID, "%s", res.Problem)
		}
	}
}
