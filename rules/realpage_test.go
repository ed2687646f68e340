package rules

import (
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"shopwatch"
	"shopwatch/crawler"
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
	// Every category (as a product page) and every kind (with no
	// category): each rule that can judge the page judges it at least once.
	type judged struct {
		kind shopwatch.Kind
		cat  string
	}
	var runs []judged
	for _, cat := range categories {
		runs = append(runs, judged{shopwatch.KindProduct, cat})
	}
	for _, kind := range kinds {
		runs = append(runs, judged{kind, ""})
	}
	if raceEnabled {
		// Offsets do not depend on the category; concurrency is
		// TestCheckConcurrent's.
		runs = []judged{{shopwatch.KindProduct, "food"}, {shopwatch.KindStorefront, ""}}
	}
	for _, text := range []string{crudeText(string(raw)), string(raw)} {
		for _, j := range runs {
			in := Input{URL: "https://item.taobao.com/item.htm", Kind: j.kind, Category: j.cat, Text: text, HTML: string(raw)}
			fs := check(t, rs, in)
			for _, f := range fs {
				if f.Offset >= 0 && (f.Offset > len(text) || text[f.Offset:f.Offset+len(f.Match)] != f.Match) {
					t.Fatalf("%s: bad offset %d for %q", f.Rule, f.Offset, f.Match)
				}
			}
		}
	}
	for _, f := range rs.Check(Input{Kind: "storefront", Category: "food", Text: crudeText(string(raw))}) {
		t.Logf("%s %q at %d: %q", f.Rule, f.Match, f.Offset, f.Snippet)
	}
}

// extractRealPage reads a saved real page the way a sweep does: decoded,
// its text and regions extracted by the crawler.
func extractRealPage(t testing.TB, name string) Input {
	t.Helper()
	path := filepath.Join(testparts.RealPagesDir(t), name)
	raw, err := os.ReadFile(path)
	if err != nil {
		testparts.Unavailable(t, "real page fixture "+path, err)
	}
	h, _, _, _, err := crawler.DecodeHTML(raw, "text/html")
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	_, text, _, regions := crawler.ExtractRegions(h)
	return Input{URL: "https://example.com/" + name, Text: text, HTML: h, Regions: regions}
}

// On the game livestream page, a game-interface label (已达到最高等级, in
// the host's level panel) and a news headline about a third party's award
// (玩家票选最佳新作, in two news lists) are not the seller's advertising:
// no finding. Without regions they were three violations.
func TestRealPageZhanqiRegions(t *testing.T) {
	rs := builtin(t)
	in := extractRealPage(t, "zhanqi.html")
	for _, s := range []string{"已达到最高等级", "玩家票选最佳新作"} {
		for off := 0; ; {
			i := strings.Index(in.Text[off:], s)
			if i < 0 {
				break
			}
			if r := shopwatch.RegionAt(in.Regions, off+i); r != shopwatch.RegionNavigation {
				t.Errorf("%q at %d is in %s, want navigation", s, off+i, r)
			}
			off += i + len(s)
		}
	}
	for _, kind := range kinds {
		in.Kind, in.Category = kind, DetectCategory("", in.Text, in.HTML)
		fs := check(t, rs, in)
		for _, f := range fs {
			if f.Category != "licence" {
				t.Errorf("%s: unexpected finding %s %q in %s: %q", kind, f.Rule, f.Match, f.Region, f.Snippet)
			}
		}
		// What it still finds: a game site shows no business licence.
		if kind == shopwatch.KindStorefront && len(findingsOf(fs, "licence.business-info-missing")) != 1 {
			t.Errorf("storefront: got %v, want licence.business-info-missing", hits(fs))
		}
	}
	// Without regions the same text gives the old false findings, so the
	// regions are what removes them.
	in.Kind, in.Regions = shopwatch.KindLivestream, nil
	fs := findingsOf(check(t, rs, in), "ad.absolute-term")
	var matches []string
	for _, f := range fs {
		matches = append(matches, f.Match)
	}
	if len(fs) != 2 || !strings.Contains(strings.Join(matches, ","), "最佳") || !strings.Contains(strings.Join(matches, ","), "最高") {
		t.Errorf("without regions: got %v, want 最佳 (twice, one finding) and 最高", hits(fs))
	}
}

// The marketplace product pages keep their findings: none of the
// advertising rules fire on them (both are plain listings), and as
// storefronts they lack the licence text.
func TestRealPageMarketplacesRegions(t *testing.T) {
	rs := builtin(t)
	for _, name := range []string{"tmall.html", "taobao.html"} {
		in := extractRealPage(t, name)
		in.Category = DetectCategory("", in.Text, in.HTML)
		for _, kind := range kinds {
			in.Kind = kind
			withRegions := check(t, rs, in)
			plain := in
			plain.Regions = nil
			without := check(t, rs, plain)
			if len(withRegions) != len(without) {
				t.Errorf("%s %s: %v with regions, %v without", name, kind, hits(withRegions), hits(without))
			}
			if kind == shopwatch.KindStorefront {
				for _, rule := range []string{"licence.business-info-missing", "licence.icp-missing"} {
					if len(findingsOf(withRegions, rule)) != 1 {
						t.Errorf("%s storefront: no %s in %v", name, rule, hits(withRegions))
					}
				}
			}
		}
	}
}
