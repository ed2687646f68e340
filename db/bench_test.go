package db

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"shopwatch"
)

const benchQueue = 100_000

// fillQueue enqueues n visits of mixed priority in batches.
func fillQueue(tb testing.TB, d *DB, sweep string, n int) {
	tb.Helper()
	const batch = 5000
	vs := make([]shopwatch.Visit, 0, batch)
	for i := range n {
		vs = append(vs, visit(sweep, fmt.Sprintf("https://shop%d.example.com/item/%d", i%977, i), i%10))
		if len(vs) == batch || i == n-1 {
			mustEnqueue(tb, d, vs...)
			vs = vs[:0]
		}
	}
}

// BenchmarkLeaseComplete measures one Lease of one visit plus its Complete
// with one finding, on a queue of about 100k pending visits (and, for
// comparison, 1k: the cost must not grow with the queue).
func BenchmarkLeaseComplete(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts []Option
	}{{"fsync", nil}, {"nosync", []Option{WithNoSync()}}} {
		for _, size := range []int{1_000, benchQueue} {
			d, _ := newTestDB(b, mode.opts...)
			fillQueue(b, d, "s-bench", size)
			round := 0
			b.Run(fmt.Sprintf("%s/queue=%dk", mode.name, size/1000), func(b *testing.B) {
				ctx := context.Background()
				for b.Loop() {
					vs := mustLease(b, d, "bench", 1, time.Minute)
					if len(vs) == 0 {
						b.StopTimer()
						round++
						fillQueue(b, d, fmt.Sprintf("s-bench-%d", round), size)
						b.StartTimer()
						vs = mustLease(b, d, "bench", 1, time.Minute)
					}
					if err := d.Complete(ctx, vs[0], Result{Findings: []shopwatch.Finding{finding(vs[0], 0)}}); err != nil {
						b.Fatal(err)
					}
				}
			})
			if mode.name != "nosync" || size != benchQueue {
				continue
			}
			b.Run(fmt.Sprintf("%s/queue=%dk/parallel", mode.name, size/1000), func(b *testing.B) {
				var worker atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					ctx := context.Background()
					name := fmt.Sprintf("bench-%d", worker.Add(1))
					for pb.Next() {
						vs, err := d.Lease(ctx, name, 1, time.Minute)
						if err != nil {
							b.Error(err)
							return
						}
						if len(vs) == 0 {
							b.Error("queue ran dry")
							return
						}
						if err := d.Complete(ctx, vs[0], Result{Findings: []shopwatch.Finding{finding(vs[0], 0)}}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkLease measures Lease alone on a 100k queue whose leased index
// grows as the benchmark runs.
func BenchmarkLease(b *testing.B) {
	d, _ := newTestDB(b, WithNoSync())
	fillQueue(b, d, "s-bench", benchQueue)
	round := 0
	for b.Loop() {
		if vs := mustLease(b, d, "bench", 1, time.Hour); len(vs) == 0 {
			b.StopTimer()
			round++
			fillQueue(b, d, fmt.Sprintf("s-bench-%d", round), benchQueue)
			b.StartTimer()
		}
	}
}

// BenchmarkEnqueue measures enqueueing batches of 1000 new visits.
func BenchmarkEnqueue(b *testing.B) {
	d, _ := newTestDB(b, WithNoSync())
	i := 0
	vs := make([]shopwatch.Visit, 1000)
	for b.Loop() {
		for j := range vs {
			vs[j] = visit("s-bench", fmt.Sprintf("https://shop.example.com/item/%d", i), i%10)
			i++
		}
		mustEnqueue(b, d, vs...)
	}
}
