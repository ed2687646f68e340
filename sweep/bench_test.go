package sweep_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/crawler"
	"shopwatch/db"
	"shopwatch/evidence"
	"shopwatch/evidence/folderstore"
	"shopwatch/marketsim"
	"shopwatch/rules"
	"shopwatch/sweep"
)

const benchShops = 40

func benchMarket(b *testing.B) (*marketsim.Market, string, []string) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	m := marketsim.New(marketsim.Config{Seed: 5, Shops: benchShops})
	base, _, err := marketsim.ListenAndServe(ctx, "127.0.0.1:0", m)
	if err != nil {
		b.Fatal(err)
	}
	var urls []string
	_ = m.Truth(base, func(pt marketsim.PageTruth) error { urls = append(urls, pt.URL); return nil })
	return m, base, urls
}

func benchCrawlerConfig() crawler.Config {
	cfg := crawler.DefaultConfig()
	cfg.AllowLoopback()
	cfg.PerHostParallel = 8
	return cfg
}

// BenchmarkSweepPipeline sweeps the whole marketplace per iteration with the
// full pipeline: leased queue in bbolt, fetch, rules, evidence capture for
// every page with findings, commit. Compare pages/s with BenchmarkSweepFetchOnly.
func BenchmarkSweepPipeline(b *testing.B) {
	m, base, urls := benchMarket(b)
	dir := b.TempDir()
	d, err := db.Open(filepath.Join(dir, "shopwatch.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	st, err := folderstore.New(filepath.Join(dir, "store"))
	if err != nil {
		b.Fatal(err)
	}
	sg, err := evidence.LoadOrCreateSigner(filepath.Join(dir, "keys"))
	if err != nil {
		b.Fatal(err)
	}
	rs, err := rules.Default()
	if err != nil {
		b.Fatal(err)
	}
	f, err := crawler.New(benchCrawlerConfig())
	if err != nil {
		b.Fatal(err)
	}
	var ts []shopwatch.Target
	_ = m.Targets(base, func(t shopwatch.Target) error { ts = append(ts, t); return nil })
	r := &sweep.Runner{Queue: d, Fetcher: f, Rules: rs, Store: st, Signer: sg,
		Config: sweep.Config{Workers: 8, LeaseTTL: time.Minute}}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("bench-%d", i)
		if _, err := r.Plan(ctx, id, ts); err != nil {
			b.Fatal(err)
		}
		sum, err := r.Run(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if sum.Done != len(urls) {
			b.Fatalf("swept %d pages, want %d", sum.Done, len(urls))
		}
	}
	b.ReportMetric(float64(len(urls)*b.N)/time.Since(start).Seconds(), "pages/s")
}

// BenchmarkSweepFetchOnly fetches the same pages with the same crawler and
// concurrency, and nothing else: the baseline for BenchmarkSweepPipeline.
func BenchmarkSweepFetchOnly(b *testing.B) {
	_, _, urls := benchMarket(b)
	f, err := crawler.New(benchCrawlerConfig())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		work := make(chan string)
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for u := range work {
					if _, err := f.Fetch(ctx, u); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		for _, u := range urls {
			work <- u
		}
		close(work)
		wg.Wait()
	}
	b.ReportMetric(float64(len(urls)*b.N)/time.Since(start).Seconds(), "pages/s")
}
