package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"shopwatch/evidence"
	"shopwatch/evidence/tsa"
)

func init() {
	register(command{name: "trust", summary: "write the trust file an office publishes", run: runTrust})
	verbSummaries["trust export"] = "write trust.yaml: the office's signer keys with their validity, its TSA root fingerprints and its witnesses' key ids"
}

func runTrust(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "trust", args, map[string]func(context.Context, *app, []string) error{
		"export": trustExport,
	})
}

// trustExport writes the trust file of the data directory: every signer
// key (current and retired) with the period it was in use, and the root
// of the configured RFC 3161 authority. It only reads the data directory.
func trustExport(_ context.Context, a *app, args []string) error {
	fs := a.newFlags("trust export", "trust export --office NAME [-o FILE]")
	office := fs.String("office", "", "the office that publishes the file (required)")
	out := fs.String("o", "", "file to write (default: standard output)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("trust export takes no arguments (got %q)", pos[0])
	}
	if *office == "" {
		return usagef("trust export needs --office NAME, the office that publishes the file")
	}
	tf, err := a.officeTrust(*office)
	if err != nil {
		return err
	}
	b := tf.Marshal()
	if _, err := evidence.ParseTrustFile(b); err != nil {
		return fmt.Errorf("trust export: %w", err)
	}
	if *out == "" {
		_, err := a.stdout.Write(b)
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return fmt.Errorf("trust export: %w", err)
	}
	fmt.Fprintln(a.stdout, *out)
	return nil
}

// officeTrust is the trust file of this node for office: its signer keys
// with their periods, its authority's root and its witnesses.
func (a *app) officeTrust(office string) (*evidence.TrustFile, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	dir, err := a.dataDir()
	if err != nil {
		return nil, err
	}
	if err := a.needData(dir); err != nil {
		return nil, err
	}
	keys, err := evidence.TrustedKeysOf(filepath.Join(dir, "keys"))
	if err != nil {
		return nil, err
	}
	rootFile := c.TSA.RootFile
	if c.TSA.URL == "" {
		rootFile = filepath.Join(dir, "tsa", tsa.RootCertFile)
		a.logger.Warn("the trust file pins the built-in authority's root: its tokens are self-issued by the capture node, " +
			"so they date nothing that node's keys could not re-date; configure an external authority (tsa.url)")
	}
	rootPEM, err := os.ReadFile(rootFile)
	if err != nil {
		return nil, fmt.Errorf("trust export: TSA root: %w", err)
	}
	roots, err := evidence.TrustedRootsOf(rootPEM)
	if err != nil {
		return nil, fmt.Errorf("trust export: %s: %w", rootFile, err)
	}
	tf := &evidence.TrustFile{Version: evidence.TrustFileVersion, Office: office, SignerKeys: keys, TSARoots: roots}
	for _, w := range c.Witnesses {
		tf.WitnessKeys = append(tf.WitnessKeys, evidence.TrustedWitness{ID: w.KeyID, Name: cmp.Or(w.Name, w.URL)})
	}
	return tf, nil
}
