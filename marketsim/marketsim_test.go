package marketsim

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/simplifiedchinese"

	"shopwatch"
	"shopwatch/rules/licence"
)

// allPhrases is every violating phrase of the catalogue, keyed by its match.
var allPhrases = func() map[string]phrase {
	out := map[string]phrase{}
	for _, l := range [][]phrase{absolutePhrases, foodClaimPhrases, cosmeticsClaimPhrases} {
		for _, p := range l {
			out[p.match] = p
		}
	}
	return out
}()

// allLookalikes is every compliant look-alike.
var allLookalikes = func() []string {
	out := append([]string(nil), lookalikesGeneral...)
	for _, c := range categories {
		out = append(out, c.lookalikes...)
	}
	return out
}()

// riskyTokens must not appear on a page once its look-alikes and its expected
// violating phrases are taken out.
var riskyTokens = func() []string {
	out := []string{"最", "NO.1", "No.1", "ＮＯ", "第1"}
	for m := range allPhrases {
		out = append(out, m)
	}
	return out
}()

var (
	icpRe        = regexp.MustCompile(`[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼蜀黔滇陇]ICP备\d+号(-\d+)?`)
	usccRe       = regexp.MustCompile(`统一社会信用代码(?:</dt><dd>|</th><td>|：)([0-9A-Z]{18})<`)
	foodPermitRe = regexp.MustCompile(`食品经营许可证(?:</dt><dd>|</th><td>|：)JY\d{14}<`)
	hrefRe       = regexp.MustCompile(`href="([^"]*)"`)
)

func truthOf(t testing.TB, m *Market, base string) []PageTruth {
	t.Helper()
	var out []PageTruth
	if err := m.Truth(base, func(pt PageTruth) error { out = append(out, pt); return nil }); err != nil {
		t.Fatalf("Truth: %v", err)
	}
	return out
}

// serve runs the market on a loopback test server.
func serve(t testing.TB, m *Market) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv
}

func fetch(t testing.TB, c *http.Client, method, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, body
}

// render serves path in process and returns the response.
func render(t testing.TB, m *Market, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func decode(t testing.TB, raw []byte, cs string) string {
	t.Helper()
	if cs == CharsetUTF8 {
		if !utf8.Valid(raw) {
			t.Fatalf("utf-8 page holds invalid UTF-8")
		}
		return string(raw)
	}
	s, err := simplifiedchinese.GB18030.NewDecoder().Bytes(raw)
	if err != nil {
		t.Fatalf("decode gb18030: %v", err)
	}
	return string(s)
}

// checkPage checks one page's markup against its truth: every expected
// phrase is there exactly once, no other violating phrase is, nothing
// violating-looking is left once look-alikes are removed, and storefronts
// show exactly the licence facts their state says.
func checkPage(t testing.TB, pt PageTruth, page string, items int) {
	t.Helper()
	want := map[string]int{}
	for _, e := range pt.Expect {
		want[e.Rule+"|"+e.Match]++
	}
	if pt.Kind != shopwatch.KindStorefront {
		for match, ph := range allPhrases {
			if got, w := strings.Count(page, ph.text), want[ph.rule+"|"+match]; got != w {
				t.Errorf("%s: phrase %q appears %d times, truth expects %d (expect %v)", pt.URL, ph.text, got, w, pt.Expect)
			}
		}
	}
	clean := page
	for _, l := range allLookalikes {
		clean = strings.ReplaceAll(clean, l, "")
	}
	for _, e := range pt.Expect {
		if ph, ok := allPhrases[e.Match]; ok {
			clean = strings.ReplaceAll(clean, ph.text, "")
		}
	}
	for _, tok := range riskyTokens {
		if strings.Contains(clean, tok) {
			i := strings.Index(clean, tok)
			t.Errorf("%s: %q outside any expected phrase or look-alike: …%s…", pt.URL, tok, clean[max(0, i-60):min(len(clean), i+60)])
		}
	}
	if pt.Kind != shopwatch.KindStorefront {
		if strings.Contains(page, "营业执照") || strings.Contains(page, "统一社会信用代码") {
			t.Errorf("%s: licence block outside a storefront", pt.URL)
		}
		return
	}

	for _, e := range pt.Expect {
		if !strings.HasPrefix(e.Rule, "licence.") {
			t.Errorf("%s: storefront expects non-licence finding %v", pt.URL, e)
		}
	}
	hasBlock := strings.Contains(page, "营业执照信息")
	codes := usccRe.FindAllStringSubmatch(page, -1)
	hasICP := icpRe.MatchString(page)
	hasPermit := foodPermitRe.MatchString(page)
	switch pt.Licence {
	case "none":
		if hasBlock || strings.Contains(page, "营业执照") || strings.Contains(page, "统一社会信用代码") || hasICP || hasPermit {
			t.Errorf("%s: licence state none but block=%v icp=%v permit=%v", pt.URL, hasBlock, hasICP, hasPermit)
		}
	case "full", "bad-uscc", "no-food-permit":
		if !hasBlock || len(codes) != 1 || !hasICP {
			t.Fatalf("%s: licence state %s but block=%v codes=%d icp=%v", pt.URL, pt.Licence, hasBlock, len(codes), hasICP)
		}
		for _, f := range []string{"企业名称", "住所", "法定代表人"} {
			if !strings.Contains(page, f) {
				t.Errorf("%s: licence block lacks %s", pt.URL, f)
			}
		}
		err := licence.ValidateUSCC(codes[0][1])
		if pt.Licence == "bad-uscc" {
			if !errors.Is(err, licence.ErrUSCCCheck) {
				t.Errorf("%s: bad code %s: got %v, want ErrUSCCCheck", pt.URL, codes[0][1], err)
			}
			if len(pt.Expect) != 1 || pt.Expect[0].Match != codes[0][1] {
				t.Errorf("%s: expect %v, want the shown code %s", pt.URL, pt.Expect, codes[0][1])
			}
		} else if err != nil {
			t.Errorf("%s: code %s should be valid: %v", pt.URL, codes[0][1], err)
		}
		wantPermit := pt.Category == "food" && pt.Licence != "no-food-permit"
		if hasPermit != wantPermit || strings.Contains(page, "食品经营许可证") != wantPermit {
			t.Errorf("%s: %s shop, state %s: food permit shown %v, want %v", pt.URL, pt.Category, pt.Licence, hasPermit, wantPermit)
		}
	default:
		t.Errorf("%s: unknown licence state %q", pt.URL, pt.Licence)
	}

	// A storefront links to its products and nothing else.
	id := strconv.Itoa(pt.Shop)
	var links []string
	for _, m := range hrefRe.FindAllStringSubmatch(page, -1) {
		links = append(links, m[1])
	}
	if len(links) != items {
		t.Errorf("%s: %d links, want %d product links: %v", pt.URL, len(links), items, links)
	}
	for j, l := range links {
		if want := "/shop/" + id + "/item/" + strconv.Itoa(j+1); l != want {
			t.Errorf("%s: link %d is %q, want %q", pt.URL, j, l, want)
		}
	}
}

// itemsPerShop counts each shop's product pages in a truth listing.
func itemsPerShop(pts []PageTruth) map[int]int {
	out := map[int]int{}
	for _, pt := range pts {
		if pt.Kind == shopwatch.KindProduct {
			out[pt.Shop]++
		}
	}
	return out
}

func TestEveryTruthPageIsServedAndMatchesItsTruth(t *testing.T) {
	m := New(Config{Seed: 7, Shops: 250})
	srv := serve(t, m)
	c := srv.Client()

	pts := truthOf(t, m, srv.URL)
	if len(pts) != m.Pages() {
		t.Fatalf("Truth gave %d pages, Pages() = %d", len(pts), m.Pages())
	}
	items := itemsPerShop(pts)
	kinds := map[shopwatch.Kind]int{}
	for _, pt := range pts {
		kinds[pt.Kind]++
		resp, raw := fetch(t, c, http.MethodGet, pt.URL)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d: %s", pt.URL, resp.StatusCode, raw)
		}
		ct := resp.Header.Get("Content-Type")
		switch pt.Charset {
		case CharsetUTF8:
			if ct != "text/html; charset=utf-8" {
				t.Errorf("%s: Content-Type %q for a utf-8 page", pt.URL, ct)
			}
		case CharsetGBK:
			if ct != "text/html" {
				t.Errorf("%s: Content-Type %q for a gbk page, want no charset", pt.URL, ct)
			}
		default:
			t.Fatalf("%s: charset %q", pt.URL, pt.Charset)
		}
		checkPage(t, pt, decode(t, raw, pt.Charset), items[pt.Shop])
	}
	if kinds[shopwatch.KindStorefront] != 250 || kinds[shopwatch.KindProduct] < 2*250 || kinds[shopwatch.KindLivestream] == 0 {
		t.Errorf("page kinds %v", kinds)
	}
}

func TestCompliantPagesCarryNoViolatingPhrase(t *testing.T) {
	// In process, over more shops than the HTTP test.
	m := New(Config{Seed: 99, Shops: 600})
	pts := truthOf(t, m, "")
	items := itemsPerShop(pts)
	compliant := 0
	for _, pt := range pts {
		rec := render(t, m, http.MethodGet, pt.URL)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d", pt.URL, rec.Code)
		}
		page := decode(t, rec.Body.Bytes(), pt.Charset)
		if len(pt.Expect) == 0 {
			compliant++
			for _, ph := range allPhrases {
				if strings.Contains(page, ph.text) {
					t.Errorf("%s: compliant page holds violating phrase %q", pt.URL, ph.text)
				}
			}
		}
		checkPage(t, pt, page, items[pt.Shop])
	}
	if compliant < len(pts)/3 {
		t.Errorf("only %d of %d pages compliant", compliant, len(pts))
	}
}

func TestTruthRules(t *testing.T) {
	m := New(Config{Seed: 3, Shops: 800})
	for _, pt := range truthOf(t, m, "http://x") {
		if pt.Expect == nil {
			t.Fatalf("%s: nil Expect, want an empty list", pt.URL)
		}
		for _, e := range pt.Expect {
			switch e.Rule {
			case RuleAbsoluteTerm:
			case RuleMedicalClaimFood:
				if pt.Category != "food" {
					t.Errorf("%s: food claim on %s", pt.URL, pt.Category)
				}
			case RuleMedicalClaimCosmetics:
				if pt.Category != "cosmetics" {
					t.Errorf("%s: cosmetics claim on %s", pt.URL, pt.Category)
				}
			case RuleFoodPermitMissing:
				if pt.Category != "food" || pt.Kind != shopwatch.KindStorefront {
					t.Errorf("%s: food permit finding on %s %s", pt.URL, pt.Category, pt.Kind)
				}
			case RuleBusinessInfoMissing, RuleUSCCInvalid, RuleICPMissing:
				if pt.Kind != shopwatch.KindStorefront {
					t.Errorf("%s: licence finding on a %s", pt.URL, pt.Kind)
				}
			default:
				t.Errorf("%s: unknown rule %q", pt.URL, e.Rule)
			}
			if strings.HasPrefix(e.Rule, "ad.") && pt.Kind == shopwatch.KindStorefront {
				t.Errorf("%s: advertising finding on a storefront", pt.URL)
			}
		}
	}
}

func TestDeterminism(t *testing.T) {
	digest := func(m *Market) (string, []string) {
		h := sha256.New()
		enc := json.NewEncoder(h)
		var urls []string
		err := m.Truth("http://h", func(pt PageTruth) error {
			urls = append(urls, strings.TrimPrefix(pt.URL, "http://h"))
			return enc.Encode(pt)
		})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%x", h.Sum(nil)), urls
	}
	a, b, c := New(Config{Seed: 42, Shops: 60}), New(Config{Seed: 42, Shops: 60}), New(Config{Seed: 43, Shops: 60})
	da, urls := digest(a)
	db, _ := digest(b)
	dc, _ := digest(c)
	if da != db {
		t.Errorf("same seed, different truth")
	}
	if da == dc {
		t.Errorf("different seeds, same truth")
	}
	differ := 0
	for _, u := range append(urls, "/", "/_targets.csv") {
		ra, rb, rc := render(t, a, "GET", u), render(t, b, "GET", u), render(t, c, "GET", u)
		if !bytes.Equal(ra.Body.Bytes(), rb.Body.Bytes()) {
			t.Errorf("%s: same seed, different bytes", u)
		}
		if rc.Code == http.StatusOK && !bytes.Equal(ra.Body.Bytes(), rc.Body.Bytes()) {
			differ++
		}
	}
	if differ < len(urls)/2 {
		t.Errorf("only %d of %d pages differ between seeds 42 and 43", differ, len(urls))
	}
}

func TestShares(t *testing.T) {
	const shops = 2000
	for _, seed := range []int64{1, 2} {
		m := New(Config{Seed: seed, Shops: shops})
		var (
			cats, lic                    = map[string]int{}, map[string]int{}
			food, foodNoPermit           int
			gbk, late, rooms             int
			products, prodBad, prodTwo   int
			roomBad                      int
			storefrontsWithAd, compliant int
		)
		err := m.Truth("", func(pt PageTruth) error {
			switch pt.Kind {
			case shopwatch.KindStorefront:
				cats[pt.Category]++
				lic[pt.Licence]++
				if pt.Category == "food" {
					food++
					if pt.Licence == "no-food-permit" {
						foodNoPermit++
					}
				}
				if pt.Charset == CharsetGBK {
					gbk++
					if pt.LateMeta {
						late++
					}
				}
				for _, e := range pt.Expect {
					if strings.HasPrefix(e.Rule, "ad.") {
						storefrontsWithAd++
					}
				}
			case shopwatch.KindProduct:
				products++
				if len(pt.Expect) > 0 {
					prodBad++
				}
				if len(pt.Expect) == 2 {
					prodTwo++
				}
			case shopwatch.KindLivestream:
				rooms++
				if len(pt.Expect) > 0 {
					roomBad++
				}
			}
			if len(pt.Expect) == 0 {
				compliant++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		share := func(name string, n, of int, want, tol float64) {
			t.Helper()
			got := float64(n) / float64(of)
			if math.Abs(got-want) > tol {
				t.Errorf("seed %d: %s share %.3f (%d/%d), want %.3f ± %.3f", seed, name, got, n, of, want, tol)
			}
		}
		for _, c := range []string{"food", "cosmetics", "apparel", "electronics"} {
			share("category "+c, cats[c], shops, 0.25, 0.035)
		}
		nonFood := float64(shops-food) / shops
		share("licence full", lic["full"], shops, ShareLicenceFull+ShareLicenceFoodPermitBucket*nonFood, 0.035)
		share("licence none", lic["none"], shops, ShareLicenceNone, 0.03)
		share("licence bad-uscc", lic["bad-uscc"], shops, ShareLicenceBadUSCC, 0.03)
		share("food shops without permit", foodNoPermit, food, ShareLicenceFoodPermitBucket, 0.04)
		share("gbk", gbk, shops, ShareGBK, 0.035)
		share("late meta of gbk", late, gbk, ShareLateMeta, 0.07)
		share("rooms", rooms, shops, ShareRoom, 0.035)
		share("violating products", prodBad, products, ShareProductViolating, 0.03)
		share("two phrases of violating products", prodTwo, prodBad, ShareTwoPhrases, 0.05)
		share("violating rooms", roomBad, rooms, ShareRoomViolating, 0.07)
		if avg := float64(products) / shops; avg < 3.7 || avg > 4.3 {
			t.Errorf("seed %d: %.2f products per shop, want about 4", seed, avg)
		}
		if storefrontsWithAd != 0 {
			t.Errorf("seed %d: %d advertising findings on storefronts", seed, storefrontsWithAd)
		}
	}
}

func TestCreditCodes(t *testing.T) {
	m := New(Config{Seed: 5, Shops: 2000})
	orgWeights := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	regionCodes := map[string]bool{}
	for _, r := range regions {
		regionCodes[r.code] = true
	}
	bad := 0
	for id := 1; id <= m.shops; id++ {
		s := m.shopAt(id)
		code := s.uscc
		err := licence.ValidateUSCC(code)
		if s.licence == licBadUSCC {
			bad++
			if !errors.Is(err, licence.ErrUSCCCheck) {
				t.Errorf("shop %d: bad code %s: got %v, want ErrUSCCCheck", id, code, err)
			}
		} else if err != nil {
			t.Errorf("shop %d: code %s: %v", id, code, err)
		}
		if code[:2] != "91" || !regionCodes[code[2:8]] {
			t.Errorf("shop %d: code %s: want 91 + a known region code", id, code)
		}
		// Positions 9–17 are a GB 11714 organisation code with its own check.
		sum := 0
		for i, w := range orgWeights {
			c := code[8+i]
			v := int(c - '0')
			if c >= 'A' {
				v = int(c-'A') + 10
			}
			sum += v * w
		}
		want := byte('0' + (11-sum%11)%11)
		if (11-sum%11)%11 == 10 {
			want = 'X'
		}
		if code[16] != want {
			t.Errorf("shop %d: code %s: organisation check %c, want %c", id, code, code[16], want)
		}
	}
	if bad == 0 {
		t.Error("no bad codes generated")
	}
}

func TestGBKPages(t *testing.T) {
	m := New(Config{Seed: 11, Shops: 200})
	srv := serve(t, m)
	var early, lateN, withPhrase int
	for _, pt := range truthOf(t, m, srv.URL) {
		if pt.Charset != CharsetGBK {
			continue
		}
		resp, raw := fetch(t, srv.Client(), http.MethodGet, pt.URL)
		if ct := resp.Header.Get("Content-Type"); ct != "text/html" {
			t.Fatalf("%s: Content-Type %q", pt.URL, ct)
		}
		if utf8.Valid(raw) {
			t.Fatalf("%s: gbk page is valid UTF-8", pt.URL)
		}
		meta := bytes.Index(raw, []byte(`<meta charset="gbk">`))
		if meta < 0 {
			t.Fatalf("%s: no meta charset", pt.URL)
		}
		enc, name, _ := charset.DetermineEncoding(raw, "text/html")
		if pt.LateMeta {
			lateN++
			if meta <= 2048 || meta >= 4096 {
				t.Errorf("%s: late meta at byte %d, want within (2048, 4096)", pt.URL, meta)
			}
			if name == "gbk" {
				t.Errorf("%s: a 1024-byte prescan found the late meta tag", pt.URL)
			}
		} else {
			early++
			if meta > 1024 || name != "gbk" || enc == nil {
				t.Errorf("%s: early meta at %d detected as %q", pt.URL, meta, name)
			}
		}
		page := decode(t, raw, CharsetGBK)
		// Prices carry ¥ (U+00A5), four bytes in GB18030 that strict GBK
		// decoders garble.
		if !strings.Contains(page, "¥") {
			t.Errorf("%s: decoded page lacks ¥", pt.URL)
		}
		strict, _ := simplifiedchinese.GBK.NewDecoder().Bytes(raw)
		if strings.Contains(string(strict), "¥") {
			t.Errorf("%s: strict GBK decoding read the four-byte ¥; the page should defeat it", pt.URL)
		}
		for _, e := range pt.Expect {
			if e.Match != "" {
				withPhrase++
				if !strings.Contains(page, e.Match) {
					t.Errorf("%s: decoded page lacks %q", pt.URL, e.Match)
				}
			}
		}
	}
	if early == 0 || lateN == 0 || withPhrase == 0 {
		t.Errorf("early %d, late %d, expected matches %d: want some of each", early, lateN, withPhrase)
	}
}

func TestTruthScalesWithoutHoldingPages(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 20000})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	n, withExpect := 0, 0
	err := m.Truth("http://127.0.0.1:1", func(pt PageTruth) error {
		n++
		if len(pt.Expect) > 0 {
			withExpect++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != m.Pages() || n < 100000 {
		t.Fatalf("Truth gave %d pages, Pages() = %d, want equal and at least 100000", n, m.Pages())
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > 16<<20 {
		t.Errorf("heap grew by %d bytes over the walk; the market should hold nothing per page", grow)
	}
	targets := 0
	if err := m.Targets("http://127.0.0.1:1", func(shopwatch.Target) error { targets++; return nil }); err != nil {
		t.Fatal(err)
	}
	if targets <= 20000 || targets >= 20000+m.Shops()/2 {
		t.Errorf("%d targets for 20000 shops", targets)
	}
	t.Logf("%d pages, %d with expected findings, %d targets", n, withExpect, targets)
}

func TestTruthStopsOnError(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 10})
	stop := errors.New("stop")
	n := 0
	err := m.Truth("", func(PageTruth) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 || !strings.Contains(err.Error(), "/shop/1/") {
		t.Errorf("got %v after %d calls, want stop after 1 naming /shop/1/", err, n)
	}
	err = m.Targets("", func(shopwatch.Target) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("Targets: got %v, want stop", err)
	}
}

func TestTruthAndTargetsOverHTTP(t *testing.T) {
	m := New(Config{Seed: 8, Shops: 40})
	srv := serve(t, m)

	// /_truth equals Truth under the base the request used.
	resp, body := fetch(t, srv.Client(), http.MethodGet, srv.URL+"/_truth")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/jsonl") {
		t.Fatalf("/_truth: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want := truthOf(t, m, srv.URL)
	sc := bufio.NewScanner(bytes.NewReader(body))
	i := 0
	for ; sc.Scan(); i++ {
		if !strings.Contains(sc.Text(), `"expect":[`) {
			t.Fatalf("line %d has no expect list: %s", i+1, sc.Text())
		}
		var pt PageTruth
		if err := json.Unmarshal(sc.Bytes(), &pt); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if i >= len(want) || fmt.Sprint(pt) != fmt.Sprint(want[i]) {
			t.Fatalf("line %d: got %+v, want %+v", i+1, pt, want[min(i, len(want)-1)])
		}
	}
	if i != len(want) {
		t.Fatalf("/_truth has %d lines, want %d", i, len(want))
	}

	// /_targets.csv: the header, storefronts at depth 1, rooms at depth 0,
	// URLs under the request's Host.
	req := httptest.NewRequest(http.MethodGet, "/_targets.csv", nil)
	req.Host = "127.0.0.2:8081"
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, req)
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != "url,platform,kind,category,tags,jurisdiction,priority,depth" {
		t.Fatalf("header %q", got)
	}
	var targets []shopwatch.Target
	if err := m.Targets("http://127.0.0.2:8081/", func(tg shopwatch.Target) error { targets = append(targets, tg); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rows)-1 != len(targets) {
		t.Fatalf("%d csv rows, %d targets", len(rows)-1, len(targets))
	}
	stores := 0
	for k, tg := range targets {
		row := rows[k+1]
		wantRow := []string{tg.URL, Platform, string(tg.Kind), tg.Category, strings.Join(tg.Tags, ";"), tg.Jurisdiction,
			strconv.Itoa(tg.Priority), strconv.Itoa(tg.Depth)}
		if strings.Join(row, "\x00") != strings.Join(wantRow, "\x00") {
			t.Errorf("row %d: got %q, want %q", k+1, row, wantRow)
		}
		if !strings.HasPrefix(tg.URL, "http://127.0.0.2:8081/") || tg.Jurisdiction == "" {
			t.Errorf("target %+v", tg)
		}
		switch tg.Kind {
		case shopwatch.KindStorefront:
			stores++
			if tg.Depth != 1 || !strings.HasSuffix(tg.URL, "/") {
				t.Errorf("storefront target %+v", tg)
			}
		case shopwatch.KindLivestream:
			if tg.Depth != 0 || !strings.Contains(tg.URL, "/live/") {
				t.Errorf("room target %+v", tg)
			}
		default:
			t.Errorf("target kind %q", tg.Kind)
		}
	}
	if stores != 40 {
		t.Errorf("%d storefront targets, want 40", stores)
	}
}

func TestNotFoundAndRouting(t *testing.T) {
	if n := New(Config{Seed: 1}).Shops(); n != DefaultShops {
		t.Errorf("a config without shops gives %d shops, want %d", n, DefaultShops)
	}
	m := New(Config{Seed: 1, Shops: 30})
	noRoom := 0
	for id := 1; id <= 30; id++ {
		if s, _ := m.shapeAt(id); !s.room {
			noRoom = id
			break
		}
	}
	s, _ := m.shapeAt(1)
	for _, path := range []string{
		"/shop/0/", "/shop/31/", "/shop/abc/", "/shop/01/", "/shop/-1/",
		"/shop/1/item/0", "/shop/1/item/" + strconv.Itoa(s.items+1), "/shop/1/item/x",
		"/live/" + strconv.Itoa(noRoom), "/live/999", "/nope", "/shop/1/extra/2", "/?page=2", "/?page=x", "/shop/", "/live/", "/bad/nothing",
	} {
		rec := render(t, m, http.MethodGet, path)
		if rec.Code != http.StatusNotFound || !strings.HasPrefix(rec.Body.String(), "marketsim: ") {
			t.Errorf("GET %s: %d %q, want 404 with a reason", path, rec.Code, rec.Body.String())
		}
	}
	if rec := render(t, m, http.MethodGet, "/shop/3"); rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/shop/3/" {
		t.Errorf("GET /shop/3: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := render(t, m, http.MethodPost, "/shop/3/"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /shop/3/: %d", rec.Code)
	}

	// HEAD: same headers, no body.
	get, head := render(t, m, http.MethodGet, "/shop/2/item/1"), render(t, m, http.MethodHead, "/shop/2/item/1")
	if head.Code != 200 || head.Header().Get("Content-Length") != strconv.Itoa(get.Body.Len()) ||
		head.Header().Get("Content-Type") != get.Header().Get("Content-Type") {
		t.Errorf("HEAD: %d %v; GET length %d", head.Code, head.Header(), get.Body.Len())
	}
	srv := serve(t, m)
	resp, body := fetch(t, srv.Client(), http.MethodHead, srv.URL+"/shop/2/")
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength <= 0 {
		t.Errorf("HEAD over HTTP: %d, %d body bytes, length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
}

func TestIndexPagination(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 120})
	linkRe := regexp.MustCompile(`href="/shop/(\d+)/"`)
	seen := 0
	for page := 1; page <= 3; page++ {
		rec := render(t, m, http.MethodGet, "/?page="+strconv.Itoa(page))
		if rec.Code != 200 {
			t.Fatalf("page %d: %d", page, rec.Code)
		}
		links := linkRe.FindAllStringSubmatch(rec.Body.String(), -1)
		for _, l := range links {
			seen++
			if l[1] != strconv.Itoa(seen) {
				t.Fatalf("page %d lists shop %s, want %d", page, l[1], seen)
			}
		}
		hasNext := strings.Contains(rec.Body.String(), `href="/?page=`+strconv.Itoa(page+1)+`"`)
		if hasNext != (page < 3) {
			t.Errorf("page %d: next link %v", page, hasNext)
		}
	}
	if seen != 120 {
		t.Errorf("index lists %d shops, want 120", seen)
	}
}

func TestBadEndpoints(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 5})
	srv := serve(t, m)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, _ := fetch(t, noFollow, http.MethodGet, srv.URL+"/bad/redirect-loop")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/bad/redirect-loop" {
		t.Errorf("redirect-loop: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := srv.Client().Get(srv.URL + "/bad/redirect-loop"); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("following the loop: got %v, want a too-many-redirects error", err)
	}
	hops := 0
	chain := &http.Client{CheckRedirect: func(_ *http.Request, via []*http.Request) error { hops = len(via); return nil }}
	if resp, body := fetch(t, chain, http.MethodGet, srv.URL+"/bad/redirect?n=4"); resp.StatusCode != 200 || hops != 4 || !bytes.Contains(body, []byte("终点")) {
		t.Errorf("redirect chain: %d after %d hops", resp.StatusCode, hops)
	}

	resp, body := fetch(t, srv.Client(), http.MethodGet, srv.URL+"/bad/binary")
	if resp.Header.Get("Content-Type") != "image/png" || !bytes.HasPrefix(body, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("binary: %q, %d bytes", resp.Header.Get("Content-Type"), len(body))
	}
	if _, err := png.Decode(bytes.NewReader(body)); err != nil {
		t.Errorf("binary: not a PNG: %v", err)
	}

	resp, body = fetch(t, srv.Client(), http.MethodGet, srv.URL+"/bad/huge?mb=1")
	if len(body) != 1<<20 || resp.ContentLength != -1 || !bytes.HasSuffix(body, []byte("</html>\n")) {
		t.Errorf("huge mb=1: %d bytes, announced %d", len(body), resp.ContentLength)
	}
	resp, body = fetch(t, srv.Client(), http.MethodGet, srv.URL+"/bad/huge?mb=2&cl=1")
	if len(body) != 2<<20 || resp.ContentLength != 2<<20 {
		t.Errorf("huge mb=2 cl=1: %d bytes, announced %d", len(body), resp.ContentLength)
	}
	if resp, _ := fetch(t, srv.Client(), http.MethodGet, srv.URL+"/bad/huge?mb=-1"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("huge mb=-1: %d", resp.StatusCode)
	}
	// The default 64 MiB stream stops when the reader gives up.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/bad/huge", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := io.CopyN(io.Discard, resp.Body, 1<<20); n != 1<<20 {
		t.Errorf("huge: read %d bytes", n)
	}
	cancel()
	resp.Body.Close()
	waitZero(t, "huge", m.hugeActive.Load)

	resp, body = fetch(t, srv.Client(), http.MethodGet, srv.URL+"/bad/malformed")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		utf8.Valid(body) || !bytes.Contains(body, []byte("欢迎光临")) || bytes.Contains(body, []byte("</html>")) {
		t.Errorf("malformed: %d %q valid-utf8=%v", resp.StatusCode, resp.Header.Get("Content-Type"), utf8.Valid(body))
	}
	if resp, _ := fetch(t, srv.Client(), http.MethodGet, srv.URL+"/bad/status500"); resp.StatusCode != 500 {
		t.Errorf("status500: %d", resp.StatusCode)
	}
	if resp, body := fetch(t, srv.Client(), http.MethodGet, srv.URL+"/bad/"); resp.StatusCode != 200 || !bytes.Contains(body, []byte("/bad/slow")) {
		t.Errorf("/bad/: %d", resp.StatusCode)
	}
}

func TestSlowStopsWhenClientLeaves(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 5})
	srv := serve(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/bad/slow?s=60", nil)
	start := time.Now()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 2*SlowInterval {
		t.Errorf("3 bytes after %v, want at least %v", el, 2*SlowInterval)
	}
	if string(buf) != "<!D" {
		t.Errorf("first bytes %q", buf)
	}
	if m.slowActive.Load() != 1 {
		t.Errorf("%d slow handlers running, want 1", m.slowActive.Load())
	}
	cancel()
	resp.Body.Close()
	waitZero(t, "slow", m.slowActive.Load)

	// A short drip ends by itself as a whole page.
	resp, body := fetch(t, srv.Client(), http.MethodGet, srv.URL+"/bad/slow?s=1")
	if resp.StatusCode != 200 || !bytes.HasSuffix(body, []byte("</html>\n")) || len(body) < 4 {
		t.Errorf("slow s=1: %d %q", resp.StatusCode, body)
	}
}

// waitZero waits up to 3 s for a running-handler counter to drop to zero.
func waitZero(t *testing.T, what string, load func() int64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s handler still running 3 s after the client left", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestListenAndServe(t *testing.T) {
	m := New(Config{Seed: 1, Shops: 5})
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "[::]:0", "example.com:80"} {
		if _, _, err := ListenAndServe(context.Background(), addr, m); !errors.Is(err, ErrNotLoopback) || !strings.Contains(err.Error(), addr) {
			t.Errorf("ListenAndServe(%q): got %v, want ErrNotLoopback naming the address", addr, err)
		}
	}
	if _, _, err := ListenAndServe(context.Background(), "127.0.0.1", m); err == nil {
		t.Error("an address without a port was accepted")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done, err := ListenAndServe(ctx, "127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("base %q", base)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, body := fetch(t, c, http.MethodGet, base+"/_targets.csv")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(base+"/shop/1/")) {
		t.Fatalf("targets from %s: %d %s", base, resp.StatusCode, body)
	}
	// A slow stream in flight must not hold up the shutdown.
	sresp, err := c.Get(base + "/bad/slow?s=60")
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("done: %v, want nil after cancel", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("server still running 4 s after cancel")
	}
	waitZero(t, "slow", m.slowActive.Load)
	if _, err := c.Get(base + "/"); err == nil {
		t.Error("server still answering after shutdown")
	}
}

func BenchmarkServeProduct(b *testing.B) {
	m := New(Config{Seed: 1, Shops: 1000})
	var paths []string
	if err := m.Truth("", func(pt PageTruth) error {
		if pt.Kind == shopwatch.KindProduct {
			paths = append(paths, pt.URL)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	reqs := make([]*http.Request, len(paths))
	for i, p := range paths {
		reqs[i] = httptest.NewRequest(http.MethodGet, p, nil)
	}
	w := &discardWriter{h: http.Header{}}
	var bytesOut int64
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.n = 0
		m.ServeHTTP(w, reqs[i%len(reqs)])
		if w.code != http.StatusOK {
			b.Fatalf("%s: %d", paths[i%len(paths)], w.code)
		}
		bytesOut += w.n
		i++
	}
	b.ReportMetric(float64(bytesOut)/float64(i), "B/page")
}

// discardWriter is a ResponseWriter that only counts.
type discardWriter struct {
	h    http.Header
	code int
	n    int64
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(c int)   { w.code = c }
func (w *discardWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
