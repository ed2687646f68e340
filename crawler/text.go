package crawler

import (
	"slices"
	"strings"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"shopwatch"
	"shopwatch/internal/region"
)

// ExtractText parses HTML and returns its title, its visible text and the
// raw href of every link (<a href>, <area href>) in document order.
//
// Text leaves out what a reader never sees: the head, script, style,
// noscript, template, iframe and title elements, comments, and elements with
// the hidden attribute. Block elements (div, p, li, tr, h1 …) and <br> start
// a new line; runs of spaces, tabs and newlines collapse to one space; lines
// are trimmed and empty lines dropped. Text inside <pre> keeps its line
// breaks and inner spacing. Table cells are separated by a space. The
// content of a <textarea> is read as markup, because marketplaces keep
// lazily loaded page sections there (plain text reads the same either way).
// Malformed markup is repaired the way browsers repair it.
//
// Links are returned as written (only surrounding whitespace removed), so
// the caller resolves them; links inside <template> are left out.
func ExtractText(htmlText string) (title, text string, links []string) {
	ex := extract(htmlText)
	return ex.title, ex.text, ex.links
}

// ExtractRegions is ExtractText that also returns the page regions of the
// text (see [shopwatch.Page.Regions]), found in the same walk over the
// parsed page: the elements, ARIA roles, schema.org microdata and class and
// id words that name a region (package shopwatch/internal/region holds
// their tables), blocks whose text is mostly short links (navigation),
// lists and tables of name–value lines (品牌：… 产地：…) or under a
// specification heading (specs), blocks under a news heading (editorial),
// and the texts JSON-LD product data names (the product's name and
// description, the seller's name). Editorial regions are kept only beside
// the product: an editorial block that holds the product's price,
// description or specifications is not one, and a page without any of
// those (an article page) has none.
func ExtractRegions(htmlText string) (title, text string, links []string, regions []shopwatch.TextRegion) {
	ex := extract(htmlText)
	return ex.title, ex.text, ex.links, ex.regions
}

type extracted struct {
	title   string
	text    string
	links   []string
	base    string // href of the first <base href>, raw
	regions []shopwatch.TextRegion
}

// Bounds of JSON-LD reading: scripts read per page and bytes per script.
const (
	maxLDScripts = 8
	maxLDBytes   = 256 << 10
)

func extract(htmlText string) extracted {
	var ex extracted
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(htmlText))
	if err != nil {
		// The parser refuses markup nested deeper than it allows (512
		// open elements). Browsers still show such a page, so read it
		// with the excess nesting dropped rather than read nothing.
		doc, err = goquery.NewDocumentFromReader(strings.NewReader(flattenDeep(htmlText, maxNesting)))
		if err != nil {
			return ex
		}
	}
	w := newTextWriter()
	depth := 0
	var nav []shopwatch.TextRegion  // link-dense blocks
	var news []shopwatch.TextRegion // blocks under a news heading
	var ld []string                 // JSON-LD scripts
	var cl region.Classifier
	var walk func(n *html.Node, visible, inTemplate bool, reg shopwatch.Region)
	walk = func(n *html.Node, visible, inTemplate bool, reg shopwatch.Region) {
		switch n.Type {
		case html.TextNode:
			if visible {
				w.region = reg
				w.text(n.Data)
			}
			return
		case html.ElementNode:
		case html.DocumentNode:
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c, visible, inTemplate, reg)
			}
			return
		default: // comments, doctype
			return
		}

		a := n.DataAtom
		foreign := n.Namespace != "" // svg, math
		link := false
		if !foreign {
			switch a {
			case atom.A, atom.Area:
				if href, ok := attr(n, "href"); ok && !inTemplate {
					ex.links = append(ex.links, strings.TrimSpace(href))
					link = a == atom.A
				}
			case atom.Base:
				if href, ok := attr(n, "href"); ok && ex.base == "" && !inTemplate {
					ex.base = strings.TrimSpace(href)
				}
			case atom.Title:
				if ex.title == "" && !inTemplate {
					ex.title = collapseSpace(nodeText(n))
				}
			case atom.Script:
				if t, _ := attr(n, "type"); len(ld) < maxLDScripts && !inTemplate &&
					strings.Contains(strings.ToLower(t), "ld+json") {
					if s := nodeText(n); len(s) <= maxLDBytes {
						ld = append(ld, s)
					}
				}
			}
		}
		childVisible := visible && !hiddenElement(n)
		if a == atom.Template && !foreign {
			inTemplate = true
		}
		aside := false
		outer := reg
		if !foreign && (len(n.Attr) > 0 || elementRegion(a)) {
			var at region.Attrs
			for _, x := range n.Attr {
				if x.Namespace == "" {
					at.Set(x.Key, x.Val)
				}
			}
			var own shopwatch.Region
			own, aside = cl.Classify(a, at)
			reg = region.Inherit(reg, own)
		}
		if reg == shopwatch.RegionEditorial && outer != shopwatch.RegionEditorial {
			// An editorial block that holds the product is the product's.
			from := w.b.Len()
			defer func() { w.unlabelEditorial(from, outer) }()
		}
		block := !foreign && blockElements[a]
		if block {
			w.lineBreak()
		}
		if link {
			w.links++
			w.inLink++
			defer func() { w.inLink-- }()
		}
		// What the block holds, for its link density.
		start, chars, linkChars, links := w.b.Len(), w.chars, w.linkChars, w.links
		switch {
		case foreign:
		case a == atom.Br && visible:
			w.lineBreak()
		case (a == atom.Td || a == atom.Th) && visible:
			w.space()
		case a == atom.Textarea && childVisible:
			// Marketplaces park lazily loaded markup in hidden textareas
			// that scripts later insert into the page; read the content
			// as markup, which leaves plain text as it is.
			w.lineBreak()
			if depth < 3 {
				depth++
				for _, c := range parseFragment(nodeText(n)) {
					walk(c, true, inTemplate, reg)
				}
				depth--
			}
			w.lineBreak()
			return
		case (a == atom.Pre || a == atom.Listing) && childVisible:
			w.lineBreak()
			w.pre++
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c, childVisible, inTemplate, reg)
			}
			w.pre--
			w.lineBreak()
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, childVisible, inTemplate, reg)
		}
		if block {
			switch {
			case reg == shopwatch.RegionNavigation || reg == shopwatch.RegionComments:
			case region.LinkDense(w.links-links, w.linkChars-linkChars, w.chars-chars, aside):
				nav = append(nav, shopwatch.TextRegion{Region: shopwatch.RegionNavigation, Start: start, End: w.b.Len()})
			case reg == "" || reg == shopwatch.RegionOther || reg == shopwatch.RegionDescription:
				if w.b.Len() > start {
					switch w.content(a, start) {
					case shopwatch.RegionSpecs:
						w.relabelSpecs(start)
					case shopwatch.RegionEditorial:
						if reg != shopwatch.RegionDescription {
							news = append(news, shopwatch.TextRegion{Region: shopwatch.RegionEditorial, Start: start, End: w.b.Len()})
						}
					}
				}
			}
			w.lineBreak()
		}
	}
	for _, n := range doc.Nodes {
		walk(n, true, false, "")
	}
	ex.text = w.String()
	var claims []shopwatch.TextRegion
	if len(ld) > 0 {
		claims = ldRegions(ex.text, ld)
	}
	// News blocks that hold the product are the product's.
	news = slices.DeleteFunc(news, func(e shopwatch.TextRegion) bool { return w.product(e.Start, e.End) })
	// A page without the product's price, description or specifications
	// (an article page of a shop's own site) has no editorial region: its
	// articles are what the page advertises.
	if !w.product(0, len(ex.text)) && !slices.ContainsFunc(claims, func(c shopwatch.TextRegion) bool { return region.Product(c.Region) }) {
		w.spans = slices.DeleteFunc(w.spans, func(s shopwatch.TextRegion) bool { return s.Region == shopwatch.RegionEditorial })
		news = nil
	}
	ex.regions = region.Fill(w.spans, append(nav, news...))
	ex.regions = region.Fill(ex.regions, claims)
	return ex
}

// content returns the region the text a block element a wrote from byte
// start names by itself: specs for a list or table of name–value lines or
// a block under a specification heading followed by them, editorial for a
// block under a news heading, or "".
func (w *textWriter) content(a atom.Atom, start int) shopwatch.Region {
	text := w.b.String()[start:]
	text = strings.TrimLeft(text, "\n")
	list := false
	switch a {
	case atom.Table, atom.Tbody, atom.Dl, atom.Ul, atom.Ol:
		list = true
	}
	h := region.Heading(text)
	switch {
	case h == shopwatch.RegionEditorial:
		return h
	case (list || h == shopwatch.RegionSpecs) && region.SpecList(text, a == atom.Table || a == atom.Tbody || h == shopwatch.RegionSpecs):
		return shopwatch.RegionSpecs
	case a == atom.Dl && len(text) <= region.MaxSpecBytes && region.SpecList(pairLines(text), false):
		return shopwatch.RegionSpecs
	}
	return ""
}

// pairLines joins the lines of a description list two by two (dt, dd) as
// name：value lines.
func pairLines(text string) string {
	var b strings.Builder
	lines := strings.Split(text, "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		b.WriteString(lines[i])
		b.WriteString("：")
		b.WriteString(lines[i+1])
		b.WriteByte('\n')
	}
	return b.String()
}

// relabelSpecs marks the text written since byte start as specs, when the
// only regions marked in it are the description's (a specification list
// inside the description is specs, and so is a block under a specification
// heading around a list already marked; one holding a price or a seller
// block is left as it is).
func (w *textWriter) relabelSpecs(start int) {
	k := len(w.spans)
	for k > 0 && w.spans[k-1].End > start {
		if r := w.spans[k-1].Region; r != shopwatch.RegionDescription && r != shopwatch.RegionSpecs {
			return
		}
		k--
	}
	spans := w.spans[:k]
	if k < len(w.spans) && w.spans[k].Start < start {
		spans = append(spans, shopwatch.TextRegion{Region: w.spans[k].Region, Start: w.spans[k].Start, End: start})
	}
	w.spans = append(spans, shopwatch.TextRegion{Region: shopwatch.RegionSpecs, Start: start, End: w.b.Len()})
}

// unlabelEditorial gives the editorial text written since byte start back
// to the region outside the block (outer) when the block holds the
// product's price, description or specifications.
func (w *textWriter) unlabelEditorial(start int, outer shopwatch.Region) {
	if !w.product(start, w.b.Len()) {
		return
	}
	k := len(w.spans)
	for k > 0 && w.spans[k-1].End > start {
		k--
	}
	tail := slices.Clone(w.spans[k:])
	w.spans = w.spans[:k]
	for _, sp := range tail {
		if sp.Region != shopwatch.RegionEditorial {
			w.spans = append(w.spans, sp)
			continue
		}
		if sp.Start < start { // merged with editorial text before the block
			w.spans = append(w.spans, shopwatch.TextRegion{Region: sp.Region, Start: sp.Start, End: start})
			sp.Start = start
		}
		if outer != "" && outer != shopwatch.RegionOther {
			sp.Region = outer
			w.spans = append(w.spans, sp)
		}
	}
}

// product reports whether a span of the product's price, description or
// specifications overlaps bytes start to end.
func (w *textWriter) product(start, end int) bool {
	return slices.ContainsFunc(w.spans, func(s shopwatch.TextRegion) bool {
		return region.Product(s.Region) && s.Start < end && s.End > start
	})
}

// elementRegion reports whether element a names a region without
// attributes.
func elementRegion(a atom.Atom) bool {
	switch a {
	case atom.Nav, atom.Menu, atom.Footer, atom.H1, atom.Address, atom.Aside:
		return true
	}
	return false
}

// ldRegions marks where the texts that JSON-LD scripts name appear in text:
// the first occurrence of each, with its spacing collapsed as in text.
func ldRegions(text string, scripts []string) []shopwatch.TextRegion {
	var out []shopwatch.TextRegion
	for _, s := range scripts {
		for _, c := range region.LDClaims(s) {
			t := collapseSpace(c.Text)
			if len(t) < region.MinClaimBytes {
				continue
			}
			if i := strings.Index(text, t); i >= 0 {
				out = append(out, shopwatch.TextRegion{Region: c.Region, Start: i, End: i + len(t)})
			}
		}
	}
	return out
}

// parseFragment parses markup as the content of a <div>.
func parseFragment(s string) []*html.Node {
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(s), ctx)
	if err != nil {
		return nil
	}
	return nodes
}

// hiddenElement reports whether n and its subtree are never shown as text.
func hiddenElement(n *html.Node) bool {
	if n.Namespace == "svg" || n.Namespace == "math" {
		return n.DataAtom == atom.Title || n.DataAtom == atom.Style || n.DataAtom == atom.Script || n.DataAtom == atom.Desc
	}
	switch n.DataAtom {
	case atom.Head, atom.Script, atom.Style, atom.Noscript, atom.Template,
		atom.Iframe, atom.Title, atom.Noembed, atom.Noframes:
		return true
	}
	_, hidden := attr(n, "hidden")
	return hidden
}

// blockElements start and end a line of text.
var blockElements = map[atom.Atom]bool{
	atom.Address: true, atom.Article: true, atom.Aside: true, atom.Blockquote: true,
	atom.Body: true, atom.Caption: true, atom.Center: true, atom.Dd: true,
	atom.Details: true, atom.Dialog: true, atom.Dir: true, atom.Div: true,
	atom.Dl: true, atom.Dt: true, atom.Fieldset: true, atom.Figcaption: true,
	atom.Figure: true, atom.Footer: true, atom.Form: true, atom.H1: true,
	atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Header: true, atom.Hgroup: true, atom.Hr: true, atom.Html: true,
	atom.Legend: true, atom.Li: true, atom.Main: true, atom.Menu: true,
	atom.Nav: true, atom.Ol: true, atom.Option: true, atom.Optgroup: true,
	atom.P: true, atom.Section: true, atom.Summary: true, atom.Table: true,
	atom.Tbody: true, atom.Tfoot: true, atom.Thead: true, atom.Tr: true,
	atom.Ul: true, atom.Select: true,
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// nodeText concatenates the text nodes under n.
func nodeText(n *html.Node) string {
	var b strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return b.String()
}

func collapseSpace(s string) string {
	w := newTextWriter()
	w.text(s)
	return w.String()
}

// isSpace reports HTML's ASCII whitespace. It never matches a byte of a
// multi-byte UTF-8 sequence, so text can be scanned byte by byte.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

// textWriter builds text with collapsed spaces and one newline between
// lines, and marks the regions of what it writes.
type textWriter struct {
	b            strings.Builder
	pre          int  // inside elements that keep their whitespace
	lineStart    bool // nothing visible since the last line break
	pendingSpace bool
	pendingBreak bool

	region    shopwatch.Region       // of the text written next
	spans     []shopwatch.TextRegion // regions other than RegionOther
	chars     int                    // visible bytes written
	linkChars int                    // of which inside links
	links     int                    // links opened
	inLink    int                    // inside a link
}

// wrote records that text[s:e] was written in the current region.
func (w *textWriter) wrote(s, e int) {
	w.chars += e - s
	if w.inLink > 0 {
		w.linkChars += e - s
	}
	if w.region == "" || w.region == shopwatch.RegionOther {
		return
	}
	if k := len(w.spans) - 1; k >= 0 && w.spans[k].Region == w.region && s-w.spans[k].End <= 1 {
		w.spans[k].End = e // the same region, one separator apart
		return
	}
	w.spans = append(w.spans, shopwatch.TextRegion{Region: w.region, Start: s, End: e})
}

func newTextWriter() *textWriter { return &textWriter{lineStart: true} }

func (w *textWriter) String() string { return w.b.String() }

func (w *textWriter) lineBreak() {
	if w.b.Len() > 0 && !w.lineStart {
		w.pendingBreak = true
	}
	w.lineStart = true
	w.pendingSpace = false
}

func (w *textWriter) space() {
	if !w.lineStart {
		w.pendingSpace = true
	}
}

// flush writes the separator owed before the next visible text.
func (w *textWriter) flush() {
	switch {
	case w.pendingBreak:
		w.b.WriteByte('\n')
	case w.pendingSpace:
		w.b.WriteByte(' ')
	}
	w.pendingBreak, w.pendingSpace, w.lineStart = false, false, false
}

func (w *textWriter) text(s string) {
	if w.pre > 0 {
		w.preText(s)
		return
	}
	for i := 0; i < len(s); {
		if isSpace(s[i]) {
			w.space()
			i++
			continue
		}
		j := i
		for j < len(s) && !isSpace(s[j]) {
			j++
		}
		w.flush()
		at := w.b.Len()
		w.b.WriteString(s[i:j])
		w.wrote(at, w.b.Len())
		i = j
	}
}

// preText writes s keeping its whitespace, lines included; blank lines
// inside it are still dropped and each line is trimmed of trailing spaces.
func (w *textWriter) preText(s string) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			w.lineBreak()
		}
		line = strings.TrimRight(line, " \t\r\f")
		if w.lineStart {
			line = strings.TrimLeft(line, " \t\r\f")
		}
		if line == "" {
			continue
		}
		w.flush()
		at := w.b.Len()
		w.b.WriteString(line)
		w.wrote(at, w.b.Len())
	}
}

// maxNesting is the element depth past which flattenDeep drops tags. It
// stays well below the parser's own limit, since the parser adds html,
// head and body and repairs markup by opening elements of its own.
const maxNesting = 256

// voidElements have no end tag and never nest anything.
var voidElements = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
	"input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true,
}

// flattenDeep returns htmlText with every start tag deeper than max open
// elements removed, together with its end tag; text, links (<a>) and
// shallower markup stay as they were, so the visible text and the links
// read the same.
func flattenDeep(htmlText string, max int) string {
	z := html.NewTokenizer(strings.NewReader(htmlText))
	var b strings.Builder
	b.Grow(len(htmlText))
	depth := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String()
		case html.StartTagToken:
			name, _ := z.TagName()
			if !voidElements[string(name)] {
				depth++
				if depth > max && string(name) != "a" {
					continue
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if !voidElements[string(name)] {
				depth--
				if depth >= max && string(name) != "a" {
					continue
				}
			}
		}
		b.Write(z.Raw())
	}
}
