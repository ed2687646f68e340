package crawler

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"

	"shopwatch"
)

// NeedsScript reports whether a page fetched on the static path shows its
// content only through JavaScript, so that the browser path should render
// it: an HTML page whose visible text is nearly empty, or small beside the
// scripts it carries, or whose application root (an element with id app,
// root, __next or __nuxt) is empty. A rendered page, a non-HTML page and
// a page without scripts never need it.
func NeedsScript(p *shopwatch.Page) bool {
	if p == nil || p.Rendered || p.HTML == "" {
		return false
	}
	scriptBytes, emptyRoot := scriptStats(p.HTML)
	if scriptBytes == 0 {
		return false
	}
	text := strings.TrimSpace(p.Text)
	runes := utf8.RuneCountInString(text)
	switch {
	case emptyRoot:
		return true
	case runes < 80:
		return true
	case runes < 400 && scriptBytes > 4*len(text):
		return true
	}
	return false
}

// appRoots are the ids single-page applications mount their content on.
var appRoots = map[string]bool{"app": true, "root": true, "__next": true, "__nuxt": true}

// scriptStats returns the bytes of inline and the count-weighted size of
// external scripts (1 KiB each) in markup, and whether an application root
// element is empty.
func scriptStats(markup string) (scriptBytes int, emptyRoot bool) {
	z := html.NewTokenizer(strings.NewReader(markup))
	inScript := false
	rootDepth, depth := -1, 0
	rootHasText := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return scriptBytes, emptyRoot
		case html.StartTagToken:
			name, hasAttr := z.TagName()
			if !voidElements[string(name)] {
				depth++
			}
			if string(name) == "script" {
				inScript = true
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "src" && len(v) > 0 {
						scriptBytes += 1 << 10
					}
				}
				continue
			}
			for hasAttr && rootDepth < 0 {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				if string(k) == "id" && appRoots[string(v)] {
					rootDepth, rootHasText = depth, false
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if voidElements[string(name)] {
				continue
			}
			if string(name) == "script" {
				inScript = false
			}
			if depth == rootDepth {
				if !rootHasText {
					emptyRoot = true
				}
				rootDepth = -1
			}
			depth--
		case html.TextToken:
			if inScript {
				scriptBytes += len(z.Raw())
			} else if rootDepth >= 0 && strings.TrimSpace(string(z.Raw())) != "" {
				rootHasText = true
			}
		}
	}
}
