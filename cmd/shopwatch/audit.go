package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"shopwatch/db"
	"shopwatch/evidence"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/witness"
)

func init() {
	register(command{name: "audit", summary: "list and verify the hash-chained audit log (chain of custody)", run: runAudit})
	verbSummaries["audit list"] = "list audit log entries"
	verbSummaries["audit verify"] = "check the audit log's hash chain; exit 1 when broken"
	verbSummaries["audit seal"] = "seal the audit log's newest entries with a signed, timestamped ledger checkpoint"
}

func runAudit(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "audit", args, map[string]func(context.Context, *app, []string) error{
		"list":   auditList,
		"verify": auditVerify,
		"seal":   auditSealCmd,
	})
}

func auditList(ctx context.Context, a *app, args []string) error {
	var since, actor string
	return listing(a, "audit list", args,
		func(fs *flag.FlagSet) {
			fs.StringVar(&since, "since", "", "only entries since then: 7d, 24h, a date (2006-01-02) or a time")
			fs.StringVar(&actor, "actor", "", "only entries of this actor (operator or system user)")
		},
		func() (workspace, error) { return a.workspace(ctx, true) },
		func(w workspace) ([]db.AuditEntry, error) {
			from, err := a.parseSince("since", since, time.Now())
			if err != nil {
				return nil, err
			}
			es, err := w.ListAudit(ctx, 0, 0)
			if err != nil {
				return nil, err
			}
			out := es[:0]
			for _, e := range es {
				if (actor == "" || strings.EqualFold(e.Actor, actor)) && (from.IsZero() || !e.Time.Before(from)) {
					out = append(out, e)
				}
			}
			return out, nil
		},
		func(w io.Writer, es []db.AuditEntry) {
			fmt.Fprintf(w, "SEQ\t%s\tACTOR\tACTION\tDETAIL\n", a.timeHeader("TIME"))
			for _, e := range es {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", e.Seq, a.localTime(e.Time), cell(e.Actor), e.Action, cell(e.Detail))
			}
		})
}

func auditVerify(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("audit verify", "audit verify [--json]")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	d, err := a.openDBReadOnly()
	if err != nil {
		return err
	}
	verr := d.VerifyAudit(ctx)
	seal, herr := a.checkAuditHead(ctx, d)
	if errors.Is(herr, db.ErrAuditTruncated) {
		verr = errors.Join(verr, herr)
	} else if herr != nil {
		a.logger.Warn("the audit log's head was not compared with the ledger's checkpoints", "err", herr)
	}
	es, err := d.ListAudit(ctx, 0, 0)
	if err != nil && verr == nil {
		return err
	}
	var sealed uint64
	if seal != nil {
		sealed = seal.Size
	}
	unsealed := uint64(len(es)) - min(sealed, uint64(len(es)))
	if *asJSON {
		out := struct {
			OK       bool   `json:"ok"`
			Entries  int    `json:"entries"`
			Sealed   uint64 `json:"sealed"`   // entries 1..sealed are sealed by a ledger checkpoint
			Unsealed uint64 `json:"unsealed"` // later entries, not yet sealed
			Error    string `json:"error,omitempty"`
		}{OK: verr == nil, Entries: len(es), Sealed: sealed, Unsealed: unsealed}
		if verr != nil {
			out.Error = verr.Error()
		}
		if err := a.printJSON(out); err != nil {
			return err
		}
	}
	if verr != nil {
		return &errExit{code: exitFailed, err: verr}
	}
	if !*asJSON {
		fmt.Fprintf(a.stdout, "audit log intact: %d entries, hash chain unbroken\n", len(es))
		switch {
		case seal != nil:
			fmt.Fprintf(a.stdout, "sealed: entries 1 to %d by ledger checkpoint %d of %s\n", seal.Size, seal.Seq, a.localTime(seal.Time))
		case herr == nil:
			fmt.Fprintln(a.stdout, "sealed: no ledger checkpoint records the audit log's head yet")
		}
		if unsealed > 0 {
			fmt.Fprintf(a.stdout, "not yet sealed: %d later entries; cutting them off would go unnoticed until \"shopwatch audit seal\" (or the next sweep or export) seals them\n", unsealed)
		}
	}
	return nil
}

// auditSealCmd makes a ledger checkpoint that records the audit log's head
// now, timestamped and submitted to the configured witnesses, so that no
// entry made so far can be cut off unnoticed.
func auditSealCmd(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("audit seal", "audit seal")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("audit seal takes no arguments (got %q)", pos[0])
	}
	d, err := a.openDB()
	if err != nil {
		return err
	}
	nt, err := a.notary()
	if err != nil {
		return err
	}
	if nt == nil || nt.Ledger == nil {
		return errors.New("audit seal: this node keeps no ledger")
	}
	cp, err := nt.Ledger.Checkpoint(ctx)
	if errors.Is(err, ledger.ErrEmpty) {
		return &errExit{code: exitFailed, err: errors.New("audit seal: the ledger holds no record yet; the first capture starts it")}
	}
	if err != nil {
		return fmt.Errorf("audit seal: %w", err)
	}
	size, _, err := d.AuditHead(ctx)
	if err != nil {
		return err
	}
	witnessed := ""
	if nt.Witnesses != nil {
		if err := nt.Witnesses.Submit(ctx); err != nil {
			a.logger.Warn("a witness did not co-sign the sealing checkpoint", "err", err)
		}
		if n := len(nt.Witnesses.Cosignatures(cp)); n > 0 {
			witnessed = fmt.Sprintf(", co-signed by %d witness(es)", n)
		}
	}
	if cp.Audit == nil || cp.Audit.Size < size {
		return fmt.Errorf("audit seal: the checkpoint records audit head %v, the log holds %d entries", cp.Audit, size)
	}
	fmt.Fprintf(a.stdout, "audit log sealed: entries 1 to %d by ledger checkpoint %d of %s%s\n", cp.Audit.Size, cp.Seq, a.localTime(cp.Time), witnessed)
	return nil
}

// custody records a chain-of-custody event in the audit log: who (see
// actor), what, and from which host; through the server when one owns the
// database.
func (a *app) custody(ctx context.Context, action, detail string) error {
	host, _ := os.Hostname()
	if c, err := a.serverClient(ctx); err != nil {
		return err
	} else if c != nil && a.db == nil {
		// The server owns the database: it records the event under
		// the caller's name.
		return c.RecordAudit(ctx, action, detail+" on "+host)
	}
	d, err := a.openDB()
	if err != nil {
		return err
	}
	return d.RecordAudit(db.WithActor(ctx, a.actor()), action, detail+" on "+host)
}

// custodyIfData records a custody event only where a shopwatch data
// directory already exists: verifying a bundle on a reviewer's machine must
// not create one.
func (a *app) custodyIfData(ctx context.Context, action, detail string) error {
	dir, err := a.dataDir()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "shopwatch.db")); err != nil {
		return nil
	}
	return a.custody(ctx, action, detail)
}

// evidenceLedger handles "evidence ledger verify".
func evidenceLedger(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "evidence ledger", args, map[string]func(context.Context, *app, []string) error{
		"verify": ledgerVerify,
	})
}

// ledgerVerify checks the whole ledger: every record, every checkpoint's
// signature and timestamp.
func ledgerVerify(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("evidence ledger verify", "evidence ledger verify [--json]")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	dir, err := a.dataDir()
	if err != nil {
		return err
	}
	if err := a.needData(dir); err != nil {
		return err
	}
	pub, retired, roots, err := a.verifyKeys(dir)
	if err != nil {
		return err
	}
	rep, err := ledger.VerifyDir(ctx, filepath.Join(dir, "ledger"), pub, roots, retired...)
	if err != nil {
		return &errExit{code: exitFailed, err: err}
	}
	if *asJSON {
		out := struct {
			LogID             string   `json:"log_id"`
			OK                bool     `json:"ok"`
			Records           uint64   `json:"records"`
			Checkpoints       int      `json:"checkpoints"`
			Root              string   `json:"root"`
			TimestampsChecked bool     `json:"timestamps_checked"`
			Problems          []string `json:"problems"`
		}{LogID: rep.LogID, OK: rep.OK(), Records: rep.Leaves, Checkpoints: rep.Checkpoints,
			Root: fmt.Sprintf("%x", rep.Root), TimestampsChecked: rep.TimestampsChecked, Problems: []string{}}
		for _, p := range rep.Problems {
			out.Problems = append(out.Problems, p.Error())
		}
		if err := a.printJSON(out); err != nil {
			return err
		}
		if !rep.OK() {
			return &errExit{code: exitFailed, err: fmt.Errorf("ledger does not verify: %d problem(s)", len(rep.Problems))}
		}
		return nil
	}
	fmt.Fprintf(a.stdout, "ledger %s: %d records, %d checkpoints, root %x, timestamps checked: %v\n",
		rep.LogID, rep.Leaves, rep.Checkpoints, rep.Root, rep.TimestampsChecked)
	for _, p := range rep.Problems {
		fmt.Fprintf(a.stdout, "  PROBLEM: %v\n", p)
	}
	if !rep.OK() {
		return &errExit{code: exitFailed, err: fmt.Errorf("ledger does not verify: %d problem(s)", len(rep.Problems))}
	}
	fmt.Fprintln(a.stdout, "ledger intact")
	return nil
}

// verifyKeys returns what checks the ledger of data directory dir without
// writing anything: the current and retired public keys (the private key
// is not needed and never made) and the TSA roots.
func (a *app) verifyKeys(dir string) (pub ed25519.PublicKey, retired []ed25519.PublicKey, roots *x509.CertPool, err error) {
	keys := filepath.Join(dir, "keys")
	pub, retired, err = evidence.LoadPublicKeys(keys)
	if err != nil {
		return nil, nil, nil, err
	}
	if pub == nil {
		sg, err := evidence.LoadSigner(keys, a.keyPassphrase())
		if err != nil {
			return nil, nil, nil, fmt.Errorf("no public key to verify the ledger with (%s is missing): %w", filepath.Join(keys, evidence.SignerPubFile), err)
		}
		pub = sg.PublicKey()
	}
	c, err := a.config()
	if err != nil {
		return nil, nil, nil, err
	}
	rootFile := c.TSA.RootFile
	if c.TSA.URL == "" {
		rootFile = filepath.Join(dir, "tsa", "root.pem")
	}
	if b, err := os.ReadFile(rootFile); err == nil {
		roots = x509.NewCertPool()
		roots.AppendCertsFromPEM(b)
	}
	return pub, retired, roots, nil
}

// readOnlyNotary opens the ledger of the data directory for reading only,
// for exporting from an archived data directory without write access:
// bundles carry proofs against the checkpoints already stored.
func (a *app) readOnlyNotary() (*evidence.Notary, error) {
	dir, err := a.dataDir()
	if err != nil {
		return nil, err
	}
	pub, retired, roots, err := a.verifyKeys(dir)
	if err != nil {
		return nil, err
	}
	lg, err := ledger.OpenReadOnly(filepath.Join(dir, "ledger"), pub, roots, retired...)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { _ = lg.Close() })
	// The co-signatures kept so far go into the bundles; nothing is
	// submitted from a read-only data directory.
	wn, err := witness.NewNode(lg, filepath.Join(dir, "ledger"), nil, witness.WithNodeLogger(a.logger))
	if err != nil {
		return nil, err
	}
	return &evidence.Notary{Ledger: lg, Witnesses: wn}, nil
}
