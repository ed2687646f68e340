package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"shopwatch"
	"shopwatch/configs"
	"shopwatch/crawler"
	"shopwatch/db"
	"shopwatch/evidence"
	"shopwatch/evidence/folderstore"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/miniostore"
	"shopwatch/evidence/spool"
	"shopwatch/evidence/tsa"
	"shopwatch/rules"
	"shopwatch/server"
	"shopwatch/server/notify"
)

// Config is the shopwatch configuration file.
type Config struct {
	Data      string `yaml:"data"`
	Operator  string `yaml:"operator"`
	Festivals string `yaml:"festivals"`
	Timezone  string `yaml:"timezone"` // of every time shown to people; JSON keeps the offset
	Sweep     struct {
		Workers      int           `yaml:"workers"`
		LeaseTTL     time.Duration `yaml:"lease_ttl"`
		VisitTimeout time.Duration `yaml:"visit_timeout"`
		MaxAttempts  int           `yaml:"max_attempts"`
		CaptureAll   bool          `yaml:"capture_all"`
		AutoBrowser  *bool         `yaml:"auto_browser"` // nil means true
		// DefaultInterval is how often serve sweeps a target without a
		// schedule; zero means 24h.
		DefaultInterval time.Duration `yaml:"default_interval"`
	} `yaml:"sweep"`
	// Live sets how livestream rooms on the browser path are watched.
	Live struct {
		Window        time.Duration `yaml:"window"`         // 0 renders rooms once
		SnapshotEvery time.Duration `yaml:"snapshot_every"` // timed screenshots
		Sample        time.Duration `yaml:"sample"`         // how often the visible text is read
		EndSelector   string        `yaml:"end_selector"`   // stop early once this CSS selector matches
	} `yaml:"live"`
	Crawler struct {
		UserAgent       string        `yaml:"user_agent"`
		Timeout         time.Duration `yaml:"timeout"`
		MaxBodySize     int64         `yaml:"max_body_size"`
		MaxRedirects    int           `yaml:"max_redirects"`
		PerHostParallel int           `yaml:"per_host_parallel"`
		PerHostDelay    time.Duration `yaml:"per_host_delay"`
		MaxParallel     int           `yaml:"max_parallel"`
		AllowPrivate    bool          `yaml:"allow_private"`
		Allow           []string      `yaml:"allow"`
		RecordRobots    *bool         `yaml:"record_robots"` // nil means true
		CAFile          string        `yaml:"ca_file"`
	} `yaml:"crawler"`
	Capture struct {
		AllowProxy             bool          `yaml:"allow_proxy"`
		StopOnEnvironmentFault bool          `yaml:"stop_on_environment_failure"`
		MaxClockOffset         time.Duration `yaml:"max_clock_offset"`
		// ClockSource is what the host clock is compared with: "auto"
		// (or empty), "tsa", "ntp" or "none" (see clockSource).
		ClockSource string `yaml:"clock_source"`
		NTPServer   string `yaml:"ntp_server"` // host or host:port
	} `yaml:"capture"`
	TSA struct {
		URL      string `yaml:"url"`
		RootFile string `yaml:"root_file"`
		// Trusted marks the external authority as a trusted third party:
		// reports then call its tokens 可信时间戳. nil means true when URL
		// is set; the built-in authority is never trusted.
		Trusted *bool `yaml:"trusted"`
		// MaxSkew is the largest gap between a manifest's captured_at and
		// its token's genTime that capture and evidence verify accept.
		MaxSkew time.Duration `yaml:"max_skew"`
	} `yaml:"tsa"`
	// Keys says where the passphrase of an encrypted signing key
	// (keys/signer.key.enc) comes from when the environment variable
	// SHOPWATCH_KEY_PASSPHRASE is not set: a file of mode 0600 whose
	// content, without a trailing newline, is the passphrase.
	Keys struct {
		PassphraseFile string `yaml:"passphrase_file"`
		// PKCS11 keeps the signing key in a PKCS#11 token instead of
		// keys/signer.key (see keys pkcs11-init). The user PIN comes
		// from PINFile (mode 0600) or the environment variable PINEnv
		// names, never from the command line.
		PKCS11 pkcs11Config `yaml:"pkcs11"`
	} `yaml:"keys"`
	// Witnesses co-sign the ledger's checkpoints (witness.go).
	Witnesses []WitnessEndpoint `yaml:"witnesses"`
	// Notify lists the webhooks told of new violations after each sweep
	// and of leads past their due date (企业微信 and 钉钉 robots, or JSON).
	Notify struct {
		Webhooks []notify.Hook `yaml:"webhooks"`
	} `yaml:"notify"`
	// Witness configures this node as a witness (witness serve).
	Witness WitnessServerConfig `yaml:"witness"`
	Browser struct {
		ExecPath string        `yaml:"exec_path"`
		Timeout  time.Duration `yaml:"timeout"`
		Settle   time.Duration `yaml:"settle"`
		Width    int           `yaml:"width"`
		Height   int           `yaml:"height"`
		// Tabs is how many pages render at once in the one browser
		// process; RecycleAfter restarts the process after that many.
		Tabs         int `yaml:"tabs"`
		RecycleAfter int `yaml:"recycle_after"`
	} `yaml:"browser"`
	Rules struct {
		Dir string `yaml:"dir"`
		// Enable lists rules that are off by default (price wording
		// during a festival campaign) to switch on for every command.
		Enable []string `yaml:"enable"`
	} `yaml:"rules"`
	Targets struct {
		// TrackingParams are the query parameters duplicate detection
		// ignores ("utm_*" matches a prefix); [] ignores none.
		TrackingParams []string `yaml:"tracking_params"`
	} `yaml:"targets"`
	Store struct {
		Kind   string `yaml:"kind"`
		Folder string `yaml:"folder"`
		MinIO  struct {
			Endpoint      string `yaml:"endpoint"`
			AccessKey     string `yaml:"access_key"`
			SecretKey     string `yaml:"secret_key"`
			Bucket        string `yaml:"bucket"`
			Secure        bool   `yaml:"secure"`
			ObjectLock    bool   `yaml:"object_lock"`
			RetentionMode string `yaml:"retention_mode"`
			RetentionDays int    `yaml:"retention_days"`
			MaxRetries    int    `yaml:"max_retries"`
		} `yaml:"minio"`
		Spool struct {
			Enabled        bool          `yaml:"enabled"`
			Dir            string        `yaml:"dir"`
			AttemptTimeout time.Duration `yaml:"attempt_timeout"`
			MinBackoff     time.Duration `yaml:"min_backoff"`
			MaxBackoff     time.Duration `yaml:"max_backoff"`
			DrainTimeout   time.Duration `yaml:"drain_timeout"`
		} `yaml:"spool"`
	} `yaml:"store"`
	// Office is the law-enforcement office the electronic data
	// extraction record of an exported bundle names; with the capturing
	// host its address is the place of extraction.
	Office struct {
		Name    string `yaml:"name"`
		Address string `yaml:"address"`
	} `yaml:"office"`
	// Officers are the officers the extraction record names when export
	// is given no --officer: "NAME:执法证号" each.
	Officers []string `yaml:"officers"`
}

// loadConfig reads the built-in defaults and then, when path is set, the
// file on top of them. Unknown keys and bad values are errors naming the
// file, line and key (see decodeConfig).
func loadConfig(path string) (*Config, error) {
	var c Config
	if err := decodeConfig("built-in", configs.DefaultConfig, &c); err != nil {
		return nil, err
	}
	if path == "" {
		return &c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := decodeConfig(path, b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// app holds what one command invocation opened.
type app struct {
	stdout, stderr io.Writer
	logger         *slog.Logger
	dataFlag       string
	configPath     string
	verbose        bool
	allowPrivate   bool // --allow-private: lift the URL guard
	allowLoopback  bool // the demo's own marketplace is on loopback

	notaryOnce *evidence.Notary
	started    bool           // the configuration was loaded and checked
	loc        *time.Location // the configured time zone, once looked up

	cfg *Config
	db  *db.DB
	// limiter holds the per-host and global request limits that the
	// static and the browser paths of one command share.
	limiter *crawler.Limiter
	// spool is the local spool in front of MinIO, when the store opened
	// one; spoolDrained says the command already waited for it.
	spool        *spool.Store
	spoolDrained bool
	closers      []func()
	// client is the API of the server that owns the database, once a
	// command found one running (workspace).
	client *server.Client
	// signerOnce is the signing key once a command opened it from a
	// PKCS#11 token (or the old key keys pkcs11-init seals with).
	signerOnce *evidence.Signer
}

func (a *app) logLevel() slog.Level {
	if a.verbose {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

func (a *app) config() (*Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	c, err := loadConfig(a.configPath)
	if err != nil {
		return nil, err
	}
	a.cfg = c
	return c, nil
}

// dataDir is --data, else the config's data, else ./shopwatch-data.
func (a *app) dataDir() (string, error) {
	if a.dataFlag != "" {
		return a.dataFlag, nil
	}
	c, err := a.config()
	if err != nil {
		return "", err
	}
	if c.Data != "" {
		return c.Data, nil
	}
	return "shopwatch-data", nil
}

func (a *app) openDB() (*db.DB, error) { return a.openDBMode(false) }

// openDBReadOnly opens the database for a command that only reads: bbolt
// opens the file read-only under a shared lock and nothing is written to
// the file or beside it. A missing data directory or database is an
// error; it is never created.
func (a *app) openDBReadOnly() (*db.DB, error) { return a.openDBMode(true) }

func (a *app) openDBMode(readOnly bool) (*db.DB, error) {
	if a.db != nil {
		if a.db.ReadOnly() && !readOnly {
			return nil, fmt.Errorf("open database %s: %w", a.db.Path(), db.ErrReadOnly)
		}
		return a.db, nil
	}
	dir, err := a.dataDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "shopwatch.db")
	if readOnly {
		if err := a.needData(dir); err != nil {
			return nil, err
		}
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database %s in the data directory (check --data): %w", path, err)
		}
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	var opts []db.Option
	if readOnly {
		opts = append(opts, db.ReadOnly())
	}
	d, err := db.Open(path, opts...)
	if errors.Is(err, db.ErrLocked) {
		if c, cerr := a.serverClient(context.Background()); cerr == nil && c != nil {
			return nil, serverOwnsDB(c, err)
		}
	}
	if errors.Is(err, db.ErrDamaged) {
		return nil, fmt.Errorf("%w\n%s", err, damagedHint)
	}
	if err != nil {
		return nil, err
	}
	if c, err := a.config(); err == nil {
		d.SetTrackingParams(c.Targets.TrackingParams)
	}
	a.db = d
	a.closers = append(a.closers, func() { _ = d.Close() })
	return d, nil
}

// damagedHint says what to do about a damaged database file.
const damagedHint = `Nothing was written to it. Restore shopwatch.db from a backup ("shopwatch db backup" makes one),
or see what is wrong with "shopwatch db check" and copy every readable record into a new file
with "shopwatch db salvage --out NEW.db".`

// needData refuses a data directory that does not exist, for commands
// that only read one.
func (a *app) needData(dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("data directory %s does not exist (check --data; this command only reads and does not create one): %w", dir, err)
	}
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	return nil
}

func (a *app) store(ctx context.Context) (evidence.Store, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	switch c.Store.Kind {
	case "", "folder":
		dir := c.Store.Folder
		if dir == "" {
			d, err := a.dataDir()
			if err != nil {
				return nil, err
			}
			dir = filepath.Join(d, "store")
		}
		return folderstore.New(dir)
	case "minio":
		m := c.Store.MinIO
		mcfg := miniostore.Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey, Bucket: m.Bucket,
			Secure: m.Secure, MaxRetries: m.MaxRetries}
		if m.ObjectLock {
			mcfg.ObjectLock, mcfg.RetentionMode, mcfg.RetentionDays = true, m.RetentionMode, m.RetentionDays
		}
		if !c.Store.Spool.Enabled {
			return miniostore.New(ctx, mcfg)
		}
		return a.spooled(mcfg)
	default:
		return nil, fmt.Errorf("config: unknown store kind %q (want folder or minio)", c.Store.Kind)
	}
}

// spooled puts a local spool in front of MinIO: captures never wait on an
// outage, and spooled objects upload in the background (digests re-checked)
// while the command runs; what is left uploads on the next run.
func (a *app) spooled(mcfg miniostore.Config) (evidence.Store, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	ms, err := miniostore.Open(mcfg) // no network yet: starts while MinIO is down
	if err != nil {
		return nil, err
	}
	sc := c.Store.Spool
	dir, err := a.spoolDir()
	if err != nil {
		return nil, err
	}
	minB, maxB, attempt := sc.MinBackoff, sc.MaxBackoff, sc.AttemptTimeout
	if minB <= 0 {
		minB = time.Second
	}
	if maxB <= 0 {
		maxB = time.Minute
	}
	if attempt <= 0 {
		attempt = 30 * time.Second
	}
	sp, err := spool.New(dir, ms, spool.WithAttemptTimeout(attempt), spool.WithBackoff(minB, maxB))
	if err != nil {
		return nil, err
	}
	a.spool = sp
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sp.Run(runCtx) }()
	a.closers = append(a.closers, func() {
		stop()
		<-done
		if a.spoolDrained { // waited for and reported already
			_ = sp.Close()
			return
		}
		fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := sp.Flush(fctx); err != nil {
			es, _ := sp.Pending()
			a.logger.Warn("evidence left in the spool; it uploads on the next run", "dir", sp.Dir(), "pending", len(es), "err", err)
		}
		_ = sp.Close()
	})
	return sp, nil
}

// signer loads the node's signing key from <data>/keys. A new key is made
// only for a data directory that never had one: when the key is missing
// or damaged where evidence was signed before, it refuses and says how to
// restore or rotate it.
func (a *app) signer() (*evidence.Signer, error) {
	if a.signerOnce != nil {
		return a.signerOnce, nil
	}
	if c, err := a.config(); err != nil {
		return nil, err
	} else if c.Keys.PKCS11.Module != "" {
		return a.tokenSigner()
	}
	d, err := a.dataDir()
	if err != nil {
		return nil, err
	}
	keys := filepath.Join(d, "keys")
	s, err := evidence.LoadSigner(keys, a.keyPassphrase())
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, evidence.ErrNeedPassphrase), errors.Is(err, evidence.ErrWrongPassphrase):
		return nil, err
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w\nThe signing key is never replaced on its own: restore %s from your backup, "+
			"or run \"shopwatch keys rotate\" to retire it and make a new one (what it signed still verifies)", err, keys)
	}
	if why := signedBefore(d); why != "" {
		return nil, fmt.Errorf("signing key %s is missing, but %s. A new key is not made on its own: restore signer.key "+
			"from your backup into %s, or, if it is lost, run \"shopwatch keys rotate\" to make a new key "+
			"(the old public key is kept, so what it signed still verifies): %w", filepath.Join(keys, evidence.SignerKeyFile), why, keys, err)
	}
	return evidence.LoadOrCreateSigner(keys)
}

// passphraseEnv is the environment variable that holds the passphrase of
// an encrypted signing key. The passphrase is never a command-line value.
const passphraseEnv = "SHOPWATCH_KEY_PASSPHRASE"

// keyPassphrase gives LoadSigner the passphrase of an encrypted signing
// key: from SHOPWATCH_KEY_PASSPHRASE, else from the file keys.passphrase_file
// of the configuration. It is read only when the key is encrypted.
func (a *app) keyPassphrase() evidence.LoadOption {
	return evidence.WithPassphrase(a.readPassphrase)
}

func (a *app) readPassphrase() ([]byte, error) {
	if p, ok := os.LookupEnv(passphraseEnv); ok && p != "" {
		return []byte(p), nil
	}
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	f := c.Keys.PassphraseFile
	if f == "" {
		return nil, fmt.Errorf("set %s or keys.passphrase_file in the configuration: %w", passphraseEnv, evidence.ErrNeedPassphrase)
	}
	return readSecretFile("keys.passphrase_file", f)
}

// readSecretFile reads a passphrase or PIN file named by the setting key:
// its content without a trailing newline. It refuses a file that others
// may read and an empty one.
func readSecretFile(key, f string) ([]byte, error) {
	st, err := os.Stat(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s %s: mode %v lets others read it; run chmod 600 on it", key, f, st.Mode().Perm())
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil, fmt.Errorf("%s %s is empty", key, f)
	}
	return b, nil
}

// signedBefore says why the data directory d has had a signing key, or ""
// when it never had one.
func signedBefore(d string) string {
	keys := filepath.Join(d, "keys")
	if _, err := os.Stat(filepath.Join(keys, evidence.SignerPubFile)); err == nil {
		return fmt.Sprintf("its public key %s is still there", filepath.Join(keys, evidence.SignerPubFile))
	}
	if es, _ := os.ReadDir(filepath.Join(keys, evidence.RetiredKeysDir)); len(es) > 0 {
		return "keys were rotated here before"
	}
	for _, name := range []string{ledger.LeavesFile, ledger.CheckpointsFile} {
		if st, err := os.Stat(filepath.Join(d, "ledger", name)); err == nil && st.Size() > 0 {
			return "the ledger already holds records signed with it"
		}
	}
	return ""
}

func (a *app) ruleset() (*rules.RuleSet, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	var rs *rules.RuleSet
	if c.Rules.Dir != "" {
		rs, err = rules.LoadDir(c.Rules.Dir)
	} else {
		rs, err = rules.Default()
	}
	if err != nil || len(c.Rules.Enable) == 0 {
		return rs, err
	}
	rs, err = rs.Enable(c.Rules.Enable...)
	if err != nil {
		return nil, fmt.Errorf("config rules.enable: %w", err)
	}
	return rs, nil
}

func (a *app) crawlerConfig() (crawler.Config, error) {
	c, err := a.config()
	if err != nil {
		return crawler.Config{}, err
	}
	cc := crawler.DefaultConfig()
	k := c.Crawler
	if k.UserAgent != "" {
		cc.UserAgent = k.UserAgent
	}
	if k.Timeout > 0 {
		cc.Timeout = k.Timeout
	}
	if k.MaxBodySize > 0 {
		cc.MaxBodySize = k.MaxBodySize
	}
	if k.MaxRedirects > 0 {
		cc.MaxRedirects = k.MaxRedirects
	}
	if k.PerHostParallel > 0 {
		cc.PerHostParallel = k.PerHostParallel
	}
	cc.PerHostDelay = k.PerHostDelay
	if k.MaxParallel > 0 {
		cc.MaxParallel = k.MaxParallel
	}
	if a.limiter == nil {
		a.limiter = crawler.NewLimiter(cc.PerHostParallel, cc.MaxParallel, cc.PerHostDelay)
	}
	cc.Limiter = a.limiter
	cc.AllowPrivate = k.AllowPrivate || a.allowPrivate
	cc.Allow = append(cc.Allow, k.Allow...)
	if a.allowLoopback {
		cc.AllowLoopback()
	}
	// robots.txt is recorded with the evidence; it never blocks an
	// inspection.
	cc.RecordRobots = k.RecordRobots == nil || *k.RecordRobots
	if k.CAFile != "" {
		pemBytes, err := os.ReadFile(k.CAFile)
		if err != nil {
			return crawler.Config{}, fmt.Errorf("crawler.ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pemBytes) {
			return crawler.Config{}, fmt.Errorf("crawler.ca_file %s: no PEM certificate in it", k.CAFile)
		}
		cc.RootCAs = pool
	}
	return cc, nil
}

func (a *app) fetcher() (*crawler.Fetcher, error) {
	cc, err := a.crawlerConfig()
	if err != nil {
		return nil, err
	}
	return crawler.New(cc)
}

// browser returns the browser path, started on first use and stopped when
// the command ends.
func (a *app) browser() (*crawler.LazyBrowser, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	bc := crawler.DefaultBrowserConfig()
	k := c.Browser
	if k.ExecPath != "" {
		bc.ExecPath = k.ExecPath
	}
	if k.Timeout > 0 {
		bc.Timeout = k.Timeout
	}
	if k.Settle > 0 {
		bc.Settle = k.Settle
	}
	if k.Width > 0 && k.Height > 0 {
		bc.Width, bc.Height = k.Width, k.Height
	}
	if c.Crawler.UserAgent != "" {
		bc.UserAgent = c.Crawler.UserAgent
	}
	if k.Tabs > 0 {
		bc.Tabs = k.Tabs
	}
	if k.RecycleAfter > 0 {
		bc.RecycleAfter = k.RecycleAfter
	}
	bc.AllowPrivate = c.Crawler.AllowPrivate || a.allowPrivate
	bc.Allow = append(bc.Allow, c.Crawler.Allow...)
	if a.allowLoopback {
		bc.AllowLoopback()
	}
	// One set of per-host limits for both paths.
	cc, err := a.crawlerConfig()
	if err != nil {
		return nil, err
	}
	bc.Limiter = cc.Limiter
	lb := crawler.NewLazyBrowser(bc)
	a.closers = append(a.closers, func() { _ = lb.Close() })
	return lb, nil
}

// notary returns what seals captures: the configured RFC 3161 authority
// (the built-in one under <data>/tsa by default) and the ledger under
// <data>/ledger, opened once per command.
func (a *app) notary() (*evidence.Notary, error) {
	if a.notaryOnce != nil {
		return a.notaryOnce, nil
	}
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	d, err := a.dataDir()
	if err != nil {
		return nil, err
	}
	sg, err := a.signer()
	if err != nil {
		return nil, err
	}
	var ts evidence.Timestamper
	var rootPEM []byte
	var roots *x509.CertPool
	if c.TSA.URL == "" {
		au, err := tsa.LoadOrCreateAuthority(filepath.Join(d, "tsa"))
		if err != nil {
			return nil, err
		}
		ts, rootPEM, roots = au, au.RootPEM(), au.Roots()
	} else {
		if c.TSA.RootFile == "" {
			return nil, fmt.Errorf("config: tsa.url %s needs tsa.root_file, the PEM root its certificates chain to", c.TSA.URL)
		}
		if rootPEM, err = os.ReadFile(c.TSA.RootFile); err != nil {
			return nil, fmt.Errorf("config: tsa.root_file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(rootPEM) {
			return nil, fmt.Errorf("config: tsa.root_file %s holds no PEM certificate", c.TSA.RootFile)
		}
		ts = &tsa.Client{URL: c.TSA.URL, TrustedRoots: roots}
	}
	_, retired, err := evidence.LoadPublicKeys(filepath.Join(d, "keys"))
	if err != nil {
		return nil, err
	}
	adb, err := a.openDB()
	if err != nil {
		return nil, err
	}
	lg, err := ledger.Open(filepath.Join(d, "ledger"), sg, ts, ledger.WithTSARoots(roots), ledger.WithRetiredKeys(retired...),
		ledger.WithAuditHead(auditHeadOf(adb)))
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { _ = lg.Close() })
	a.notaryOnce = &evidence.Notary{TSA: ts, TSARoot: rootPEM, Ledger: lg, MaxSkew: c.TSA.MaxSkew}
	if a.notaryOnce.Witnesses, err = a.witnessNode(lg, filepath.Join(d, "ledger")); err != nil {
		return nil, err
	}
	return a.notaryOnce, nil
}

// trustedTSARoots returns the fingerprints of the roots of the authority
// the configuration marks as trusted: the external one (tsa.url), unless
// tsa.trusted is false. The built-in authority is never trusted.
func (a *app) trustedTSARoots() ([]string, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	if c.TSA.URL == "" || (c.TSA.Trusted != nil && !*c.TSA.Trusted) {
		return nil, nil
	}
	b, err := os.ReadFile(c.TSA.RootFile)
	if err != nil {
		return nil, fmt.Errorf("config: tsa.root_file: %w", err)
	}
	roots, err := evidence.TrustedRootsOf(b)
	if err != nil {
		return nil, fmt.Errorf("config: tsa.root_file %s: %w", c.TSA.RootFile, err)
	}
	fps := make([]string, len(roots))
	for i, r := range roots {
		fps[i] = r.Fingerprint
	}
	return fps, nil
}

// printJSON writes v as indented JSON.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func findingLine(f shopwatch.Finding) string {
	m := f.Match
	if m == "" {
		m = "(absent)"
	}
	return fmt.Sprintf("%-9s %-30s %-14s %s  %s %s", f.Severity, f.Rule, m, f.URL, f.Law, f.Article)
}
