package main

import (
	"context"

	"shopwatch/evidence"
)

// storeLeftovers is a store that can clear what killed writes left behind
// (the folder store's temporary files).
type storeLeftovers interface {
	RemoveTemp(ctx context.Context) (int, error)
}

// clearStoreLeftovers removes the temporary files killed captures left in
// the evidence store; it runs when a sweep or serve starts. A failure is
// logged, not fatal: leftovers take space but are never evidence.
func (a *app) clearStoreLeftovers(ctx context.Context, st evidence.Store) {
	s, ok := st.(storeLeftovers)
	if !ok {
		return
	}
	n, err := s.RemoveTemp(ctx)
	if err != nil {
		a.logger.Warn("temporary files of interrupted captures not removed", "err", err)
		return
	}
	if n > 0 {
		a.logger.Info("temporary files of interrupted captures removed", "files", n)
	}
}
