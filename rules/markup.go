package rules

import (
	"fmt"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"shopwatch"
	"shopwatch/internal/region"
)

// Limits of markup reading: a page with more elements than this is read up
// to the limit; a label longer than labelRunes is cut.
const (
	maxElements = 4000
	labelRunes  = 200
	maxOpen     = 512 // open elements tracked for their region
)

// maxMarkupFindings is how many images or links one rule reports on a page.
const maxMarkupFindings = 3

// element is an image or a link of a page, as scope rules read it.
type element struct {
	scope Scope
	label string // normalised: alt, title and file name, or link text and title
	desc  string // how a finding describes it
	href  string // links: the target as written
	text  string // links: the text as shown
	where shopwatch.Region
}

// Link is a link on a page whose label a links-scope rule recognises, such
// as a 证照信息 link to the shop's licence page.
type Link struct {
	Text string // the link text and title, as shown
	Href string // the target as written in the markup
	Rule string // the rule that recognised it
}

// open is an element open while tokenising, with the region of its
// content.
type open struct {
	tag    atom.Atom
	region shopwatch.Region
	// An element whose content is editorial while its parent's is not
	// records from, the first of the elements read inside it, and product:
	// whether the product's price, description or specifications opened
	// inside it, in which case it is the product's and not editorial.
	editorial bool
	from      int
	product   bool
}

// readMarkup returns the images and links of markup, each with the page
// region it sits in. The region is read from the same signals as the
// crawler's text extractor (package shopwatch/internal/region) on a stack
// of open elements, except those read from a block's text (link density,
// name–value lines, headings). As there, an editorial element that holds
// the product's price, description or specifications is the product's, and
// a page without any of those has no editorial region.
func readMarkup(markup string) []element {
	var out []element
	z := html.NewTokenizer(strings.NewReader(markup))
	var link *element
	var linkText strings.Builder
	var stack []open
	var cl region.Classifier
	product := false // the page shows the product's price, description or specifications
	cur := func() shopwatch.Region {
		if len(stack) == 0 {
			return ""
		}
		return stack[len(stack)-1].region
	}
	// closeTo closes the open elements from stack[k] on.
	closeTo := func(k int) {
		for len(stack) > k {
			e := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !e.product {
				continue
			}
			if len(stack) > 0 {
				stack[len(stack)-1].product = true
			}
			if e.editorial {
				for i := e.from; i < len(out); i++ {
					if out[i].where == shopwatch.RegionEditorial {
						out[i].where = cur()
					}
				}
			}
		}
	}
	finish := func() []element {
		if link != nil {
			out = append(out, finishLink(link, &linkText))
			link = nil
		}
		closeTo(0)
		if !product {
			for i := range out {
				if out[i].where == shopwatch.RegionEditorial {
					out[i].where = ""
				}
			}
		}
		return out
	}
	for len(out) < maxElements {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return finish()
		case html.TextToken:
			if link != nil && linkText.Len() < 4*labelRunes {
				linkText.Write(z.Text())
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if link != nil && a == atom.A {
				out = append(out, finishLink(link, &linkText))
				link = nil
			}
			// Close up to the matching element, if it is open.
			for k := len(stack) - 1; k >= 0; k-- {
				if stack[k].tag == a {
					closeTo(k)
					break
				}
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			var at region.Attrs
			var img, href, alt, title string
			srcSet := false
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				key := string(k)
				switch {
				case region.Named(key):
					at.Set(key, string(v))
				case a == atom.Img && key == "alt":
					alt = string(v)
				case (a == atom.Img || a == atom.A) && key == "title":
					title = string(v)
				case a == atom.Img && key == "src":
					if !srcSet && img == "" {
						img = string(v)
					}
				case a == atom.Img && (key == "data-src" || key == "data-original"):
					img, srcSet = string(v), true
				case a == atom.A && key == "href":
					href = string(v)
				}
			}
			own, _ := cl.Classify(a, at)
			here := region.Inherit(cur(), own)
			if region.Product(here) {
				product = true
				if len(stack) > 0 {
					stack[len(stack)-1].product = true
				}
			}
			if tt == html.StartTagToken && !voidElement(a) && len(stack) < maxOpen {
				ed := here == shopwatch.RegionEditorial && cur() != shopwatch.RegionEditorial
				stack = append(stack, open{tag: a, region: here, editorial: ed, from: len(out)})
			}
			switch a {
			case atom.Img:
				src := img
				file := src
				if u, err := url.Parse(src); err == nil {
					file = path.Base(u.Path)
					if f, err := url.PathUnescape(file); err == nil {
						file = f
					}
				}
				label := strings.Join([]string{alt, title, file}, " ")
				desc := fmt.Sprintf("图片 %s", src)
				if alt != "" || title != "" {
					desc = fmt.Sprintf("图片 %s（说明“%s”）", src, strings.TrimSpace(alt+" "+title))
				}
				out = append(out, element{scope: ScopeImages, label: normLabel(label), desc: cutRunes(desc, labelRunes), where: here})
			case atom.A:
				if link != nil {
					out = append(out, finishLink(link, &linkText))
				}
				link = &element{scope: ScopeLinks, href: href, where: here}
				linkText.Reset()
				if title != "" {
					linkText.WriteString(title)
					linkText.WriteByte(' ')
				}
			}
		}
	}
	return finish()
}

// voidElement reports whether a has no end tag.
func voidElement(a atom.Atom) bool {
	switch a {
	case atom.Area, atom.Base, atom.Br, atom.Col, atom.Embed, atom.Hr, atom.Img, atom.Input,
		atom.Link, atom.Meta, atom.Source, atom.Track, atom.Wbr:
		return true
	}
	return false
}

func finishLink(e *element, text *strings.Builder) element {
	t := strings.Join(strings.Fields(text.String()), " ")
	e.label = normLabel(t)
	e.text = t
	e.desc = cutRunes(fmt.Sprintf("链接“%s”→ %s", t, e.href), labelRunes)
	return *e
}

func normLabel(s string) string {
	return Normalize(cutRunes(s, labelRunes)).Text
}

func cutRunes(s string, n int) string {
	i := 0
	for k := 0; k < n && i < len(s); k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// markupFindings judges the images and links of the page with the rules
// whose scope is images or links. Their findings have no place in the text
// (Offset -1, no Match); the Snippet describes the element.
func (rs *RuleSet) markupFindings(sc *scratch, in Input, out []shopwatch.Finding) []shopwatch.Finding {
	var elems []element
	read := false
	for i, c := range rs.rules {
		if !sc.on[i] || c.Scope == ScopeText || c.Scope == "" {
			continue
		}
		if !read {
			elems, read = readMarkup(in.HTML), true
		}
		n := 0
		for _, el := range elems {
			if el.scope != c.Scope || !c.where.has(el.where) {
				continue
			}
			if pat, ok := c.matchLabel(el.label); ok {
				why := fmt.Sprintf("页面%s，其说明含规则用语“%s”。", el.desc, pat)
				f := c.finding(in, -1, -1, "", why)
				f.Snippet = el.desc
				f.Region = el.where
				if f.Region == "" {
					f.Region = shopwatch.RegionOther
				}
				out = append(out, f)
				if n++; n == maxMarkupFindings {
					break
				}
			}
		}
	}
	return out
}

// matchLabel reports whether a normalised label holds one of the rule's
// patterns outside its literal exceptions, and which.
func (c *compiled) matchLabel(label string) (string, bool) {
	for i, p := range c.pats {
		k := strings.Index(label, p.norm)
		if k < 0 {
			continue
		}
		covered := false
		for _, x := range c.excFor[i] {
			st := k - x.at
			if st >= 0 && strings.HasPrefix(label[st:], x.text) {
				covered = true
				break
			}
		}
		if !covered {
			return c.Patterns[p.pat], true
		}
	}
	return "", false
}

// FollowLinks returns the links of in.HTML that a links-scope rule judging
// this page recognises: licence pages behind a 证照信息 or 营业执照 link.
// A caller that fetches them can check their text with Check (kind
// storefront) to verify the licence shown there. It reads the markup only;
// in.Text is not used.
func (rs *RuleSet) FollowLinks(in Input) []Link {
	var out []Link
	var elems []element
	read := false
	for i, c := range rs.rules {
		if rs.off[i] || c.Scope != ScopeLinks || !c.Applies(in.Kind, in.Category) {
			continue
		}
		if !read {
			elems, read = readMarkup(in.HTML), true
		}
		for _, el := range elems {
			if el.scope != ScopeLinks || el.href == "" || !c.where.has(el.where) {
				continue
			}
			if _, ok := c.matchLabel(el.label); ok {
				out = append(out, Link{Text: el.text, Href: el.href, Rule: c.ID})
			}
		}
	}
	return out
}
