package main

import (
	"context"
	"fmt"

	"shopwatch/marketsim"
)

func init() {
	register(command{name: "marketsim", summary: "serve the synthetic test marketplace on loopback", run: runMarketsim})
}

func runMarketsim(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("marketsim", "marketsim [--addr 127.0.0.1:PORT] [--shops N] [--seed S]")
	addr := fs.String("addr", "127.0.0.1:8080", "loopback address to listen on")
	shops := fs.Int("shops", 100, "number of shops")
	seed := fs.Int64("seed", 1, "generator seed")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *shops <= 0 {
		return usagef("--shops must be at least 1")
	}
	m := marketsim.New(marketsim.Config{Seed: *seed, Shops: *shops})
	base, done, err := marketsim.ListenAndServe(ctx, *addr, m)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "marketsim: %d shops, %d pages, seed %d at %s\n  targets: %s/_targets.csv\n  truth:   %s/_truth\n",
		*shops, m.Pages(), *seed, base, base, base)
	return <-done
}
