package rules

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"shopwatch"
)

// Input is one page as the rules see it.
type Input struct {
	URL      string
	Kind     shopwatch.Kind
	Category string // product category: food, cosmetics … (case-insensitive)
	Text     string // visible text; what the rules read, and what Finding.Offset indexes
	HTML     string // decoded markup; read by rules whose scope is images or links
	// Regions mark the page regions of Text (shopwatch.Page.Regions); a
	// rule judges only text in the regions it applies to. Text outside
	// every span, and all of Text when Regions is empty, is
	// shopwatch.RegionOther.
	Regions []shopwatch.TextRegion
}

// MaxLocations is how many places one finding lists for the same matched
// text on one page. A rule reports the same text seen several times on a
// page as one finding whose Locations list where (the first one is its
// Offset); further occurrences are counted in its Reason: a page that
// repeats 最佳 in two hundred product tiles is one problem.
const MaxLocations = 20

// MaxText is the most text Check judges; a longer Text is judged on its
// first MaxText bytes (cut at a character boundary). Check's working memory
// is about nine bytes per byte of text.
const MaxText = 256 << 20

// maxPooledText is the largest normalised text whose buffers are kept for
// the next Check.
const maxPooledText = 4 << 20

// snippetRunes is how many characters of context a Snippet shows on each
// side of the match.
const snippetRunes = 20

// maxListedExceptions is how many of the exceptions considered a Reason names.
const maxListedExceptions = 6

// Context windows of context exceptions, in runes on each side of a match.
const (
	clauseRunes   = 32
	sentenceRunes = 80
)

type candKind uint8

const (
	candLiteral candKind = iota // a terms pattern entry
	candRegex                   // a regex match
	candLabel                   // a code rule label
	candAnchor                  // an anchor literal of a regex
)

// cand is a place in the normalised text that may become a finding.
type cand struct {
	rule       int32
	kind       candKind
	idx        int32 // pattern entry or expression index within the rule
	start, end int32 // in the normalised text
	from       int32 // the rule whose exception referred the match here, or -1
	ex         int32 // that exception's index in the rule it came from
}

// scratch is the per-call working memory of Check, pooled in the RuleSet.
type scratch struct {
	nb      normBuf
	ctx     [2]normBuf // the clause and sentence windows, for context exceptions
	hits    []acHit
	cands   []cand
	anchors []cand
	on      []bool // rule applies to this page
	sat     []bool // require rule satisfied
	fired   []bool // rule raised a finding (before yields_to and only_with)
	tr      *Trace // CheckTrace's record, nil for Check

	// Prefilters: where the literals required of expressions occur.
	reqs   []cand     // required literals of regular expressions, as anchors are kept
	seen   []bool     // per automaton literal: found on the page
	cxhits [2][]acHit // required literals of context exceptions in the clause and sentence window
	// ctxOf is the range of in.Text that ctx[level] and cxhits[level]
	// hold, when ctxSet[level]: candidates at the same place (one literal
	// of several rules) share their windows.
	ctxOf  [2][2]int
	ctxSet [2]bool
	cx     *automaton // RuleSet.cx

	scanBufs [3][]acHit // for scanSorted
	byExpr   []cand     // anchors or required literals grouped by expression
	exprN    []int32    // per expression: where its group starts in byExpr
}

type repeat struct {
	count int
	first int // index in the findings of the first occurrence
}

// Check judges one page against every rule that applies to its kind and
// product category and returns the findings, ordered by Offset (absences
// and findings about markup, at -1, first) and then by rule order. Each
// finding names the rule and its legal basis and explains itself in
// Reason: what matched, which exceptions were considered, what the
// severity means and which provision sets the penalty. Match is the exact
// original text matched and Offset its byte offset in in.Text. Check is
// safe for concurrent use and allocates little beyond the findings it
// returns; its cost is linear in the text length.
//
// Require rules are not judged on a page whose text is empty or white
// space only: there is nothing to judge, and absence on such a page says
// more about the fetch than about the shop.
func (rs *RuleSet) Check(in Input) []shopwatch.Finding {
	return rs.check(in, -1, nil)
}

// check is Check with rule force judged even when switched off, recording
// its steps in tr when tr is not nil.
func (rs *RuleSet) check(in Input, force int32, tr *Trace) []shopwatch.Finding {
	if len(in.Text) > MaxText {
		cut := MaxText
		for cut > 0 && !utf8.RuneStart(in.Text[cut]) {
			cut--
		}
		in.Text = in.Text[:cut]
	}
	sc := rs.pool.Get().(*scratch)
	defer func() {
		if cap(sc.nb.out) > maxPooledText {
			*sc = scratch{} // let a huge page's buffers go
		}
		sc.tr = nil
		rs.pool.Put(sc)
	}()
	sc.tr = tr
	sc.ctxSet = [2]bool{}
	n := len(rs.rules)
	sc.on = slices.Grow(sc.on[:0], n)[:n]
	sc.sat = slices.Grow(sc.sat[:0], n)[:n]
	sc.fired = slices.Grow(sc.fired[:0], n)[:n]
	some := false
	for i, c := range rs.rules {
		sc.on[i] = (!rs.off[i] || int32(i) == force) && c.Applies(in.Kind, in.Category)
		sc.sat[i] = false
		sc.fired[i] = false
		some = some || sc.on[i]
	}
	if tr != nil {
		tr.start(rs, sc, in, force)
	}
	if !some {
		return nil
	}
	sc.nb.run(in.Text)
	text := sc.nb.out
	if tr != nil {
		tr.normalised(&sc.nb, in.Text)
	}
	sc.hits = rs.ac.scanSorted(text, sc.hits[:0], &sc.scanBufs)
	sc.cands, sc.anchors, sc.reqs = sc.cands[:0], sc.anchors[:0], sc.reqs[:0]
	sc.cx = rs.cx
	sc.seen = slices.Grow(sc.seen[:0], len(rs.lits))[:len(rs.lits)]
	clear(sc.seen)
	for _, h := range sc.hits {
		sc.seen[h.pat] = true
		start := h.end - rs.ac.lens[h.pat]
		for _, ref := range rs.refs[h.pat] {
			if !sc.on[ref.rule] {
				continue
			}
			cd := cand{rule: ref.rule, idx: ref.idx, start: start, end: h.end, from: -1}
			if ref.req {
				cd.kind = candAnchor
				sc.reqs = append(sc.reqs, cd)
				continue
			}
			if ref.anchor {
				cd.kind = candAnchor
				sc.anchors = append(sc.anchors, cd)
				continue
			}
			switch rs.rules[ref.rule].Type {
			case TypeTerms:
				if rs.rules[ref.rule].Scope == ScopeText && wordBounded(text, int(start), int(h.end)) {
					cd.kind = candLiteral
					sc.cands = append(sc.cands, cd)
				} else if tr != nil && rs.rules[ref.rule].Scope == ScopeText {
					cd.kind = candLiteral
					tr.add(rs, sc, in, cd, OutcomePartWord, "")
				}
			case TypeRequire:
				if sc.inRegion(rs.rules[ref.rule], in, start) {
					sc.sat[ref.rule] = true
				}
			case TypeCode:
				cd.kind = candLabel
				sc.cands = append(sc.cands, cd)
			}
		}
	}
	rs.runRegexes(sc, in, text)
	if tr != nil {
		for _, cd := range sc.cands {
			tr.add(rs, sc, in, cd, OutcomeFinding, "")
		}
	}
	// Text without regions is all other: a rule that does not judge other
	// text (one meant for users' comments) finds nothing in it.
	rs.dropOutOfRegion(sc, in)
	rs.applyExceptions(sc, in)

	var out []shopwatch.Finding
	blank := len(text) == 0 || len(text) == 1 && (text[0] == ' ' || text[0] == '\n') // white space is collapsed
	for i, c := range rs.rules {
		if c.Type == TypeRequire && sc.on[i] && !sc.sat[i] && !blank && !c.unlessPage(text, sc.seen) {
			out = append(out, c.finding(in, -1, -1, "", fmt.Sprintf("页面文本中未见以下任一内容：%s。", c.looked)))
		}
	}
	if in.HTML != "" {
		out = rs.markupFindings(sc, in, out)
	}
	slices.SortFunc(sc.cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.rule, b.rule), cmp.Compare(a.start, b.start), cmp.Compare(b.end, a.end))
	})
	for i := 0; i < len(sc.cands); {
		j := i
		for j < len(sc.cands) && sc.cands[j].rule == sc.cands[i].rule {
			j++
		}
		c := rs.rules[sc.cands[i].rule]
		switch {
		case c.unlessPage(text, sc.seen):
			if tr != nil {
				tr.unless(c, sc.cands[i:j])
			}
		case c.Type == TypeCode:
			out = c.codeFindings(in, &sc.nb, sc.cands[i:j], out)
		default:
			out = rs.matchFindings(c, in, sc, sc.cands[i:j], out)
		}
		i = j
	}
	out = rs.deferFindings(in.Text, out, tr)
	// Rules that give way to others, or only speak with them.
	for _, f := range out {
		sc.fired[rs.byID[f.Rule]] = true
	}
	out = slices.DeleteFunc(out, func(f shopwatch.Finding) bool {
		c := rs.rules[rs.byID[f.Rule]]
		for _, j := range c.yields {
			if sc.fired[j] {
				if tr != nil {
					tr.drop(f, fmt.Sprintf("rule %s fired, and this rule yields to it (yields_to)", rs.rules[j].ID))
				}
				return true
			}
		}
		if len(c.only) == 0 {
			return false
		}
		for _, j := range c.only {
			if sc.fired[j] {
				return false
			}
		}
		if tr != nil {
			tr.drop(f, "none of the rules it speaks only with (only_with) fired")
		}
		return true
	})
	slices.SortStableFunc(out, func(a, b shopwatch.Finding) int { return cmp.Compare(a.Offset, b.Offset) })
	if tr != nil {
		tr.finish(out)
	}
	return out
}

// unlessPage reports whether one of the rule's unless expressions matches
// the page. An expression whose required literals (unlessLits) the page
// lacks (seen, per automaton literal) cannot match and is not run.
func (c *compiled) unlessPage(text []byte, seen []bool) bool {
	for i, re := range c.unless {
		if lits := c.unlessLits[i]; lits != nil && !noPrefilter && !slices.ContainsFunc(lits, func(id int32) bool { return seen[id] }) {
			continue
		}
		if re.Match(text) {
			return true
		}
	}
	return false
}

// runRegexes runs the expressions of regex and require rules: anchored ones
// in windows around their anchors, the others over the whole text. An
// expression with required literals runs only on text that holds one: not
// at all when the page lacks them, and only in the windows that hold one.
func (rs *RuleSet) runRegexes(sc *scratch, in Input, text []byte) {
	// Hits came in order of end offset (scanSorted), so anchors, of one
	// literal per expression, are in order of start; required literals
	// are in order of end (holdsLiteral).
	sc.anchors = rs.groupByExpr(sc, sc.anchors)
	sc.reqs = rs.groupByExpr(sc, sc.reqs)
	k := 0 // next anchor
	q := 0 // next required literal
	for ri, c := range rs.rules {
		if len(c.regs) == 0 || !sc.on[ri] {
			continue
		}
		for gi, cr := range c.regs {
			if c.Type == TypeRequire && sc.sat[ri] {
				break
			}
			// This expression's anchors.
			for k < len(sc.anchors) && (sc.anchors[k].rule < int32(ri) || sc.anchors[k].rule == int32(ri) && sc.anchors[k].idx < int32(gi)) {
				k++
			}
			a0 := k
			for k < len(sc.anchors) && sc.anchors[k].rule == int32(ri) && sc.anchors[k].idx == int32(gi) {
				k++
			}
			// And its required literals.
			for q < len(sc.reqs) && (sc.reqs[q].rule < int32(ri) || sc.reqs[q].rule == int32(ri) && sc.reqs[q].idx < int32(gi)) {
				q++
			}
			q0 := q
			for q < len(sc.reqs) && sc.reqs[q].rule == int32(ri) && sc.reqs[q].idx == int32(gi) {
				q++
			}
			reqs := sc.reqs[q0:q]
			if cr.hasReq && len(reqs) == 0 && !noPrefilter {
				continue // no match anywhere
			}
			emit := func(s, e int) bool {
				if c.Type == TypeRequire {
					if !sc.inRegion(c, in, int32(s)) {
						return true // look on
					}
					sc.sat[ri] = true
					return false
				}
				sc.cands = append(sc.cands, cand{rule: int32(ri), kind: candRegex, idx: int32(gi), start: int32(s), end: int32(e), from: -1})
				return true
			}
			if cr.anchor < 0 {
				if cr.hasReq && cr.span > 0 && !noPrefilter {
					searchAround(cr, text, reqs, emit)
				} else {
					searchAll(cr, text, 0, len(text), emit)
				}
				continue
			}
			// Merge overlapping windows, then search each.
			anchors := sc.anchors[a0:k]
			for w := 0; w < len(anchors); {
				from := runeStartBack(text, int(anchors[w].start)-cr.before)
				to := runeStartFwd(text, int(anchors[w].end)+cr.after)
				w++
				for w < len(anchors) && int(anchors[w].start)-cr.before <= to {
					to = runeStartFwd(text, int(anchors[w].end)+cr.after)
					w++
				}
				if cr.hasReq && !noPrefilter && !holdsLiteral(reqs, from, to) {
					continue
				}
				if !searchAll(cr, text, from, to, emit) {
					break
				}
			}
		}
	}
}

// inRegion reports whether the normalised text at byte s lies in a region
// rule c judges.
func (sc *scratch) inRegion(c *compiled, in Input, s int32) bool {
	if len(in.Regions) == 0 {
		return c.where.has(shopwatch.RegionOther)
	}
	return c.where.has(shopwatch.RegionAt(in.Regions, int(sc.nb.start[s])))
}

// dropOutOfRegion drops the candidates that lie outside the regions their
// rule judges.
func (rs *RuleSet) dropOutOfRegion(sc *scratch, in Input) {
	sc.cands = slices.DeleteFunc(sc.cands, func(cd cand) bool {
		if sc.inRegion(rs.rules[cd.rule], in, cd.start) {
			return false
		}
		if sc.tr != nil {
			sc.tr.set(cd, OutcomeRegion, "in region "+string(shopwatch.RegionAt(in.Regions, int(sc.nb.start[cd.start]))))
		}
		return true
	})
}

// searchAll reports every match of cr in text[from:to] until emit returns
// false; it returns false when emit did.
func searchAll(cr *compiledRegex, text []byte, from, to int, emit func(s, e int) bool) bool {
	for _, m := range cr.re.FindAllIndex(text[from:to], -1) {
		if !emit(from+m[0], from+m[1]) {
			return false
		}
	}
	return true
}

// searchAround reports the matches of cr, an expression with required
// literals and a span (matchSpan), in the windows of cr.span bytes either
// side of the required literals found, lits (sorted by end), until emit
// returns false. Overlapping windows are searched as one.
func searchAround(cr *compiledRegex, text []byte, lits []cand, emit func(s, e int) bool) bool {
	if cr.head != nil {
		return searchHeads(cr, text, lits, emit)
	}
	for w := 0; w < len(lits); {
		from := runeStartBack(text, int(lits[w].end)-cr.span)
		to := runeStartFwd(text, int(lits[w].start)+cr.span)
		w++
		for w < len(lits) && int(lits[w].end)-cr.span <= to {
			to = max(to, runeStartFwd(text, int(lits[w].start)+cr.span))
			w++
		}
		if !holdsParts(text[from:to], cr.parts) {
			continue
		}
		if !searchAll(cr, text, from, to, emit) {
			return false
		}
	}
	return true
}

// searchHeads reports the matches of cr, whose matches all start with one
// of its required literals (headRegex), trying its anchored form at each
// place where one of lits starts, in order, and going on after the end of
// each match, as a search of the whole text does. It sorts lits by start.
func searchHeads(cr *compiledRegex, text []byte, lits []cand, emit func(s, e int) bool) bool {
	slices.SortFunc(lits, func(a, b cand) int { return cmp.Compare(a.start, b.start) })
	next, tried := 0, -1
	for _, l := range lits {
		p := int(l.start)
		if p < next || p == tried {
			continue // inside the last match, or tried already (two literals start here)
		}
		tried = p
		w := text[p:runeStartFwd(text, p+cr.span)]
		if !holdsParts(w, cr.parts) {
			continue
		}
		m := cr.head.FindIndex(w)
		if m == nil {
			continue
		}
		if !emit(p, p+m[1]) {
			return false
		}
		next = p + m[1]
	}
	return true
}

// noPrefilter runs every expression as if no literals were required of it;
// tests set it to compare findings with and without the prefilters.
var noPrefilter bool

// groupByExpr orders the anchors or required literals cs by expression
// (rule, then expression within the rule), keeping the order within each
// expression: a counting sort, linear in len(cs). It returns the ordered
// slice and keeps cs's array for the next call's output.
func (rs *RuleSet) groupByExpr(sc *scratch, cs []cand) []cand {
	n := int(rs.regBase[len(rs.regBase)-1])
	sc.exprN = slices.Grow(sc.exprN[:0], n+1)[:n+1]
	clear(sc.exprN)
	for _, cd := range cs {
		sc.exprN[rs.regBase[cd.rule]+cd.idx+1]++
	}
	for i := 1; i <= n; i++ {
		sc.exprN[i] += sc.exprN[i-1]
	}
	out := slices.Grow(sc.byExpr[:0], len(cs))[:len(cs)]
	for _, cd := range cs {
		g := rs.regBase[cd.rule] + cd.idx
		out[sc.exprN[g]] = cd
		sc.exprN[g]++
	}
	sc.byExpr = cs[:0]
	return out
}

// holdsLiteral reports whether one of the literal occurrences lits,
// sorted by end, lies within [from, to).
func holdsLiteral(lits []cand, from, to int) bool {
	// A literal inside ends after from.
	i, _ := slices.BinarySearchFunc(lits, int32(from+1), func(c cand, e int32) int { return cmp.Compare(c.end, e) })
	for ; i < len(lits) && int(lits[i].end) <= to; i++ {
		if int(lits[i].start) >= from {
			return true
		}
	}
	return false
}

func runeStartBack(b []byte, i int) int {
	i = max(i, 0)
	for i > 0 && !utf8.RuneStart(b[i]) {
		i--
	}
	return i
}

func runeStartFwd(b []byte, i int) int {
	i = min(i, len(b))
	for i < len(b) && !utf8.RuneStart(b[i]) {
		i++
	}
	return i
}

// wordBounded reports whether text[s:e] does not cut an ASCII word: a
// literal that begins (ends) with an ASCII letter or digit must not follow
// (precede) one, so NO.1 does not match inside NO.12 or SKU ANO.1.
func wordBounded(text []byte, s, e int) bool {
	if isASCIIAlnum(text[s]) && s > 0 && isASCIIAlnum(text[s-1]) {
		return false
	}
	if isASCIIAlnum(text[e-1]) && e < len(text) && isASCIIAlnum(text[e]) {
		return false
	}
	return true
}

// applyExceptions decides every terms and regex candidate against its
// rule's exceptions: a covered candidate is dropped, or, when the covering
// exception refers it to another rule that judges this page, handed to
// that rule.
func (rs *RuleSet) applyExceptions(sc *scratch, in Input) {
	var cx context
	out := sc.cands[:0]
	for _, cd := range sc.cands {
		c := rs.rules[cd.rule]
		if cd.kind != candLiteral && cd.kind != candRegex {
			out = append(out, cd)
			continue
		}
		cx.reset(sc, in, cd)
		if need := c.unmetNeed(&cx); need >= 0 {
			if sc.tr != nil {
				sc.tr.set(cd, OutcomeNeeds, "its context lacks what the rule needs: "+c.needNotes[need])
			}
			continue
		}
		ex := c.coveredBy(&cx, cd, nil)
		if ex < 0 {
			out = append(out, cd)
			continue
		}
		to := c.excs[ex].refer
		if sc.tr != nil {
			sc.tr.exception(rs, c, cd, ex, to >= 0 && sc.on[to])
		}
		if to >= 0 && sc.on[to] {
			cd.from, cd.ex, cd.rule = cd.rule, ex, to
			out = append(out, cd)
		}
	}
	sc.cands = out
}

// context is the text around one candidate, computed on demand.
type context struct {
	sc       *scratch
	in       Input
	cd       cand
	done     [2]bool   // clause, sentence
	before   [2][]byte // in sc.ctx[level], valid until the next candidate's window
	after    [2][]byte
	whole    [2][]byte
	os, oe   int
	original bool
	ms, me   [2]int     // the match in the window, per level
	hits     [2][]acHit // the required literals of context exceptions in the window, per level
}

func (cx *context) reset(sc *scratch, in Input, cd cand) {
	*cx = context{sc: sc, in: in, cd: cd}
}

// get returns the text before the match, after it, and the whole window, of
// the clause (level 0) or sentence (level 1), normalised; the bytes are valid
// until the window of the next candidate is made.
func (cx *context) get(level int) (before, after, whole []byte) {
	if cx.done[level] {
		return cx.before[level], cx.after[level], cx.whole[level]
	}
	cx.done[level] = true
	if !cx.original {
		cx.os, cx.oe = cx.sc.nb.original(int(cx.cd.start), int(cx.cd.end))
		cx.original = true
	}
	text := cx.in.Text
	stop, limit := isClauseEnd, clauseRunes
	if level == 1 {
		stop, limit = isSentenceEnd, sentenceRunes
	}
	a := cx.os
	for i := 0; i < limit && a > 0; i++ {
		r, n := utf8.DecodeLastRuneInString(text[:a])
		if stop(r) {
			break
		}
		a -= n
	}
	b := cx.oe
	for i := 0; i < limit && b < len(text); i++ {
		r, n := utf8.DecodeRuneInString(text[b:])
		if stop(r) {
			break
		}
		b += n
	}
	nb := &cx.sc.ctx[level]
	fresh := !cx.sc.ctxSet[level] || cx.sc.ctxOf[level] != [2]int{a, b} || noCtxShare
	if fresh {
		nb.keepGaps = level == 1
		nb.run(text[a:b])
		cx.sc.ctxOf[level], cx.sc.ctxSet[level] = [2]int{a, b}, true
	}
	out := nb.out
	// The match in the normalised window: from the first byte whose source
	// starts at or after the match to the first one at or after its end.
	ms, me := len(out), len(out)
	for i := range out {
		if !utf8.RuneStart(out[i]) {
			continue
		}
		st := int(nb.start[i]) + a
		if ms == len(out) && st >= cx.os {
			ms = i
		}
		if st >= cx.oe {
			me = i
			break
		}
	}
	me = max(me, ms)
	cx.ms[level], cx.me[level] = ms, me
	if fresh {
		cx.sc.cxhits[level] = cx.sc.cx.scan(out, cx.sc.cxhits[level][:0])
	}
	cx.hits[level] = cx.sc.cxhits[level]
	cx.before[level], cx.after[level], cx.whole[level] = out[:ms], out[me:], out
	return cx.before[level], cx.after[level], cx.whole[level]
}

// noCtxShare makes every candidate build its own context windows; tests
// compare findings with and without sharing.
var noCtxShare bool

func isClauseEnd(r rune) bool {
	switch r {
	case '，', ',', '。', '！', '？', '!', '?', '；', ';', '\n', '\r', '|', '｜', '·', '•', '、', '【', '】', '/':
		return true
	}
	return false
}

func isSentenceEnd(r rune) bool {
	switch r {
	case '。', '！', '？', '!', '?', '；', ';', '\n', '\r':
		return true
	}
	return false
}

// unmetNeed returns the index of the first of the rule's needs the
// candidate's context does not meet, or -1 when it meets them all.
func (c *compiled) unmetNeed(cx *context) int {
	for i, ce := range c.needs {
		if !ce.matches(cx) {
			return i
		}
	}
	return -1
}

// matches reports whether ce's expression matches its part of the
// candidate's context: the clause (or sentence) before it, after it, or
// whole.
func (ce *ctxException) matches(cx *context) bool {
	level := 0
	if ce.kind == ctxSentence {
		level = 1
	}
	before, after, whole := cx.get(level)
	if ce.req != nil && !noPrefilter && !cx.holds(level, ce) {
		return false
	}
	switch ce.kind {
	case ctxBefore:
		return ce.re.Match(before)
	case ctxAfter:
		return ce.re.Match(after)
	default:
		return ce.re.Match(whole)
	}
}

// holds reports whether ce's part of the window at level holds one of the
// literals every match of ce holds; when it does not, ce cannot match.
func (cx *context) holds(level int, ce *ctxException) bool {
	lens := cx.sc.cx.lens
	for _, h := range cx.hits[level] {
		if _, ok := slices.BinarySearch(ce.lits, h.pat); !ok {
			continue
		}
		switch ce.kind {
		case ctxBefore:
			if int(h.end) <= cx.ms[level] {
				return true
			}
		case ctxAfter:
			if int(h.end-lens[h.pat]) >= cx.me[level] {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// coveredBy returns the index of the first exception that covers the
// candidate, or -1. It lists the exceptions it considered in checked when
// checked is not nil.
func (c *compiled) coveredBy(cx *context, cd cand, checked *[]string) int32 {
	text := cx.sc.nb.out
	s, e := int(cd.start), int(cd.end)
	note := func(ex int32) {
		if checked == nil {
			return
		}
		label, nt := c.excs[ex].label, c.excs[ex].note
		if slices.ContainsFunc(*checked, func(s string) bool { return isExceptionLabel(s, label, nt) }) {
			return
		}
		if nt != "" {
			label += "（" + nt + "）"
		}
		*checked = append(*checked, label)
	}
	pat := int32(-1)
	if cd.kind == candLiteral {
		pat = c.pats[cd.idx].pat
		for _, x := range c.excFor[cd.idx] {
			st := s - x.at
			if st >= 0 && st+len(x.text) <= len(text) && string(text[st:st+len(x.text)]) == x.text {
				return x.ex
			}
			note(x.ex)
		}
	} else {
		for i, x := range c.normEx {
			if x == "" {
				continue
			}
			if len(x) >= e-s {
				lo, hi := max(0, e-len(x)), min(len(text), s+len(x))
				for off := lo; off < hi; {
					k := bytes.Index(text[off:hi], []byte(x))
					if k < 0 {
						break
					}
					if st := off + k; st <= s && st+len(x) >= e {
						return int32(i)
					}
					off += k + 1
				}
			}
			note(int32(i))
		}
	}
	for _, ce := range c.ctx {
		if ce.pats != nil && (pat < 0 || !ce.pats[pat]) {
			continue
		}
		if ce.matches(cx) {
			return ce.ex
		}
		note(ce.ex)
	}
	return -1
}

// isExceptionLabel reports whether s is how a Reason names an exception
// with this label and note: label, or label（note）.
func isExceptionLabel(s, label, note string) bool {
	if note == "" {
		return s == label
	}
	rest, ok := strings.CutPrefix(s, label)
	if !ok {
		return false
	}
	rest, ok = strings.CutPrefix(rest, "（")
	if !ok {
		return false
	}
	rest, ok = strings.CutSuffix(rest, "）")
	return ok && rest == note
}

// matchFindings turns the candidates of one terms or regex rule, sorted by
// start and longest first, into findings: the longest match at the
// leftmost position wins and matches overlapping it are dropped, then
// repeats of the same text beyond MaxRepeats are counted instead of
// reported. Exceptions were applied before.
func (rs *RuleSet) matchFindings(c *compiled, in Input, sc *scratch, cands []cand, out []shopwatch.Finding) []shopwatch.Finding {
	nb := &sc.nb
	lastEnd := int32(-1)
	var reps map[string]*repeat
	var cx context
	for _, cd := range cands {
		if cd.start < lastEnd {
			if sc.tr != nil {
				sc.tr.set(cd, OutcomeOverlap, "a longer or earlier match of the same rule covers it")
			}
			continue
		}
		lastEnd = cd.end
		if reps == nil {
			reps = map[string]*repeat{}
		}
		os, oe := nb.original(int(cd.start), int(cd.end))
		match := in.Text[os:oe]
		// The same text again: one more location of the first finding.
		if rp := reps[match]; rp != nil {
			if sc.tr != nil {
				sc.tr.set(cd, OutcomeRepeat, "the same text matched earlier: one more location of that finding")
			}
			rp.count++
			if rp.count <= MaxLocations {
				f := &out[rp.first]
				if len(f.Locations) == 0 {
					f.Locations = append(f.Locations, shopwatch.Location{Offset: f.Offset, Region: f.Region, Snippet: f.Snippet})
				}
				f.Locations = append(f.Locations, shopwatch.Location{Offset: os, Region: regionOf(in, os), Snippet: snippet(in.Text, os, oe)})
			}
			continue
		}
		reps[match] = &repeat{count: 1, first: len(out)}
		src := c
		if cd.from >= 0 {
			src = rs.rules[cd.from]
		}
		var why strings.Builder
		if cd.kind == candLiteral {
			p := src.pats[cd.idx]
			pattern := src.Patterns[p.pat]
			if p.spelling {
				fmt.Fprintf(&why, "文本“%s”是规则用语“%s”的变体写法“%s”", match, pattern, p.norm)
			} else {
				fmt.Fprintf(&why, "文本“%s”命中规则用语“%s”", match, pattern)
			}
		} else {
			fmt.Fprintf(&why, "文本“%s”符合规则模式 /%s/", match, src.regs[cd.idx].src)
		}
		if cd.from >= 0 {
			x := src.excs[cd.ex]
			fmt.Fprintf(&why, "；按例外 %s", x.label)
			if x.note != "" {
				fmt.Fprintf(&why, "（%s）", x.note)
			}
			fmt.Fprintf(&why, "不作为“%s”（%s）处理，但其内容须有证明材料，转入本规则核实", src.Title.Zh, src.ID)
		} else {
			var checked []string
			cx.reset(sc, in, cd)
			c.coveredBy(&cx, cd, &checked)
			switch n := len(checked); {
			case n > maxListedExceptions:
				fmt.Fprintf(&why, "；已核对例外“%s”等 %d 项，均不覆盖此处", strings.Join(checked[:maxListedExceptions], "”“"), n)
			case n > 0:
				fmt.Fprintf(&why, "；已核对例外“%s”，均不覆盖此处", strings.Join(checked, "”“"))
			}
		}
		why.WriteString("。")
		out = append(out, c.finding(in, os, oe, match, why.String()))
	}
	for key, rp := range reps {
		switch {
		case rp.count > MaxLocations:
			out[rp.first].Reason += fmt.Sprintf("本页“%s”共出现 %d 处，仅列前 %d 处。", key, rp.count, MaxLocations)
		case rp.count > 1:
			out[rp.first].Reason += fmt.Sprintf("本页“%s”共出现 %d 处，均列于此。", key, rp.count)
		}
	}
	return out
}

// codeFindings looks after each label of a code rule for the code its
// validator describes, within the rule's window, and reports each code the
// validator rejects.
func (c *compiled) codeFindings(in Input, nb *normBuf, labels []cand, out []shopwatch.Finding) []shopwatch.Finding {
	text := nb.out
	var seen []int
	for _, lb := range labels {
		s, e, ok := c.valid.find(text, int(lb.end), c.Window)
		if !ok || slices.Contains(seen, s) {
			continue
		}
		seen = append(seen, s)
		code := strings.ToUpper(string(text[s:e]))
		problem := c.valid.check(code, text, int(lb.start))
		if problem == "" {
			continue
		}
		os, oe := nb.original(s, e)
		match := in.Text[os:oe]
		why := fmt.Sprintf("“%s”后的代码 %s %s。", c.Patterns[c.pats[lb.idx].pat], code, problem)
		out = append(out, c.finding(in, os, oe, match, why))
	}
	return out
}

// severityNote says what a severity means, for Reason.
var severityNote = map[shopwatch.Severity]string{
	shopwatch.SeverityViolation: "定性：违法——页面文本本身即显示违法事实。",
	shopwatch.SeverityReview:    "定性：待核实——是否合法取决于页面未展示的证明材料或事实，须核查后定性。",
	shopwatch.SeverityInfo:      "定性：提示——记录在案，供检查人员参考。",
}

// finding fills a finding of rule c. os and oe are the byte range of the
// match in in.Text, or -1 for an absence or a finding about markup.
func (c *compiled) finding(in Input, os, oe int, match, why string) shopwatch.Finding {
	f := shopwatch.Finding{
		Rule:     c.ID,
		Title:    c.Title.Zh,
		Category: c.Category,
		Law:      c.Law,
		Article:  c.citation(),
		Severity: c.Severity,
		Match:    match,
		Offset:   os,
		URL:      in.URL,
		Kind:     in.Kind,
	}
	if os >= 0 {
		f.Snippet = snippet(in.Text, os, oe)
		f.Region = regionOf(in, os)
	}
	var b strings.Builder
	if c.Reason != "" {
		b.WriteString(c.Reason)
		if !strings.HasSuffix(c.Reason, "。") {
			b.WriteString("。")
		}
	}
	b.WriteString(why)
	b.WriteString(severityNote[c.Severity])
	if c.Penalty != "" {
		b.WriteString("罚则：")
		b.WriteString(c.Penalty)
		b.WriteString("。")
	}
	f.Reason = b.String()
	return f
}

// regionOf returns the region of byte offset off of in.Text.
func regionOf(in Input, off int) shopwatch.Region {
	return shopwatch.RegionAt(in.Regions, off)
}

// original maps a normalised byte range back to the original text.
func (b *normBuf) original(s, e int) (int, int) {
	return int(b.start[s]), int(b.end[e-1])
}

// snippet returns text[s:e] with up to snippetRunes characters either side.
func snippet(text string, s, e int) string {
	a := s
	for i := 0; i < snippetRunes && a > 0; i++ {
		_, n := utf8.DecodeLastRuneInString(text[:a])
		a -= n
	}
	b := e
	for i := 0; i < snippetRunes && b < len(text); i++ {
		_, n := utf8.DecodeRuneInString(text[b:])
		b += n
	}
	return text[a:b]
}
