package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/evidence"
)

func init() {
	register(command{name: "evidence", summary: "list, export and verify evidence bundles", run: runEvidence})
}

func runEvidence(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "evidence", args, map[string]func(context.Context, *app, []string) error{
		"list":   evidenceList,
		"export": evidenceExport,
		"verify": evidenceVerify,
		"ledger": evidenceLedger,
	})
}

func evidenceList(ctx context.Context, a *app, args []string) error {
	return listing(a, "evidence list", args, nil,
		func(d *db.DB) ([]shopwatch.EvidenceRecord, error) { return d.ListEvidence(ctx) },
		func(w io.Writer, recs []shopwatch.EvidenceRecord) {
			fmt.Fprintln(w, "ID\tCAPTURED\tFINDINGS\tARTIFACTS\tURL")
			for _, r := range recs {
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\n", r.ID, r.CapturedAt.UTC().Format(time.RFC3339), r.Findings, len(r.Artifacts), r.URL)
			}
		})
}

func evidenceExport(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("evidence export", "evidence export ID -o FILE.zip")
	out := fs.String("o", "", "bundle file to write (default ID.zip)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("evidence export needs one evidence id")
	}
	d, err := a.openDB()
	if err != nil {
		return err
	}
	rec, err := d.GetEvidence(ctx, pos[0])
	if err != nil {
		return err
	}
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	path := *out
	if path == "" {
		path = rec.ID + ".zip"
	}
	nt, err := a.notary()
	if err != nil {
		return err
	}
	if err := exportBundle(ctx, st, rec, path, nt); err != nil {
		return err
	}
	if err := a.custody(ctx, "evidence.exported", fmt.Sprintf("%s (manifest %s) to %s", rec.ID, rec.ManifestDigest, path)); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, path)
	return nil
}

// exportBundle writes the bundle to a temporary file beside path and renames
// it into place, so a failed export never leaves a half-written bundle.
func exportBundle(ctx context.Context, st evidence.Store, rec *shopwatch.EvidenceRecord, path string, nt *evidence.Notary) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("export %s: %s already exists; bundles are not overwritten", rec.ID, path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bundle-*.zip")
	if err != nil {
		return fmt.Errorf("export %s: %w", rec.ID, err)
	}
	defer os.Remove(tmp.Name())
	if err := evidence.Export(ctx, st, rec, tmp, evidence.WithNotary(nt)); err != nil {
		tmp.Close()
		return fmt.Errorf("export %s: %w", rec.ID, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("export %s: %w", rec.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("export %s: %w", rec.ID, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("export %s: %w", rec.ID, err)
	}
	return nil
}

func evidenceVerify(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("evidence verify", "evidence verify BUNDLE.zip [--tsa-root FILE] [--trusted-key ID] [--allow-unsealed] [--json]")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	tsaRoot := fs.String("tsa-root", "", "PEM file of the TSA root(s) to trust instead of the bundled tsa-root.pem")
	trusted := fs.String("trusted-key", "", "comma-separated signer key ids (ed25519:…) to require")
	unsealed := fs.Bool("allow-unsealed", false, "accept a bundle without timestamp and ledger proof")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("evidence verify needs one bundle file")
	}
	var opts []evidence.VerifyOption
	if *tsaRoot != "" {
		pemBytes, err := os.ReadFile(*tsaRoot)
		if err != nil {
			return fmt.Errorf("read TSA root: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return usagef("--tsa-root %s holds no PEM certificate", *tsaRoot)
		}
		opts = append(opts, evidence.WithTSARoots(pool))
	}
	if *trusted != "" {
		opts = append(opts, evidence.WithTrustedKeys(splitTags(*trusted)...))
	}
	if *unsealed {
		opts = append(opts, evidence.AllowUnsealed())
	}
	rep, err := evidence.VerifyBundle(pos[0], opts...)
	if err != nil {
		return &errExit{code: exitFailed, err: err}
	}
	verdict := "verified"
	if !rep.OK() {
		verdict = fmt.Sprintf("failed (%d problems)", len(rep.Problems))
	}
	if err := a.custodyIfData(ctx, "evidence.verified", fmt.Sprintf("%s: %s %s", pos[0], rep.EvidenceID, verdict)); err != nil {
		a.logger.Warn("verification not recorded in the audit log", "err", err)
	}
	if *asJSON {
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else {
		rep.WriteText(a.stdout)
	}
	if !rep.OK() {
		return &errExit{code: exitFailed, err: fmt.Errorf("%s: verification failed", pos[0])}
	}
	return nil
}
