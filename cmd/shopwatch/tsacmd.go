package main

import (
	"context"
	"fmt"
	"path/filepath"

	"shopwatch/evidence/tsa"
)

func init() {
	register(command{name: "tsa", summary: "create the built-in time-stamping authority offline and install it", run: runTSA})
	verbSummaries["tsa init"] = "--offline DIR: create the authority's root and signing keys in DIR, on an offline machine"
	verbSummaries["tsa install"] = "DIR: install the signing certificate and key and the root certificate (not its key) from DIR"
}

func runTSA(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "tsa", args, map[string]func(context.Context, *app, []string) error{
		"init":    tsaInit,
		"install": tsaInstall,
	})
}

// tsaInit creates the built-in authority in a folder of its own, meant for
// an offline machine that keeps the root's private key. It does not touch
// the data directory.
func tsaInit(_ context.Context, a *app, args []string) error {
	fs := a.newFlags("tsa init", "tsa init --offline DIR [--org NAME]")
	offline := fs.Bool("offline", false, "create the authority in DIR, for an offline machine (required)")
	org := fs.String("org", "", "organisation in the certificates' names (default: office.name of the configuration, else shopwatch)")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if !*offline || len(pos) != 1 {
		return usagef("tsa init needs --offline DIR: the root key is made and kept offline; a node without one gets its authority from \"shopwatch tsa install DIR\"")
	}
	opts := []tsa.Option{tsa.WithLogger(a.logger)}
	if *org == "" {
		if c, err := a.config(); err == nil {
			*org = c.Office.Name
		}
	}
	if *org != "" {
		opts = append(opts, tsa.WithOrganization(*org))
	}
	dir := pos[0]
	if err := tsa.CreateOffline(dir, opts...); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "created the time-stamping authority in %s\n"+
		"keep %s offline; on each capture node run: shopwatch tsa install %s  (copies %s, %s and %s, not the root key)\n",
		dir, filepath.Join(dir, tsa.RootKeyFile), dir, tsa.RootCertFile, tsa.CertFile, tsa.KeyFile)
	return nil
}

// tsaInstall installs an authority made by tsa init --offline as the data
// directory's built-in authority, without the root's private key.
func tsaInstall(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("tsa install", "tsa install DIR")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("tsa install needs DIR, the folder tsa init --offline made")
	}
	dir, err := a.dataDir()
	if err != nil {
		return err
	}
	// A new node: the data directory is made here, as by its first sweep.
	if _, err := a.openDB(); err != nil {
		return err
	}
	c, err := a.config()
	if err != nil {
		return err
	}
	if c.TSA.URL != "" {
		a.logger.Warn("tsa.url is set: captures are timestamped by that authority, not the installed built-in one", "url", c.TSA.URL)
	}
	au, err := tsa.Install(pos[0], filepath.Join(dir, "tsa"), tsa.WithLogger(a.logger))
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("built-in time-stamping authority %q installed from %s, root %q; no root private key on this node",
		au.Certificate().Subject.CommonName, pos[0], au.Root().Subject.CommonName)
	if err := a.custody(ctx, "tsa.installed", detail); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, detail)
	return nil
}
