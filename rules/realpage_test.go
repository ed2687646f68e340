package rules

import (
	"html"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"shopwatch/internal/testparts"
)

var (
	reHidden = regexp.MustCompile(`(?is)<script\b.*?</script>|<style\b.*?</style>|<!--.*?-->`)
	reTag    = regexp.MustCompile(`(?s)<[^>]*>`)
)

// crudeText strips markup well enough to feed the rules real page text.
// Proper extraction belongs to the crawler.
func crudeText(markup string) string {
	return html.UnescapeString(reTag.ReplaceAllString(reHidden.ReplaceAllString(markup, "\n"), "\n"))
}

// Check does not panic on real pages and every offset it returns points at
// its match, whether it reads crudely extracted text or raw markup. (The
// UTF-8 pages only: decoding tmall.html's GB18030 is the crawler's job.)
func TestRealPages(t *testing.T) {
	for _, name := range []string{"taobao.html", "zhanqi.html"} {
		t.Run(name, func(t *testing.T) { checkRealPage(t, name) })
	}
}

func checkRealPage(t *testing.T, name string) {
	path := filepath.Join(testparts.RealPagesDir(t), name)
	raw, err := os.ReadFile(path)
	if err != nil {
		testparts.Unavailable(t, "real page fixture "+path, err)
	}
	rs := builtin(t)
	for _, text := range []string{crudeText(string(raw)), string(raw)} {
		for _, cat := range categories {
			for _, kind := range kinds {
				in := Input{URL: "https://item.taobao.com/item.htm", Kind: kind, Category: cat, Text: text, HTML: string(raw)}
				fs := check(t, rs, in)
				for _, f := range fs {
					if f.Offset >= 0 && (f.Offset > len(text) || text[f.Offset:f.Offset+len(f.Match)] != f.Match) {
						t.Fatalf("%s: bad offset %d for %q", f.Rule, f.Offset, f.Match)
					}
				}
			}
		}
	}
	for _, f := range rs.Check(Input{Kind: "storefront", Category: "food", Text: crudeText(string(raw))}) {
		t.Logf("%s %q at %d: %q", f.Rule, f.Match, f.Offset, f.Snippet)
	}
}
