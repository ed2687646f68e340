package sweep_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"shopwatch"
	"shopwatch/evidence"
	"shopwatch/internal/testparts"
)

// countingShop serves one static product page with a finding and an image
// on the same server, counting the requests per path.
type countingShop struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func newCountingShop(t *testing.T) *countingShop {
	t.Helper()
	s := &countingShop{hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		switch r.URL.Path {
		case "/item/1":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(`<!doctype html><html><head><title>保健茶</title></head>
<body style="margin:0"><div style="height:900px;background:#0a6">
<h1>保健茶 全网第一 疗效最好 国家级产品</h1><p>售价 99 元</p></div>
<img src="/img/photo.png" width="300" height="300"></body></html>`))
		case "/robots.txt":
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte("not really a png"))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *countingShop) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// sweepStaticPage sweeps the shop's page as a static target and returns
// its one evidence record.
func sweepStaticPage(t *testing.T, g *rig, u string) shopwatch.EvidenceRecord {
	t.Helper()
	ctx := context.Background()
	sweepID, err := g.db.CreateSweep(ctx, "static-shot")
	if err != nil {
		t.Fatal(err)
	}
	ts := []shopwatch.Target{{ID: "t1", URL: u, Kind: shopwatch.KindProduct}}
	if _, err := g.runner.Plan(ctx, sweepID, ts); err != nil {
		t.Fatal(err)
	}
	if sum, err := g.runner.Run(ctx, sweepID); err != nil || sum.Done != 1 {
		t.Fatalf("sweep: %+v, %v", sum, err)
	}
	recs, err := g.db.ListEvidence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d evidence records, want 1 (the page has findings)", len(recs))
	}
	return recs[0]
}

// screenshotBy reads metadata.json's screenshot_by of a capture.
func screenshotBy(t *testing.T, g *rig, rec shopwatch.EvidenceRecord) string {
	t.Helper()
	for _, a := range rec.Artifacts {
		if a.Name == evidence.MetadataFile {
			var md struct {
				ScreenshotBy string `json:"screenshot_by"`
			}
			if err := json.Unmarshal(read(t, g, a.Key), &md); err != nil {
				t.Fatal(err)
			}
			return md.ScreenshotBy
		}
	}
	t.Fatalf("evidence %s has no %s", rec.ID, evidence.MetadataFile)
	return ""
}

// TestSweepStaticCaptureHasScreenshot: a static page with a finding gets a
// screenshot of its captured response, listed with its digests in the
// signed manifest, and the server sees the page once and its image never.
func TestSweepStaticCaptureHasScreenshot(t *testing.T) {
	chromium := testparts.Chromium(t)
	g := newRig(t, 1, nil)
	lb := g.withBrowser(t, chromium)
	shop := newCountingShop(t)

	rec := sweepStaticPage(t, g, shop.URL+"/item/1")
	if got := shop.count("/item/1"); got != 1 {
		t.Errorf("the server saw %d requests for the page, want 1 (the static fetch only)", got)
	}
	if got := shop.count("/img/photo.png"); got != 0 {
		t.Errorf("the image was requested %d times; the screenshot must fetch nothing", got)
	}
	if st := lb.Stats(); st.Renders != 1 || st.Replays != 1 {
		t.Errorf("%d browser tabs, %d replays; want 1 (the screenshot of the capture)", st.Renders, st.Replays)
	}

	var shot *shopwatch.Artifact
	var manifest []byte
	for i, a := range rec.Artifacts {
		switch a.Name {
		case evidence.ScreenshotFile:
			shot = &rec.Artifacts[i]
		case evidence.ManifestFile:
			manifest = read(t, g, a.Key)
		}
	}
	if shot == nil {
		t.Fatalf("evidence %s of a static page with findings has no %s", rec.ID, evidence.ScreenshotFile)
	}
	b := read(t, g, shot.Key)
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s does not decode: %v", evidence.ScreenshotFile, err)
	}
	if img.Bounds().Dy() < 900 || len(b) < 2000 {
		t.Errorf("screenshot %v, %d bytes: want the full page", img.Bounds(), len(b))
	}
	if r, g, bl, _ := img.At(20, 200).RGBA(); r>>8 > 40 || g>>8 < 120 || bl>>8 > 140 {
		t.Errorf("pixel (20,200) is rgb(%d,%d,%d), want the page's green", r>>8, g>>8, bl>>8)
	}
	m, err := evidence.ParseManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, e := range m.Artifacts {
		if e.Name == evidence.ScreenshotFile {
			listed = true
			if e.Sums() != evidence.SumAll(b) {
				t.Errorf("manifest sums of %s do not match its bytes", evidence.ScreenshotFile)
			}
		}
	}
	if !listed {
		t.Errorf("manifest does not list %s", evidence.ScreenshotFile)
	}
	if by := screenshotBy(t, g, rec); !strings.Contains(by, "nothing fetched again") {
		t.Errorf("metadata screenshot_by = %q", by)
	}
}

// TestSweepStaticCaptureWithoutBrowser: without a browser the capture goes
// ahead without a screenshot and says why.
func TestSweepStaticCaptureWithoutBrowser(t *testing.T) {
	g := newRig(t, 1, nil)
	shop := newCountingShop(t)
	rec := sweepStaticPage(t, g, shop.URL+"/item/1")
	for _, a := range rec.Artifacts {
		if a.Name == evidence.ScreenshotFile {
			t.Errorf("a screenshot without a browser: %+v", a)
		}
	}
	if by := screenshotBy(t, g, rec); !strings.Contains(by, "no browser") {
		t.Errorf("metadata screenshot_by = %q, want the reason there is no screenshot", by)
	}
}
