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
)

// Limits of markup reading: a page with more elements than this is read up
// to the limit; a label longer than labelRunes is cut.
const (
	maxElements = 4000
	labelRunes  = 200
)

// element is an image or a link of a page, as scope rules read it.
type element struct {
	scope Scope
	label string // normalised: alt, title and file name, or link text and title
	desc  string // how a finding describes it
	href  string // links: the target as written
	text  string // links: the text as shown
}

// Link is a link on a page whose label a links-scope rule recognises, such
// as a 证照信息 link to the shop's licence page.
type Link struct {
	Text string // the link text and title, as shown
	Href string // the target as written in the markup
	Rule string // the rule that recognised it
}

// readMarkup returns the images and links of markup.
func readMarkup(markup string) []element {
	var out []element
	z := html.NewTokenizer(strings.NewReader(markup))
	var link *element
	var linkText strings.Builder
	for len(out) < maxElements {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if link != nil {
				out = append(out, finishLink(link, &linkText))
			}
			return out
		case html.TextToken:
			if link != nil && linkText.Len() < 4*labelRunes {
				linkText.Write(z.Text())
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if link != nil && atom.Lookup(name) == atom.A {
				out = append(out, finishLink(link, &linkText))
				link = nil
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch atom.Lookup(name) {
			case atom.Img:
				var alt, title, src string
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					switch string(k) {
					case "alt":
						alt = string(v)
					case "title":
						title = string(v)
					case "src":
						if src == "" {
							src = string(v)
						}
					case "data-src", "data-original":
						src = string(v)
					}
				}
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
				out = append(out, element{scope: ScopeImages, label: normLabel(label), desc: cutRunes(desc, labelRunes)})
			case atom.A:
				if link != nil {
					out = append(out, finishLink(link, &linkText))
				}
				link = &element{scope: ScopeLinks}
				linkText.Reset()
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					switch string(k) {
					case "href":
						link.href = string(v)
					case "title":
						linkText.WriteString(string(v))
						linkText.WriteByte(' ')
					}
				}
			}
		}
	}
	return out
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
			if el.scope != c.Scope {
				continue
			}
			if pat, ok := c.matchLabel(el.label); ok {
				why := fmt.Sprintf("页面%s，其说明含规则用语“%s”。", el.desc, pat)
				f := c.finding(in, -1, -1, "", why)
				f.Snippet = el.desc
				out = append(out, f)
				if n++; n == MaxRepeats {
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
			if el.scope != ScopeLinks || el.href == "" {
				continue
			}
			if _, ok := c.matchLabel(el.label); ok {
				out = append(out, Link{Text: el.text, Href: el.href, Rule: c.ID})
			}
		}
	}
	return out
}
