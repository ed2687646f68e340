package region

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"

	"shopwatch"
)

// Fill returns spans with the ranges of add laid into the text that no
// span covers yet: a region found by a stronger signal (an element's own
// markup) is never overwritten by a weaker one (link density, JSON-LD).
// spans must be sorted and not overlap; add may be in any order and
// overlap (where they do, the one listed first wins). Adjacent spans of
// the same region are merged. Its cost is O((n+m) log m).
func Fill(spans, add []shopwatch.TextRegion) []shopwatch.TextRegion {
	if len(add) == 0 {
		return spans
	}
	add = slices.Clone(add)
	slices.SortStableFunc(add, func(a, b shopwatch.TextRegion) int { return cmp.Compare(a.Start, b.Start) })
	// Make add non-overlapping: a range keeps only what earlier ones
	// (sorted by start) do not cover.
	u := add[:0]
	covered := 0
	for _, a := range add {
		a.Start = max(a.Start, covered)
		if a.Start >= a.End {
			continue
		}
		if k := len(u) - 1; k >= 0 && u[k].Region == a.Region && u[k].End == a.Start {
			u[k].End = a.End
		} else {
			u = append(u, a)
		}
		covered = a.End
	}
	out := make([]shopwatch.TextRegion, 0, len(spans)+len(u))
	put := func(r shopwatch.TextRegion) {
		if k := len(out) - 1; k >= 0 && out[k].Region == r.Region && out[k].End >= r.Start {
			out[k].End = max(out[k].End, r.End)
			return
		}
		out = append(out, r)
	}
	i := 0
	done := 0 // end of the text emitted so far
	for _, a := range u {
		for i < len(spans) && spans[i].End <= a.Start {
			put(spans[i])
			done = max(done, spans[i].End)
			i++
		}
		pos := max(a.Start, done)
		for pos < a.End {
			if i < len(spans) && spans[i].Start <= pos {
				put(spans[i])
				pos = max(pos, spans[i].End)
				i++
				continue
			}
			next := a.End
			if i < len(spans) && spans[i].Start < next {
				next = spans[i].Start
			}
			put(shopwatch.TextRegion{Region: a.Region, Start: pos, End: next})
			pos = next
		}
		done = max(done, pos)
	}
	for ; i < len(spans); i++ {
		put(spans[i])
	}
	return out
}

// MinClaimBytes is the shortest JSON-LD text marked on the page: shorter
// names (a two-character brand) would mark unrelated text.
const MinClaimBytes = 6

// Claim is a text that JSON-LD data says belongs to a region.
type Claim struct {
	Region shopwatch.Region
	Text   string
}

// maxLDDepth bounds how deep LDClaims looks into nested JSON-LD.
const maxLDDepth = 8

// LDClaims returns the texts a JSON-LD script names: of each schema.org
// Product, its name (title) and description, and the name of its seller
// or of any Organization or Store. A script that is not valid JSON names
// nothing.
func LDClaims(script string) []Claim {
	var v any
	if err := json.Unmarshal([]byte(script), &v); err != nil {
		return nil
	}
	var out []Claim
	var visit func(v any, depth int, seller bool)
	visit = func(v any, depth int, seller bool) {
		if depth > maxLDDepth {
			return
		}
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				visit(e, depth+1, seller)
			}
		case map[string]any:
			types := ldTypes(x["@type"])
			product := slices.Contains(types, "product")
			org := seller || slices.ContainsFunc(types, func(t string) bool { return itemtypes[t] == shopwatch.RegionSeller })
			name, _ := x["name"].(string)
			switch {
			case product:
				out = append(out, Claim{shopwatch.RegionTitle, name})
				if d, ok := x["description"].(string); ok {
					out = append(out, Claim{shopwatch.RegionDescription, d})
				}
			case org:
				out = append(out, Claim{shopwatch.RegionSeller, name})
			}
			for k, e := range x {
				switch k {
				case "@graph", "offers", "itemListElement", "mainEntity", "item":
					visit(e, depth+1, false)
				case "seller", "provider":
					visit(e, depth+1, true)
				}
			}
		}
	}
	visit(v, 0, false)
	return slices.DeleteFunc(out, func(c Claim) bool { return strings.TrimSpace(c.Text) == "" })
}

// ldTypes returns the @type of a JSON-LD node, lower case, without any
// vocabulary prefix.
func ldTypes(v any) []string {
	var out []string
	add := func(s string) {
		if i := strings.LastIndexAny(s, "/#:"); i >= 0 {
			s = s[i+1:]
		}
		out = append(out, strings.ToLower(s))
	}
	switch t := v.(type) {
	case string:
		add(t)
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok {
				add(s)
			}
		}
	}
	return out
}
