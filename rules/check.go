package rules

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"shopwatch"
	"shopwatch/rules/licence"
)

// Input is one page as the rules see it.
type Input struct {
	URL      string
	Kind     shopwatch.Kind
	Category string // product category: food, cosmetics … (case-insensitive)
	Text     string // visible text; what the rules read, and what Finding.Offset indexes
	HTML     string // decoded markup; not read by v1 rules
}

// MaxRepeats is how many findings one rule reports for the same matched
// text on one page. Further occurrences are counted in the last reported
// finding's Reason instead: a page that repeats 最佳 in two hundred product
// tiles is one problem, and three located examples prove it.
const MaxRepeats = 3

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

type candKind uint8

const (
	candLiteral candKind = iota // a terms pattern
	candRegex                   // a regex match
	candLabel                   // a uscc label
	candAnchor                  // an anchor literal of a regex
)

// cand is a place in the normalised text that may become a finding.
type cand struct {
	rule       int32
	kind       candKind
	idx        int32 // pattern or expression index within the rule
	start, end int32 // in the normalised text
}

// scratch is the per-call working memory of Check, pooled in the RuleSet.
type scratch struct {
	nb      normBuf
	hits    []acHit
	cands   []cand
	anchors []cand
	on      []bool // rule applies to this page
	sat     []bool // require rule satisfied
}

type repeat struct {
	count int
	last  int // index in the findings of the last reported occurrence
}

// Check judges one page against every rule that applies to its kind and
// product category and returns the findings, ordered by Offset (absences,
// at -1, first) and then by rule order. Each finding names the rule and its
// legal basis; Match is the exact original text matched and Offset its byte
// offset in in.Text. Check is safe for concurrent use and allocates little
// beyond the findings it returns; its cost is linear in the text length.
//
// Require rules are not judged on a page whose text is empty or white
// space only: there is nothing to judge, and absence on such a page says
// more about the fetch than about the shop.
func (rs *RuleSet) Check(in Input) []shopwatch.Finding {
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
		rs.pool.Put(sc)
	}()
	n := len(rs.rules)
	sc.on = slices.Grow(sc.on[:0], n)[:n]
	sc.sat = slices.Grow(sc.sat[:0], n)[:n]
	some := false
	for i, c := range rs.rules {
		sc.on[i] = c.Applies(in.Kind, in.Category)
		sc.sat[i] = false
		some = some || sc.on[i]
	}
	if !some {
		return nil
	}
	sc.nb.run(in.Text)
	text := sc.nb.out
	sc.hits = rs.ac.scan(text, sc.hits[:0])
	sc.cands, sc.anchors = sc.cands[:0], sc.anchors[:0]
	for _, h := range sc.hits {
		start := h.end - rs.ac.lens[h.pat]
		for _, ref := range rs.refs[h.pat] {
			if !sc.on[ref.rule] {
				continue
			}
			cd := cand{rule: ref.rule, idx: ref.idx, start: start, end: h.end}
			if ref.anchor {
				cd.kind = candAnchor
				sc.anchors = append(sc.anchors, cd)
				continue
			}
			switch rs.rules[ref.rule].Type {
			case TypeTerms:
				if wordBounded(text, int(start), int(h.end)) {
					cd.kind = candLiteral
					sc.cands = append(sc.cands, cd)
				}
			case TypeRequire:
				sc.sat[ref.rule] = true
			case TypeUSCC:
				cd.kind = candLabel
				sc.cands = append(sc.cands, cd)
			}
		}
	}
	rs.runRegexes(sc, text)

	var out []shopwatch.Finding
	blank := len(text) == 0 || len(text) == 1 && (text[0] == ' ' || text[0] == '\n') // white space is collapsed
	for i, c := range rs.rules {
		if c.Type == TypeRequire && sc.on[i] && !sc.sat[i] && !blank {
			out = append(out, c.finding(in, -1, -1, "", fmt.Sprintf("页面文本中未见以下任一内容：%s。", c.looked)))
		}
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
		if c.Type == TypeUSCC {
			out = c.usccFindings(in, &sc.nb, sc.cands[i:j], out)
		} else {
			out = c.matchFindings(in, &sc.nb, sc.cands[i:j], out)
		}
		i = j
	}
	slices.SortStableFunc(out, func(a, b shopwatch.Finding) int { return cmp.Compare(a.Offset, b.Offset) })
	return out
}

// runRegexes runs the expressions of regex and require rules: anchored ones
// in windows around their anchors, the others over the whole text.
func (rs *RuleSet) runRegexes(sc *scratch, text []byte) {
	slices.SortFunc(sc.anchors, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.rule, b.rule), cmp.Compare(a.idx, b.idx), cmp.Compare(a.start, b.start))
	})
	k := 0 // next anchor
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
			emit := func(s, e int) bool {
				if c.Type == TypeRequire {
					sc.sat[ri] = true
					return false
				}
				sc.cands = append(sc.cands, cand{rule: int32(ri), kind: candRegex, idx: int32(gi), start: int32(s), end: int32(e)})
				return true
			}
			if cr.anchor < 0 {
				searchAll(cr, text, 0, len(text), emit)
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
				if !searchAll(cr, text, from, to, emit) {
					break
				}
			}
		}
	}
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

// matchFindings turns the candidates of one terms or regex rule, sorted by
// start and longest first, into findings: candidates covered by an
// exception are dropped, then the longest match at the leftmost position
// wins and matches overlapping it are dropped, then repeats of the same
// text beyond MaxRepeats are counted instead of reported.
func (c *compiled) matchFindings(in Input, nb *normBuf, cands []cand, out []shopwatch.Finding) []shopwatch.Finding {
	text := nb.out
	lastEnd := int32(-1)
	var reps map[string]*repeat
	for _, cd := range cands {
		if cd.start < lastEnd {
			continue
		}
		var checked []string
		if c.covered(text, cd, &checked) {
			continue
		}
		lastEnd = cd.end
		if reps == nil {
			reps = map[string]*repeat{}
		}
		rp := reps[string(text[cd.start:cd.end])]
		if rp == nil {
			rp = &repeat{}
			reps[string(text[cd.start:cd.end])] = rp
		}
		rp.count++
		if rp.count > MaxRepeats {
			continue
		}
		rp.last = len(out)
		os, oe := nb.original(int(cd.start), int(cd.end))
		match := in.Text[os:oe]
		var why strings.Builder
		if cd.kind == candLiteral {
			fmt.Fprintf(&why, "文本“%s”命中规则用语“%s”", match, c.Patterns[cd.idx])
		} else {
			fmt.Fprintf(&why, "文本“%s”符合规则模式 /%s/", match, c.regs[cd.idx].src)
		}
		switch n := len(checked); {
		case n > maxListedExceptions:
			fmt.Fprintf(&why, "；已核对例外“%s”等 %d 项，均不覆盖此处", strings.Join(checked[:maxListedExceptions], "”“"), n)
		case n > 0:
			fmt.Fprintf(&why, "；已核对例外“%s”，均不覆盖此处", strings.Join(checked, "”“"))
		}
		why.WriteString("。")
		out = append(out, c.finding(in, os, oe, match, why.String()))
	}
	for key, rp := range reps {
		if rp.count > MaxRepeats {
			f := &out[rp.last]
			f.Reason += fmt.Sprintf("本页“%s”共出现 %d 处，仅列前 %d 处。", key, rp.count, MaxRepeats)
		}
	}
	return out
}

// covered reports whether an exception covers the candidate: the
// exception occurs in the text at a place that contains the whole match.
// It lists the exceptions it considered in checked.
func (c *compiled) covered(text []byte, cd cand, checked *[]string) bool {
	s, e := int(cd.start), int(cd.end)
	if cd.kind == candLiteral {
		for _, x := range c.excFor[cd.idx] {
			st := s - x.at
			if st >= 0 && st+len(x.text) <= len(text) && string(text[st:st+len(x.text)]) == x.text {
				return true
			}
			if !slices.Contains(*checked, x.orig) {
				*checked = append(*checked, x.orig)
			}
		}
		return false
	}
	for i, x := range c.normExc {
		if len(x) < e-s {
			continue
		}
		lo, hi := max(0, e-len(x)), min(len(text), s+len(x))
		for off := lo; off < hi; {
			k := bytes.Index(text[off:hi], []byte(x))
			if k < 0 {
				break
			}
			if st := off + k; st <= s && st+len(x) >= e {
				return true
			}
			off += k + 1
		}
		*checked = append(*checked, c.Exceptions[i])
	}
	return false
}

// usccFindings looks after each label of a uscc rule for the first run of
// exactly 18 ASCII letters and digits that starts within the rule's window,
// and reports each such code that fails licence.ValidateUSCC.
func (c *compiled) usccFindings(in Input, nb *normBuf, labels []cand, out []shopwatch.Finding) []shopwatch.Finding {
	text := nb.out
	var seen []int
	for _, lb := range labels {
		s, e, ok := codeAfter(text, int(lb.end), c.Window)
		if !ok || slices.Contains(seen, s) {
			continue
		}
		seen = append(seen, s)
		code := strings.ToUpper(string(text[s:e]))
		err := licence.ValidateUSCC(code)
		if err == nil {
			continue
		}
		os, oe := nb.original(s, e)
		match := in.Text[os:oe]
		why := fmt.Sprintf("“%s”后的代码 %s %s。", c.Patterns[lb.idx], code, usccProblem(code, err))
		out = append(out, c.finding(in, os, oe, match, why+c.Reason))
	}
	return out
}

// codeAfter finds the first run of exactly 18 ASCII letters and digits
// that starts within window runes after position i.
func codeAfter(text []byte, i, window int) (s, e int, ok bool) {
	for runes := 0; i < len(text) && runes < window; {
		if isASCIIAlnum(text[i]) {
			j := i
			for j < len(text) && isASCIIAlnum(text[j]) {
				j++
			}
			if j-i == 18 {
				return i, j, true
			}
			runes += j - i
			i = j
			continue
		}
		_, n := utf8.DecodeRune(text[i:])
		i += n
		runes++
	}
	return 0, 0, false
}

// usccProblem says in words what is wrong with a code.
func usccProblem(code string, err error) string {
	switch {
	case errors.Is(err, licence.ErrUSCCCheck):
		want, _ := licence.USCCCheckChar(code[:17])
		return fmt.Sprintf("未通过 GB 32100-2015 校验：第 18 位校验码应为 %c，页面所示为 %c", want, code[17])
	case errors.Is(err, licence.ErrUSCCChar):
		return "含 GB 32100-2015 代码字符集之外的字符（代码不使用 I、O、S、V、Z）"
	}
	return "无效：" + err.Error()
}

// finding fills a finding of rule c. os and oe are the byte range of the
// match in in.Text, or -1 for an absence.
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
	}
	if c.Reason != "" && c.Type != TypeUSCC {
		f.Reason = c.Reason
		if !strings.HasSuffix(f.Reason, "。") {
			f.Reason += "。"
		}
	}
	f.Reason += why
	return f
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
