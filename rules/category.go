package rules

import (
	"encoding/json"
	"slices"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Weights of the places a category word is found in.
const (
	weightCrumb = 10 // breadcrumbs and structured data
	weightTitle = 4  // the page title
	weightText  = 1  // the visible text, at most textCap times per word
	textCap     = 3
	minScore    = 2 // less than this decides nothing
)

// DetectCategory guesses the product category of a page (food, cosmetics …,
// the ids of configs/lexicon/categories.yaml) from its breadcrumbs and
// structured data (schema.org BreadcrumbList and category in JSON-LD), its
// title and its visible text, in that order of weight. Each occurrence of
// a category word scores for its category; where words overlap the longest
// counts (保健食品 is healthfood, not food). It returns "" when no category
// scores enough or two score the same. title, text and markup may each be
// empty; when title is empty the markup's <title> is used.
//
// A category configured on the target should win over a detected one: the
// detector reads what the page says about itself.
func DetectCategory(title, text, markup string) string {
	l := lex()
	score := map[string]int{}
	crumbs, docTitle := readCrumbs(markup)
	if title == "" {
		title = docTitle
	}
	for _, c := range crumbs {
		l.scoreCategories(Normalize(c).Text, weightCrumb, 0, score)
	}
	l.scoreCategories(Normalize(title).Text, weightTitle, 0, score)
	if len(text) > 64<<10 {
		text = text[:64<<10]
	}
	l.scoreCategories(Normalize(text).Text, weightText, textCap, score)
	best, bestScore, tie := "", 0, false
	for _, cw := range l.categories {
		s := score[cw.id]
		switch {
		case s > bestScore:
			best, bestScore, tie = cw.id, s, false
		case s == bestScore && s > 0:
			tie = true
		}
	}
	if bestScore < minScore || tie {
		return ""
	}
	return best
}

// scoreCategories adds weight to score for every category word in s,
// longest first where words overlap; limit > 0 bounds the count per word.
func (l *lexicon) scoreCategories(s string, weight, limit int, score map[string]int) {
	if s == "" {
		return
	}
	type hit struct {
		start, end int
		cat, word  string
	}
	var hits []hit
	for _, cw := range l.categories {
		for _, w := range cw.words {
			for off := 0; ; {
				k := strings.Index(s[off:], w)
				if k < 0 {
					break
				}
				hits = append(hits, hit{off + k, off + k + len(w), cw.id, w})
				off += k + len(w)
			}
		}
	}
	// Longest first, then leftmost: a word inside a longer word of another
	// category does not count.
	slices.SortFunc(hits, func(a, b hit) int { return a.start - b.start })
	slices.SortStableFunc(hits, func(a, b hit) int { return (b.end - b.start) - (a.end - a.start) })
	var taken [][2]int
	count := map[string]int{}
	for _, h := range hits {
		if slices.ContainsFunc(taken, func(t [2]int) bool { return h.start < t[1] && t[0] < h.end }) {
			continue
		}
		taken = append(taken, [2]int{h.start, h.end})
		if limit > 0 && count[h.word] >= limit {
			continue
		}
		count[h.word]++
		score[h.cat] += weight
	}
}

// readCrumbs returns the breadcrumb texts of markup — elements whose class,
// id or aria-label names a breadcrumb, and the names and categories in
// JSON-LD structured data — and the document title.
func readCrumbs(markup string) (crumbs []string, title string) {
	if markup == "" {
		return nil, ""
	}
	z := html.NewTokenizer(strings.NewReader(markup))
	depth := 0 // inside a breadcrumb element: its nesting depth
	var cur strings.Builder
	inTitle, inLD := false, false
	for n := 0; n < 1<<16; n++ {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return crumbs, title
		case html.TextToken:
			switch {
			case inTitle:
				title += string(z.Text())
			case inLD:
				crumbs = append(crumbs, ldNames(z.Text())...)
			case depth > 0:
				cur.Write(z.Text())
				cur.WriteByte(' ')
			}
		case html.StartTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			crumb, ld := false, false
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				lv := strings.ToLower(string(v))
				switch string(k) {
				case "class", "id", "aria-label":
					if strings.Contains(lv, "crumb") || strings.Contains(lv, "面包屑") {
						crumb = true
					}
				case "type":
					ld = lv == "application/ld+json"
				}
			}
			switch {
			case a == atom.Title:
				inTitle = true
			case a == atom.Script:
				inLD = ld
			case depth > 0:
				depth++
			case crumb:
				depth = 1
				cur.Reset()
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.Title:
				inTitle = false
			case atom.Script:
				inLD = false
			default:
				if depth > 0 {
					if depth--; depth == 0 {
						crumbs = append(crumbs, cur.String())
					}
				}
			}
		}
	}
	return crumbs, title
}

// ldNames returns the category values and breadcrumb item names of a
// JSON-LD script.
func ldNames(data []byte) []string {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return nil
	}
	var out []string
	var walk func(v any, inCrumbs bool, depth int)
	walk = func(v any, inCrumbs bool, depth int) {
		if depth > 8 {
			return
		}
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e, inCrumbs, depth+1)
			}
		case map[string]any:
			crumbs := inCrumbs || x["@type"] == "BreadcrumbList"
			for k, e := range x {
				switch s, ok := e.(string); {
				case ok && k == "category":
					out = append(out, s)
				case ok && k == "name" && inCrumbs:
					out = append(out, s)
				default:
					walk(e, crumbs, depth+1)
				}
			}
		}
	}
	walk(v, false, 0)
	return out
}

// Categories returns the ids of the known product categories (those of
// configs/lexicon/categories.yaml), sorted.
func Categories() []string {
	l := lex()
	out := make([]string, 0, len(l.categories))
	for _, cw := range l.categories {
		out = append(out, cw.id)
	}
	slices.Sort(out)
	return out
}

// CategoryNamed returns the category id a word of
// configs/lexicon/categories.yaml names (食品 is food, 化妆品 cosmetics,
// 保健食品 healthfood), compared after normalisation, or false when no
// category has the word.
func CategoryNamed(word string) (string, bool) {
	w := Normalize(strings.TrimSpace(word)).Text
	if w == "" {
		return "", false
	}
	for _, cw := range lex().categories {
		if slices.Contains(cw.words, w) {
			return cw.id, true
		}
	}
	return "", false
}

// Categories returns the product categories rs knows: the built-in ones
// (see Categories) and every category its rules name in applies_to,
// sorted.
func (rs *RuleSet) Categories() []string {
	return slices.Clone(rs.cats)
}

// PageCategory is the product category a page is judged under: the one
// configured for it when set, else the one DetectCategory reads off the
// page's title, text and markup. A sweep, scan and rules check of the same
// page judge it under the same category.
func PageCategory(configured, title, text, markup string) string {
	if c := normCategory(configured); c != "" {
		return c
	}
	return DetectCategory(title, text, markup)
}
