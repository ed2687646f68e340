package crawler

import (
	"context"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/internal/testparts"
	"shopwatch/marketsim"
)

// The browser benchmarks render marketsim storefronts and product pages,
// four at a time, with the same configuration: BenchmarkBrowserPool in the
// tabs of one long-lived browser, BenchmarkBrowserPerPage (the baseline)
// with a fresh browser process per page. Run them together, e.g.
//
//	go test -run '^$' -bench 'BenchmarkBrowserP' -benchtime 40x ./crawler/
//
// BenchmarkBrowserPerPage then also reports pool-speedup: the pool's
// pages/s over its own, from the same run.

// poolRate is the pages/s of the last BenchmarkBrowserPool run.
var poolRate atomic.Value // float64

func benchBrowserConfig(b *testing.B) BrowserConfig {
	cfg := DefaultBrowserConfig()
	cfg.ExecPath = testparts.Chromium(b)
	cfg.AllowLoopback()
	cfg.Settle = 100 * time.Millisecond
	cfg.Tabs = 4
	return cfg
}

// marketURLs serves a marketsim market and lists its storefront and
// product pages.
func marketURLs(b *testing.B) []string {
	m := marketsim.New(marketsim.Config{Shops: 20, Seed: 7})
	s := httptest.NewServer(m)
	b.Cleanup(s.Close)
	var urls []string
	if err := m.Truth(s.URL, func(pt marketsim.PageTruth) error {
		if pt.Kind != shopwatch.KindLivestream {
			urls = append(urls, pt.URL)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return urls
}

// renderParallel renders the market's pages with four goroutines, each
// page through render.
func renderParallel(b *testing.B, urls []string, render func(ctx context.Context, url string) error) {
	var next atomic.Int64
	b.SetParallelism(max(1, 4/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := urls[int(next.Add(1))%len(urls)]
			if err := render(context.Background(), u); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
}

func BenchmarkBrowserPool(b *testing.B) {
	urls := marketURLs(b)
	br, err := NewBrowser(context.Background(), benchBrowserConfig(b))
	if err != nil {
		testparts.Unavailable(b, "Chromium", err)
	}
	defer br.Close()
	renderParallel(b, urls, func(ctx context.Context, u string) error {
		_, err := br.Render(ctx, u)
		return err
	})
	rate := float64(b.N) / b.Elapsed().Seconds()
	poolRate.Store(rate)
	b.ReportMetric(rate, "pages/s")
	st := br.Stats()
	b.ReportMetric(float64(st.Starts), "processes")
}

func BenchmarkBrowserPerPage(b *testing.B) {
	urls := marketURLs(b)
	cfg := benchBrowserConfig(b)
	renderParallel(b, urls, func(ctx context.Context, u string) error {
		br, err := NewBrowser(ctx, cfg)
		if err != nil {
			return err
		}
		defer br.Close()
		_, err = br.Render(ctx, u)
		return err
	})
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "pages/s")
	if pool, ok := poolRate.Load().(float64); ok && rate > 0 {
		b.ReportMetric(pool/rate, "pool-speedup")
	}
}
