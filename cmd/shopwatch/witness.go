package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
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
	register(command{name: "witness", summary: "co-sign other nodes' ledger checkpoints as a witness", run: runWitness})
	verbSummaries["witness init"] = "create the witness key and print its id (for the capture node's config and trust file)"
	verbSummaries["witness serve"] = "--listen ADDR --log-key FILE: co-sign checkpoints that extend the ones seen before"
}

// WitnessEndpoint is a witness a capture node submits its checkpoints to.
type WitnessEndpoint struct {
	URL   string `yaml:"url"`    // e.g. http://127.0.0.1:8455
	KeyID string `yaml:"key_id"` // ed25519:<16 hex>, as witness init printed
	Name  string `yaml:"name"`   // for people and trust export
}

// WitnessServerConfig configures witness serve.
type WitnessServerConfig struct {
	Dir     string   `yaml:"dir"`      // default <data>/witness
	Listen  string   `yaml:"listen"`   // default 127.0.0.1:8455
	LogKeys []string `yaml:"log_keys"` // PEM public keys (signer.pub) of the logs it co-signs
	// TSARoots are PEM files of TSA roots; when set, every checkpoint
	// must carry a token under them dated within MaxSkew of its time.
	TSARoots []string      `yaml:"tsa_roots"`
	MaxSkew  time.Duration `yaml:"max_skew"` // default 10m
}

func runWitness(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "witness", args, map[string]func(context.Context, *app, []string) error{
		"init":  witnessInit,
		"serve": witnessServe,
	})
}

// witnessDir is the witness's folder: --dir, else witness.dir of the
// configuration, else <data>/witness.
func (a *app) witnessDir(flagDir string) (string, error) {
	if flagDir != "" {
		return flagDir, nil
	}
	c, err := a.config()
	if err != nil {
		return "", err
	}
	if c.Witness.Dir != "" {
		return c.Witness.Dir, nil
	}
	d, err := a.dataDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "witness"), nil
}

func witnessInit(_ context.Context, a *app, args []string) error {
	fs := a.newFlags("witness init", "witness init [--dir DIR]")
	dir := fs.String("dir", "", "the witness's folder (default: witness.dir of the config, else DATA/witness)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("witness init takes no arguments (got %q)", pos[0])
	}
	d, err := a.witnessDir(*dir)
	if err != nil {
		return err
	}
	s, err := witness.Init(d)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, s.KeyID())
	return nil
}

// stringList is a flag that may be given many times.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func witnessServe(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("witness serve", "witness serve [--listen 127.0.0.1:8455] [--dir DIR] --log-key FILE [--log-key FILE…] [--tsa-root FILE…] [--max-skew 10m]")
	listen := fs.String("listen", "", "address to listen on (default: witness.listen of the config, else 127.0.0.1:8455)")
	dir := fs.String("dir", "", "the witness's folder (default: witness.dir of the config, else DATA/witness)")
	var keyFiles stringList
	fs.Var(&keyFiles, "log-key", "PEM public key (a capture node's keys/signer.pub) whose checkpoints it co-signs; repeatable")
	var rootFiles stringList
	fs.Var(&rootFiles, "tsa-root", "PEM file of TSA roots: co-sign only checkpoints whose timestamp token chains to them and is dated within --max-skew of the checkpoint; repeatable")
	maxSkew := fs.Duration("max-skew", 0, "how far a checkpoint may be dated ahead of this clock, and from its token (default: witness.max_skew of the config, else 10m)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("witness serve takes no arguments (got %q)", pos[0])
	}
	c, err := a.config()
	if err != nil {
		return err
	}
	if len(keyFiles) == 0 {
		keyFiles = c.Witness.LogKeys
	}
	if len(keyFiles) == 0 {
		return usagef("witness serve needs --log-key FILE (or witness.log_keys in the config): the public keys of the logs it co-signs")
	}
	if *listen == "" {
		*listen = c.Witness.Listen
	}
	if *listen == "" {
		*listen = "127.0.0.1:8455"
	}
	var keys []ed25519.PublicKey
	for _, f := range keyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("witness log key: %w", err)
		}
		k, err := evidence.ParsePublicKeyPEM(b)
		if err != nil {
			return fmt.Errorf("witness log key %s: %w", f, err)
		}
		keys = append(keys, k)
	}
	d, err := a.witnessDir(*dir)
	if err != nil {
		return err
	}
	opts := []witness.Option{witness.WithLogger(a.logger)}
	if len(rootFiles) == 0 {
		rootFiles = c.Witness.TSARoots
	}
	if len(rootFiles) > 0 {
		roots := x509.NewCertPool()
		for _, f := range rootFiles {
			b, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("witness TSA root: %w", err)
			}
			if !roots.AppendCertsFromPEM(b) {
				return usagef("--tsa-root %s holds no PEM certificate", f)
			}
		}
		opts = append(opts, witness.WithTSARoots(roots))
	}
	if *maxSkew == 0 {
		*maxSkew = c.Witness.MaxSkew
	}
	if *maxSkew < 0 {
		return usagef("--max-skew must not be negative")
	}
	if *maxSkew > 0 {
		opts = append(opts, witness.WithMaxSkew(*maxSkew))
	}
	w, err := witness.Open(d, keys, opts...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("witness serve: %w", err)
	}
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = ledger.KeyID(k)
	}
	fmt.Fprintf(a.stdout, "witness %s listening on http://%s, co-signing logs of keys %s\n", w.KeyID(), ln.Addr(), strings.Join(ids, ", "))
	a.logger.Info("witness serving", "witness_key", w.KeyID(), "addr", ln.Addr().String(), "dir", d)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("witness serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("witness serve: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("witness serve: %w", err)
	}
	return nil
}

// witnessNode returns what submits the ledger's checkpoints to the
// configured witnesses and keeps their co-signatures, or nil when none is
// configured.
func (a *app) witnessNode(lg *ledger.Log, ledgerDir string) (evidence.Witnesses, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	if len(c.Witnesses) == 0 {
		return nil, nil
	}
	var clients []*witness.Client
	for i, w := range c.Witnesses {
		if w.URL == "" || !strings.HasPrefix(w.KeyID, "ed25519:") {
			return nil, fmt.Errorf("config: witnesses[%d]: needs url and key_id (ed25519:<16 hex>, as witness init printed)", i)
		}
		clients = append(clients, &witness.Client{URL: w.URL, KeyID: w.KeyID})
	}
	n, err := witness.NewNode(lg, ledgerDir, clients, witness.WithNodeLogger(a.logger))
	if err != nil {
		return nil, err
	}
	return n, nil
}

// auditHeadOf returns what names the head of d's audit log in every new
// ledger checkpoint.
func auditHeadOf(d *db.DB) func(context.Context) (ledger.AuditHead, error) {
	return func(ctx context.Context) (ledger.AuditHead, error) {
		n, h, err := d.AuditHead(ctx)
		return ledger.AuditHead{Size: n, Hash: h}, err
	}
}

// auditSeal is the latest ledger checkpoint that recorded the audit
// log's head: entries 1 to Size of the audit log are sealed by it.
type auditSeal struct {
	Seq, Size uint64
	Time      time.Time
}

// checkAuditHead compares the audit log with the head the latest ledger
// checkpoint recorded and returns that checkpoint (nil when none records
// one, or the data directory has no ledger); the error wraps
// db.ErrAuditTruncated when entries the checkpoint sealed are gone or
// rewritten.
func (a *app) checkAuditHead(ctx context.Context, d *db.DB) (*auditSeal, error) {
	dir, err := a.dataDir()
	if err != nil {
		return nil, err
	}
	ldir := filepath.Join(dir, "ledger")
	if _, err := os.Stat(filepath.Join(ldir, ledger.HeaderFile)); err != nil {
		return nil, nil
	}
	pub, retired, roots, err := a.verifyKeys(dir)
	if err != nil {
		return nil, err
	}
	lg, err := ledger.OpenReadOnly(ldir, pub, roots, retired...)
	if err != nil {
		return nil, fmt.Errorf("audit log head: %w", err)
	}
	defer lg.Close()
	cps := lg.Checkpoints()
	for i := len(cps) - 1; i >= 0; i-- {
		if h := cps[i].Audit; h != nil {
			if err := d.VerifyAuditHead(ctx, h.Size, h.Hash); err != nil {
				return nil, fmt.Errorf("ledger checkpoint %d (size %d): %w", cps[i].Seq, cps[i].Size, err)
			}
			return &auditSeal{Seq: cps[i].Seq, Size: h.Size, Time: cps[i].Time}, nil
		}
	}
	return nil, nil
}
