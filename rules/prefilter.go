package rules

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Prefilters: a regular expression runs only where it can match.
//
// requiredLiterals derives from an expression a set of literals such that
// every match of the expression contains at least one of them. Text that
// holds none of them cannot match, so the expression need not run on it.
// Finding the literals is cheap (one automaton scan finds all of them for
// every expression at once); running the expression is not.

// maxLitSet bounds the literals a part of an expression is known to
// match exactly (products of them grow fast); maxReqSet bounds a set of
// required literals, which alternations of lexicon lists make large and
// the automaton takes in its stride.
const (
	maxLitSet = 128
	maxReqSet = 8192
)

// preferLitSet is the size above which a smaller literal set is preferred.
const preferLitSet = 48

// litInfo is what is known about the strings a part of an expression
// matches: exactly the strings in exact (when exact is set), or strings that
// each contain one of req (when req is not nil), or nothing (any string).
type litInfo struct {
	exact   []string
	isExact bool
	req     []string
}

// requiredLiterals returns literals one of which every match of the
// expression src (compiled case-insensitively, as rules compile theirs)
// contains, or nil when it finds none. The literals are in the normal form
// text is matched in; literals with letters that have case variants are
// not used.
func requiredLiterals(src string) []string {
	re, err := syntax.Parse("(?i)"+src, syntax.Perl)
	if err != nil {
		return nil
	}
	info := litsOf(re.Simplify())
	set := info.req
	if info.isExact {
		set = info.exact
	}
	if len(set) == 0 || slices.Contains(set, "") {
		return nil
	}
	set = minimal(set)
	for _, s := range set {
		// Normalised text never holds a literal that normalisation would
		// change, so such a literal cannot be looked for.
		if Normalize(s).Text != s {
			return nil
		}
	}
	return set
}

// litRune returns the rune normalised text holds where an expression
// compiled case-insensitively matches r: r itself when it has no case
// variants, the lower-case form of an ASCII letter (normalised text is
// lower case), or -1 when normalised text never holds r (it is not in
// NFKC, or it is an upper-case ASCII letter whose lower case is matched
// too). ok is false for runes whose matches cannot be told by one literal:
// k and s, which also match the Kelvin sign and the long s.
func litRune(r rune) (f rune, ok bool) {
	switch {
	case !utf8.ValidRune(r) || r == utf8.RuneError:
		// An expression's U+FFFD also matches an invalid byte.
		return 0, false
	case 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z':
		l := r | 0x20
		if l == 'k' || l == 's' {
			return 0, false
		}
		return l, true
	case unicode.SimpleFold(r) != r:
		return 0, false
	case !neverOutput(r):
		return r, true
	}
	return -1, true
}

// neverOutput reports whether normalised text can never hold r: NFKC or
// the lexicon's folds change r, r is not the lower case of a character NFKC
// keeps, and no fold of the lexicon yields it.
func neverOutput(r rune) bool {
	s := string(r)
	lx := lex()
	_, folded := lx.fold[r]
	folded = folded || 0x4E00 <= r && r <= 0x9FFF && lx.cjkFold[r-0x4E00] != 0
	if norm.NFKC.String(s) == s && !folded {
		return false
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if fs := string(f); norm.NFKC.String(fs) == fs {
			return false
		}
	}
	for _, f := range lx.cjkFold {
		if f == r {
			return false
		}
	}
	for _, fs := range lx.fold {
		if slices.Contains(fs, r) {
			return false
		}
	}
	return true
}

func anyInfo() litInfo { return litInfo{} }

func exactInfo(set []string) litInfo {
	if len(set) > maxLitSet {
		return litInfo{req: reqOfExact(set)}
	}
	return litInfo{exact: set, isExact: true}
}

// reqOfExact turns an exact set too large to keep into a required one: the
// set itself when small enough, otherwise nothing.
func reqOfExact(set []string) []string {
	if len(set) > maxReqSet || slices.Contains(set, "") {
		return nil
	}
	return set
}

// asReq returns the required set of info, nil when there is none.
func (li litInfo) asReq() []string {
	if li.isExact {
		return reqOfExact(li.exact)
	}
	return li.req
}

func litsOf(re *syntax.Regexp) litInfo {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		// Nothing consumed: the empty string.
		return exactInfo([]string{""})
	case syntax.OpLiteral:
		rs := make([]rune, len(re.Rune))
		for i, r := range re.Rune {
			f, ok := litRune(r)
			if !ok {
				return anyInfo()
			}
			if f < 0 {
				return exactInfo(nil) // never in normalised text: never matches
			}
			rs[i] = f
		}
		return exactInfo([]string{string(rs)})
	case syntax.OpCharClass:
		n := 0
		for i := 0; i+1 < len(re.Rune); i += 2 {
			n += int(re.Rune[i+1]-re.Rune[i]) + 1
			if n > 64 {
				return anyInfo()
			}
		}
		if n == 0 {
			return anyInfo()
		}
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				f, ok := litRune(r)
				if !ok {
					return anyInfo()
				}
				if f >= 0 && !slices.Contains(set, string(f)) {
					set = append(set, string(f))
				}
			}
		}
		return exactInfo(set)
	case syntax.OpCapture:
		return litsOf(re.Sub[0])
	case syntax.OpQuest:
		sub := litsOf(re.Sub[0])
		if !sub.isExact {
			return anyInfo()
		}
		return exactInfo(union([]string{""}, sub.exact))
	case syntax.OpStar:
		return anyInfo()
	case syntax.OpPlus:
		return litInfo{req: litsOf(re.Sub[0]).asReq()}
	case syntax.OpRepeat:
		if re.Min == 0 {
			return anyInfo()
		}
		return litInfo{req: litsOf(re.Sub[0]).asReq()}
	case syntax.OpAlternate:
		infos := make([]litInfo, len(re.Sub))
		allExact := true
		for i, sub := range re.Sub {
			infos[i] = litsOf(sub)
			allExact = allExact && infos[i].isExact
		}
		if allExact {
			var exact []string
			for _, li := range infos {
				exact = union(exact, li.exact)
			}
			return exactInfo(exact)
		}
		var req []string
		for _, li := range infos {
			r := li.asReq()
			if r == nil {
				return anyInfo()
			}
			req = union(req, r)
		}
		if len(req) > maxReqSet {
			return anyInfo()
		}
		return litInfo{req: req}
	case syntax.OpConcat:
		// Runs of exact parts multiply out; every part's required set, and
		// every run's product, is required of the whole. Keep the best.
		var best []string
		consider := func(set []string) {
			if set == nil || len(set) > maxReqSet || slices.Contains(set, "") {
				return
			}
			if best == nil || litScore(set) > litScore(best) {
				best = set
			}
		}
		run := []string{""}
		allExact := true
		for _, s := range re.Sub {
			li := litsOf(s)
			if li.isExact {
				consider(li.exact)
				if p := product(run, li.exact); p != nil && (len(p) <= preferLitSet || len(run) == 1 && run[0] == "") {
					run = p
					continue
				}
				// Too many: the run so far is required; start again.
				consider(run)
				allExact = false
				run = li.exact
				continue
			}
			allExact = false
			consider(run)
			consider(li.asReq())
			run = []string{""}
		}
		if allExact {
			return exactInfo(run)
		}
		consider(run)
		return litInfo{req: best}
	}
	return anyInfo()
}

// litScore ranks required sets: the longer their shortest literal, the
// rarer; fewer literals break ties. Sets of more than preferLitSet
// literals come last, so that an alternation of parts stays small.
func litScore(set []string) int {
	m := len(set[0])
	for _, s := range set[1:] {
		m = min(m, len(s))
	}
	score := m*1000 - len(set)
	if len(set) > preferLitSet {
		score -= 1 << 20
	}
	return score
}

// product returns every a+b, or nil when that is more than maxLitSet.
func product(as, bs []string) []string {
	if len(as)*len(bs) > maxLitSet {
		return nil
	}
	out := make([]string, 0, len(as)*len(bs))
	have := make(map[string]bool, len(as)*len(bs))
	for _, a := range as {
		for _, b := range bs {
			if s := a + b; !have[s] {
				have[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	if len(a)+len(b) > 64 {
		have := make(map[string]bool, len(a)+len(b))
		for _, s := range a {
			have[s] = true
		}
		for _, s := range b {
			if !have[s] {
				have[s] = true
				out = append(out, s)
			}
		}
		return out
	}
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// minimal leaves out every literal that holds another literal of the set:
// text that holds it holds the other too.
func minimal(set []string) []string {
	if len(set) > 512 {
		return set // minimal is quadratic; a large set is left as it is
	}
	var out []string
	for i, s := range set {
		redundant := false
		for j, t := range set {
			if j != i && strings.Contains(s, t) && (len(t) < len(s) || j < i) {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, s)
		}
	}
	return out
}

// matchSpan returns the most bytes a match of the expression src (compiled
// case-insensitively) can hold, or -1 when that is unbounded or the
// expression has assertions (^ $ \b), whose meaning would change in a
// window. An expression with a span and required literals is searched only
// in the windows of span bytes either side of each required literal: every
// match holds one and so lies inside that literal's window, and windows
// that overlap are searched as one, so the search finds what a search of
// the whole text finds.
func matchSpan(src string) int {
	re, err := syntax.Parse("(?i)"+src, syntax.Perl)
	if err != nil {
		return -1
	}
	re = re.Simplify()
	if hasAssertion(re) {
		return -1
	}
	return maxLen(re)
}

// headRegex returns the expression src anchored at the start of the text
// when every match of src starts with one of the required literals req, or
// nil. A search for src then only tries the places where one of them
// starts: the leftmost of them where the anchored expression matches holds
// the leftmost match, and the anchored expression prefers the same match
// there as src does.
func headRegex(src string, req []string) *regexp.Regexp {
	re, err := syntax.Parse("(?i)"+src, syntax.Perl)
	if err != nil {
		return nil
	}
	heads := headLits(re.Simplify())
	if len(heads) == 0 {
		return nil
	}
	for _, h := range heads {
		if !slices.ContainsFunc(req, func(r string) bool { return strings.HasPrefix(h, r) }) {
			return nil
		}
	}
	head, err := regexp.Compile("(?i)^(?:" + src + ")")
	if err != nil {
		return nil
	}
	return head
}

// headLits returns literals one of which every match of re starts with
// (in normalised text), or nil when it finds none.
func headLits(re *syntax.Regexp) []string {
	if info := litsOf(re); info.isExact {
		if len(info.exact) == 0 || slices.Contains(info.exact, "") {
			return nil
		}
		return info.exact
	}
	switch re.Op {
	case syntax.OpCapture:
		return headLits(re.Sub[0])
	case syntax.OpConcat:
		if len(re.Sub) == 0 {
			return nil
		}
		return headLits(re.Sub[0])
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			h := headLits(sub)
			if h == nil {
				return nil
			}
			out = union(out, h)
		}
		return out
	}
	info := litsOf(re)
	if !info.isExact || len(info.exact) == 0 || slices.Contains(info.exact, "") {
		return nil
	}
	return info.exact
}

// maxPartSet bounds the literals of one set partLits keeps: each is looked
// for with bytes.Index. maxPartAlts bounds the alternatives it keeps.
const (
	maxPartSet  = 32
	maxPartAlts = 16
)

// partSet is a set of literals one of which a part of an expression
// always matches.
type partSet [][]byte

// partAlt is one alternative of an expression: a match of it holds a
// literal of each of its sets.
type partAlt []partSet

// partLits returns the required literal sets of the parts of the
// expression src, per top-level alternative: every match holds, for one of
// the alternatives, a literal of each of its sets. It returns nil when
// some alternative has no such set. Each set holds at most maxPartSet
// literals; an alternative's sets are sorted smallest first, as the
// cheapest to test.
func partLits(src string) []partAlt {
	re, err := syntax.Parse("(?i)"+src, syntax.Perl)
	if err != nil {
		return nil
	}
	alts := partsOf(re.Simplify())
	if len(alts) > maxPartAlts {
		return nil
	}
	// Alternatives that require the same set share it, so that
	// holdsParts tests it once.
	seen := map[string]partSet{}
	for _, alt := range alts {
		for i, set := range alt {
			key := string(bytes.Join(set, []byte{0}))
			if first, ok := seen[key]; ok {
				alt[i] = first
			} else {
				seen[key] = set
			}
		}
	}
	return alts
}

func partsOf(re *syntax.Regexp) []partAlt {
	switch re.Op {
	case syntax.OpCapture:
		return partsOf(re.Sub[0])
	case syntax.OpAlternate:
		var alts []partAlt
		for _, sub := range re.Sub {
			a := partsOf(sub)
			if a == nil {
				return nil
			}
			alts = append(alts, a...)
		}
		return alts
	}
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	var alt partAlt
	for _, sub := range subs {
		if set := partSetOf(sub); set != nil {
			alt = append(alt, set)
		}
	}
	if len(alt) == 0 {
		return nil
	}
	slices.SortStableFunc(alt, func(a, b partSet) int { return len(a) - len(b) })
	return []partAlt{alt}
}

// partSetOf returns the literals one of which every match of re holds, or
// nil when there are none or too many.
func partSetOf(re *syntax.Regexp) partSet {
	set := litsOf(re).asReq()
	if len(set) == 0 || len(set) > maxPartSet || slices.Contains(set, "") {
		return nil
	}
	var bs partSet
	for _, l := range minimal(set) {
		if Normalize(l).Text != l {
			return nil // normalised text never holds it: leave the set out
		}
		bs = append(bs, []byte(l))
	}
	return bs
}

// holdsParts reports whether w holds, for one of alts, a literal of each
// of its sets; with no alts it holds them trivially.
// A set that several alternatives share (partLits) is tested once.
func holdsParts(w []byte, alts []partAlt) bool {
	if len(alts) == 0 {
		return true
	}
	var memo partMemo
	for _, alt := range alts {
		if memo.holdsAll(w, alt) {
			return true
		}
	}
	return false
}

// partMemo remembers which sets a stretch of text holds, by the set's
// first literal (sets that are the same share their literals).
type partMemo struct {
	n    int
	sets [maxPartAlts]*byte
	held [maxPartAlts]bool
}

func (m *partMemo) holdsAll(w []byte, alt partAlt) bool {
	for _, set := range alt {
		if !m.holds(w, set) {
			return false
		}
	}
	return true
}

func (m *partMemo) holds(w []byte, set partSet) bool {
	id := &set[0][0]
	for i := range m.n {
		if m.sets[i] == id {
			return m.held[i]
		}
	}
	held := slices.ContainsFunc(set, func(l []byte) bool { return bytes.Contains(w, l) })
	if m.n < len(m.sets) {
		m.sets[m.n], m.held[m.n] = id, held
		m.n++
	}
	return held
}
