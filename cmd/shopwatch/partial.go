package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"shopwatch/db"
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

// evidencePartial is `evidence partial VERB`: the captures that were set
// aside incomplete.
func evidencePartial(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "evidence partial", args, map[string]func(context.Context, *app, []string) error{
		"list": evidencePartialList,
	})
}

// partialRow is one set-aside capture in `evidence partial list`.
type partialRow struct {
	EvidenceID string    `json:"evidence_id"`
	Sweep      string    `json:"sweep"`
	VisitID    string    `json:"visit_id"`
	URL        string    `json:"url"`
	Attempt    int       `json:"attempt"`
	Started    time.Time `json:"started"`
	SetAside   time.Time `json:"set_aside"`
	Reason     string    `json:"reason"`
	Prefix     string    `json:"prefix"` // where its objects are in the store
	// Objects and Bytes count what the capture left in the store (with
	// --objects only).
	Objects *int   `json:"objects,omitempty"`
	Bytes   *int64 `json:"bytes,omitempty"`
}

// evidencePartialList lists the captures that were set aside incomplete
// (abandoned): a killed or failed attempt left them, and a later attempt
// captured the page again. Their objects are never deleted; they are not
// evidence records and are never exported.
func evidencePartialList(ctx context.Context, a *app, args []string) error {
	var objects bool
	return listing(a, "evidence partial list", args,
		func(fs *flag.FlagSet) {
			fs.BoolVar(&objects, "objects", false, "also count the objects each left in the evidence store (reads the store)")
		},
		a.openDBReadOnly,
		func(d *db.DB) ([]partialRow, error) {
			caps, err := d.ListCaptures(ctx, db.CaptureAbandoned)
			if err != nil {
				return nil, err
			}
			var st evidence.Store
			if objects {
				if st, err = a.store(ctx); err != nil {
					return nil, err
				}
			}
			rows := make([]partialRow, 0, len(caps))
			for _, c := range caps {
				row := partialRow{EvidenceID: c.EvidenceID, Sweep: c.Sweep, VisitID: c.VisitID, URL: c.URL, Attempt: c.Attempt,
					Started: c.Started, SetAside: c.Settled, Reason: c.Reason, Prefix: evidence.KeyPrefix + c.EvidenceID + "/"}
				if st != nil {
					n, size := 0, int64(0)
					err := st.List(ctx, row.Prefix, func(info evidence.Info) error {
						n++
						size += info.Size
						return nil
					})
					if err != nil {
						return nil, fmt.Errorf("objects of partial capture %s: %w", c.EvidenceID, err)
					}
					row.Objects, row.Bytes = &n, &size
				}
				rows = append(rows, row)
			}
			return rows, nil
		},
		func(w io.Writer, rows []partialRow) {
			if objects {
				fmt.Fprintln(w, "EVIDENCE ID\tSET ASIDE\tURL\tOBJECTS\tBYTES\tREASON")
			} else {
				fmt.Fprintln(w, "EVIDENCE ID\tSET ASIDE\tURL\tREASON")
			}
			for _, r := range rows {
				at := r.SetAside.Local().Format(time.DateTime)
				if r.Objects != nil {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\n", r.EvidenceID, at, r.URL, *r.Objects, *r.Bytes, r.Reason)
				} else {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.EvidenceID, at, r.URL, r.Reason)
				}
			}
		})
}
