package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"shopwatch/db"
	"shopwatch/evidence"
	"shopwatch/evidence/ledger"
)

func init() {
	register(command{name: "audit", summary: "list and verify the hash-chained audit log (chain of custody)", run: runAudit})
}

func runAudit(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "audit", args, map[string]func(context.Context, *app, []string) error{
		"list":   auditList,
		"verify": auditVerify,
	})
}

func auditList(ctx context.Context, a *app, args []string) error {
	return listing(a, "audit list", args, nil,
		func(d *db.DB) ([]db.AuditEntry, error) { return d.ListAudit(ctx, 0, 0) },
		func(w io.Writer, es []db.AuditEntry) {
			fmt.Fprintln(w, "SEQ\tTIME\tACTOR\tACTION\tDETAIL")
			for _, e := range es {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.UTC().Format(time.RFC3339), e.Actor, e.Action, e.Detail)
			}
		})
}

func auditVerify(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("audit verify", "audit verify")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	d, err := a.openDBReadOnly()
	if err != nil {
		return err
	}
	if err := d.VerifyAudit(ctx); err != nil {
		return &errExit{code: exitFailed, err: err}
	}
	es, err := d.ListAudit(ctx, 0, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "audit log intact: %d entries, hash chain unbroken\n", len(es))
	return nil
}

// custody records a chain-of-custody event in the audit log: who (the
// operator, else the system user), what, and from which host.
func (a *app) custody(ctx context.Context, action, detail string) error {
	d, err := a.openDB()
	if err != nil {
		return err
	}
	who := ""
	if c, err := a.config(); err == nil {
		who = c.Operator
	}
	if who == "" {
		if u, err := user.Current(); err == nil {
			who = u.Username
		}
	}
	host, _ := os.Hostname()
	return d.RecordAudit(db.WithActor(ctx, who), action, detail+" on "+host)
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
	if len(args) == 0 || args[0] != "verify" {
		return usagef("evidence ledger needs the verb verify")
	}
	fs := a.newFlags("evidence ledger verify", "evidence ledger verify")
	if _, err := parse(fs, args[1:]); err != nil {
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
		sg, err := evidence.LoadSigner(keys)
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
	return &evidence.Notary{Ledger: lg}, nil
}
