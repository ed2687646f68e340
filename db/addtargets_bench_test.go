package db

import (
	"context"
	"fmt"
	"testing"

	"shopwatch"
)

// importRows makes n distinct targets as an import file would give them.
func importRows(n int) []shopwatch.Target {
	ts := make([]shopwatch.Target, n)
	for i := range ts {
		ts[i] = shopwatch.Target{
			URL:  fmt.Sprintf("https://shop%d.example.com/item/%d?spm=a%d", i%977, i, i%13),
			Kind: shopwatch.KindProduct, Platform: "taobao", Category: "food", Jurisdiction: "310104",
			Tags: []string{"618", "imported"}, Priority: i % 10,
		}
	}
	return ts
}

// BenchmarkImportTargets measures storing 100,000 new targets, durably
// (fsync), into a database that already holds 1,000: one AddTarget per
// target, the way target import worked before (a transaction and its fsyncs
// per row), against one AddTargets call. Each iteration starts from a fresh
// database, outside the timer. The per-row case takes minutes per
// iteration: run it with -benchtime 1x.
func BenchmarkImportTargets(b *testing.B) {
	const rows = 100_000
	for _, mode := range []string{"per-row", "bulk"} {
		b.Run(fmt.Sprintf("%s/rows=%dk", mode, rows/1000), func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				d, _ := newTestDB(b)
				seed := importRows(rows + 1000)[rows:]
				if _, err := d.AddTargets(ctx, seed, nil); err != nil {
					b.Fatal(err)
				}
				ts := importRows(rows)
				b.StartTimer()
				if mode == "per-row" {
					for i := range ts {
						if err := d.AddTarget(ctx, &ts[i]); err != nil {
							b.Fatal(err)
						}
					}
				} else if _, err := d.AddTargets(ctx, ts, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
