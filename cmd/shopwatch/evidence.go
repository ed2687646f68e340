package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"shopwatch"
	"shopwatch/evidence"
	"shopwatch/evidence/pdf"
	"shopwatch/evidence/tsa"
	"shopwatch/rules/licence"
)

func init() {
	register(command{name: "evidence", summary: "list, export and verify evidence bundles", run: runEvidence})
	verbSummaries["evidence list"] = "list evidence records"
	verbSummaries["evidence export"] = "write one evidence record as a bundle (zip or WACZ)"
	verbSummaries["evidence verify"] = "verify a bundle offline; exit 1 naming every broken item"
	verbSummaries["evidence ledger"] = "verify the append-only ledger (evidence ledger verify)"
	verbSummaries["evidence ledger verify"] = "verify every ledger record and checkpoint"
}

func runEvidence(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "evidence", args, map[string]func(context.Context, *app, []string) error{
		"list":   evidenceList,
		"export": evidenceExport,
		"verify": evidenceVerify,
		"ledger": evidenceLedger,

		"partial": evidencePartial, // cmd/shopwatch/partial.go
	})
}

func evidenceList(ctx context.Context, a *app, args []string) error {
	var since, target string
	return listing(a, "evidence list", args,
		func(fs *flag.FlagSet) {
			fs.StringVar(&since, "since", "", "only records captured since then: 7d, 24h, a date (2006-01-02) or a time")
			fs.StringVar(&target, "target", "", "only records of this target (id or URL)")
		},
		func() (workspace, error) { return a.workspace(ctx, true) },
		func(w workspace) ([]shopwatch.EvidenceRecord, error) {
			from, err := a.parseSince("since", since, time.Now())
			if err != nil {
				return nil, err
			}
			targetID, err := a.resolveTarget(ctx, w, target)
			if err != nil {
				return nil, err
			}
			recs, err := w.ListEvidence(ctx)
			if err != nil {
				return nil, err
			}
			out := recs[:0]
			for _, r := range recs {
				if (targetID == "" || r.TargetID == targetID) && (from.IsZero() || !r.CapturedAt.Before(from)) {
					out = append(out, r)
				}
			}
			return out, nil
		},
		func(w io.Writer, recs []shopwatch.EvidenceRecord) {
			fmt.Fprintf(w, "ID\t%s\tTARGET\tFINDINGS\tARTIFACTS\tURL\n", a.timeHeader("CAPTURED"))
			for _, r := range recs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\n", r.ID, a.localTime(r.CapturedAt), cell(r.TargetID), r.Findings, len(r.Artifacts), r.URL)
			}
		})
}

func evidenceExport(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("evidence export", "evidence export ID [-o FILE.zip|FILE.wacz] [--no-pdf] [--case NO --cause TEXT --officer NAME:NO --officer NAME:NO] [--party NAME] [--uscc CODE] [--by NAME] [--key DIR]")
	out := fs.String("o", "", "bundle file to write (default ID.zip; .wacz works as well)")
	noPDF := fs.Bool("no-pdf", false, "leave report.pdf out instead of printing it with Chromium")
	caseNo := fs.String("case", "", "case number (案件编号): the report's extraction record becomes the record of this case, which needs --cause and two officers")
	cause := fs.String("cause", "", "cause of action (案由) of the case, with --case")
	var officers []evidence.Officer
	fs.Func("officer", "an officer the extraction record names, NAME:NO (name and 执法证号); once per officer (default: officers in the config)", func(s string) error {
		o, err := evidence.ParseOfficer(s)
		officers = append(officers, o)
		return err
	})
	partyName := fs.String("party", "", "the party's name (当事人), when the page's licence block does not show it")
	partyUSCC := fs.String("uscc", "", "the party's unified social credit code (统一社会信用代码), with --party")
	by := fs.String("by", "", "the person exporting, named in export-manifest.json (default: the node)")
	keyDir := fs.String("key", "", "folder holding the exporting person's signer.key that signs export-manifest.json (default: the node's key)")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	record, err := a.extractionRecord(*caseNo, *cause, officers, *partyName, *partyUSCC)
	if err != nil {
		return err
	}
	// Exporting is recorded in the audit log. From an archived data
	// directory without write access it still works, read-only, unrecorded.
	// While a server owns the database, the record and the target come
	// through its API, the ledger is read as in a read-only directory
	// (the proof is against its latest checkpoint) and the server records
	// the export.
	var w workspace
	client, err := a.serverClient(ctx)
	if err != nil {
		return err
	}
	readOnly, recorded := client != nil, true
	if client != nil {
		w = apiWorkspace{client}
	} else {
		d, err := a.openDB()
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) {
			readOnly, recorded = true, false
			if d, err = a.openDBReadOnly(); err == nil {
				a.logger.Warn("the data directory is read-only: the export is not recorded in the audit log", "db", d.Path())
			}
		}
		if err != nil {
			return err
		}
		w = &localWorkspace{d: d, actor: a.actor(), validate: a.validateTarget}
	}
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	path, detail, err := a.exportEvidence(ctx, w, st, pos[0], exportOptions{Path: *out, NoPDF: *noPDF, Record: record, By: *by, KeyDir: *keyDir}, readOnly)
	if err != nil {
		return err
	}
	if recorded {
		if err := a.custody(ctx, "evidence.exported", detail); err != nil {
			return err
		}
	}
	fmt.Fprintln(a.stdout, path)
	return nil
}

// exportOptions are what an export asks for beyond the capture.
type exportOptions struct {
	Path   string // the bundle file; default ID.zip
	NoPDF  bool
	Record *evidence.CaseRecord
	By     string // the person named in export-manifest.json
	KeyDir string // the folder of the person's signer.key; default the node's key
}

// exportEvidence exports evidence record id, read through w, from st to
// o.Path, and returns the path and the audit log's detail of the export
// (the caller records it). readOnly reads the ledger as in a read-only
// data directory (its latest checkpoint) and timestamps without writing.
func (a *app) exportEvidence(ctx context.Context, w workspace, st evidence.Store, id string, o exportOptions, readOnly bool) (path, detail string, err error) {
	record := o.Record
	rec, err := w.GetEvidence(ctx, id)
	if err != nil {
		return "", "", err
	}
	path = o.Path
	if path == "" {
		path = rec.ID + ".zip"
	}
	notary := a.notary
	if readOnly {
		notary = a.readOnlyNotary
	}
	nt, err := notary()
	if err != nil {
		return "", "", err
	}
	if t, err := w.FindTarget(ctx, rec.TargetID); err == nil {
		record.Party.Platform = t.Platform
	}
	if readOnly {
		// The read-only notary has the ledger only; the export manifest
		// is still timestamped.
		if nt.TSA, nt.TSARoot, err = a.readOnlyTimestamper(); err != nil {
			return "", "", err
		}
	}
	// The files derived at export (README.txt, the reports, the script)
	// are signed in export-manifest.json: by the node's key unless a
	// person's key is given.
	var sg *evidence.Signer
	if o.KeyDir != "" {
		sg, err = evidence.LoadSigner(o.KeyDir, a.keyPassphrase())
	} else {
		sg, err = a.signer()
	}
	if err != nil {
		return "", "", fmt.Errorf("export signer: %w", err)
	}
	x := &evidence.Exporter{Notary: nt, Record: record, Signer: sg, SignedBy: o.By}
	if x.TrustedTSARoots, err = a.trustedTSARoots(); err != nil {
		return "", "", err
	}
	if !o.NoPDF {
		if x.PDF, err = a.pdfPrinter(); err != nil {
			return "", "", err
		}
	}
	if err := exportBundleWith(ctx, st, rec, path, x); err != nil {
		if x.PDF != nil && errors.Is(err, errPDF) {
			return "", "", fmt.Errorf("%w (report.pdf needs Chromium: set browser.exec_path, or export with --no-pdf to leave report.pdf out)", err)
		}
		return "", "", err
	}
	detail = fmt.Sprintf("%s (manifest %s) to %s, export signed by %s", rec.ID, rec.ManifestDigest, path, sg.KeyID())
	if x.PDF == nil {
		detail += " without report.pdf"
	}
	if record.ForCase() {
		detail += " for case " + record.CaseNo
	}
	return path, detail, nil
}

// extractionRecord is what the report's extraction record states beyond
// the capture: the case (--case, --cause), the office and the evidence
// store (from the config), the officers (--officer, else the config) and
// the party when given (--party, --uscc; else the page's licence block).
// The record of a case with fewer than two officers, or without a cause,
// is a usage error naming what is missing.
func (a *app) extractionRecord(caseNo, cause string, officers []evidence.Officer, party, uscc string) (*evidence.CaseRecord, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	caseNo, cause = strings.TrimSpace(caseNo), strings.TrimSpace(cause)
	if cause != "" && caseNo == "" {
		return nil, usagef("evidence export: --cause needs --case NO (the case number)")
	}
	if uscc != "" {
		uscc = strings.ToUpper(strings.TrimSpace(uscc))
		if err := licence.ValidateUSCC(uscc); err != nil {
			return nil, usagef("evidence export: --uscc %s: %v", uscc, err)
		}
	}
	if len(officers) == 0 {
		for _, s := range c.Officers {
			o, err := evidence.ParseOfficer(s)
			if err != nil {
				return nil, usagef("config officers: %v", err)
			}
			officers = append(officers, o)
		}
	}
	r := &evidence.CaseRecord{CaseNo: caseNo, Cause: cause, Office: c.Office.Name, OfficeAddress: c.Office.Address,
		Officers: officers, Party: evidence.Party{Name: strings.TrimSpace(party), USCC: uscc}, Storage: a.storageStatement(c)}
	if err := r.Check(); err != nil {
		return nil, usagef("evidence export: %v (a case record is for legal use: give --cause TEXT and --officer NAME:NO once per officer, or set officers in the config)", err)
	}
	return r, nil
}

// storageStatement says where the captured data is kept, for the record's
// statement on the storage medium. It names no credentials.
func (a *app) storageStatement(c *Config) string {
	switch c.Store.Kind {
	case "minio":
		m := c.Store.MinIO
		s := fmt.Sprintf("MinIO object store %s, bucket %s", m.Endpoint, m.Bucket)
		if m.ObjectLock {
			s += fmt.Sprintf(", object lock %s %d days (WORM)", m.RetentionMode, m.RetentionDays)
		}
		return s
	default:
		dir := c.Store.Folder
		if dir == "" {
			d, err := a.dataDir()
			if err != nil {
				return ""
			}
			dir = filepath.Join(d, "store")
		}
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		return "folder store " + dir
	}
}

// readOnlyTimestamper returns the TSA that timestamps export-manifest.json
// when the data directory is read-only: the configured external authority,
// or the built-in one as kept in the data directory (loaded, never made).
// It chooses as notary does.
func (a *app) readOnlyTimestamper() (evidence.Timestamper, []byte, error) {
	c, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	if c.TSA.URL != "" {
		if c.TSA.RootFile == "" {
			return nil, nil, fmt.Errorf("config: tsa.url %s needs tsa.root_file, the PEM root its certificates chain to", c.TSA.URL)
		}
		rootPEM, err := os.ReadFile(c.TSA.RootFile)
		if err != nil {
			return nil, nil, fmt.Errorf("config: tsa.root_file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(rootPEM) {
			return nil, nil, fmt.Errorf("config: tsa.root_file %s holds no PEM certificate", c.TSA.RootFile)
		}
		return &tsa.Client{URL: c.TSA.URL, TrustedRoots: roots}, rootPEM, nil
	}
	d, err := a.dataDir()
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(d, "tsa")
	if _, err := os.Stat(filepath.Join(dir, tsa.RootCertFile)); err != nil {
		return nil, nil, fmt.Errorf("export from a read-only data directory: the built-in time-stamping authority: %w", err)
	}
	au, err := tsa.LoadOrCreateAuthority(dir)
	if err != nil {
		return nil, nil, err
	}
	return au, au.RootPEM(), nil
}

// errPDF marks an export that failed while printing report.pdf.
var errPDF = errors.New("print report.pdf")

// pdfPrinter returns the printer of report.pdf: a headless Chromium
// started for the print alone, the browser binary and timeout from the
// browser section of the configuration.
func (a *app) pdfPrinter() (evidence.HTMLPrinter, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	p := &pdf.Printer{ExecPath: c.Browser.ExecPath}
	// Find the browser now rather than after the artifacts are copied.
	if p.ExecPath == "" {
		if p.ExecPath, err = pdf.FindChromium(); err != nil {
			return nil, fmt.Errorf("%w: %w (report.pdf needs Chromium: set browser.exec_path, or export with --no-pdf to leave report.pdf out)", errPDF, err)
		}
	} else if _, err := exec.LookPath(p.ExecPath); err != nil {
		return nil, fmt.Errorf("%w: browser.exec_path: %w (report.pdf needs Chromium: fix browser.exec_path, or export with --no-pdf to leave report.pdf out)", errPDF, err)
	}
	if c.Browser.Timeout > 0 {
		p.Timeout = max(c.Browser.Timeout, pdf.DefaultTimeout)
	}
	return pdfMarker{p}, nil
}

// pdfMarker marks errors of the printer with errPDF.
type pdfMarker struct{ p *pdf.Printer }

func (m pdfMarker) PrintHTML(ctx context.Context, html []byte) ([]byte, error) {
	b, err := m.p.PrintHTML(ctx, html)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errPDF, err)
	}
	return b, nil
}

// exportBundleWith writes the bundle to a temporary file beside path and
// renames it into place, so a failed export never leaves a half-written
// bundle.
func exportBundleWith(ctx context.Context, st evidence.Store, rec *shopwatch.EvidenceRecord, path string, x *evidence.Exporter) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("export %s: %s already exists; bundles are not overwritten", rec.ID, path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bundle-*.zip")
	if err != nil {
		return fmt.Errorf("export %s: %w", rec.ID, err)
	}
	defer os.Remove(tmp.Name())
	if err := x.Export(ctx, st, rec, tmp); err != nil {
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
	fs := a.newFlags("evidence verify", "evidence verify BUNDLE.zip [--trust trust.yaml] [--tsa-root FILE] [--trusted-key ID] [--allow-unsealed] [--require-signed-export] [--max-skew D] [--json]")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	trustFile := fs.String("trust", "", "the office's trust file (shopwatch trust export): TRUSTED only when its signer key is listed and valid at the capture time and the timestamp's root is pinned")
	tsaRoot := fs.String("tsa-root", "", "PEM file of the TSA root(s) to trust instead of the bundled tsa-root.pem")
	trusted := fs.String("trusted-key", "", "comma-separated signer key ids (ed25519:…) to require")
	unsealed := fs.Bool("allow-unsealed", false, "accept a bundle without timestamp and ledger proof")
	signedExport := fs.Bool("require-signed-export", false, "fail a bundle without export-manifest.json (its README.txt and reports unsigned)")
	maxSkew := fs.Duration("max-skew", 0, "largest gap accepted between captured_at and the timestamp's time (0: tsa.max_skew of the config, 5m by default)")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *maxSkew < 0 {
		return usagef("--max-skew %v is negative", *maxSkew)
	}
	if *maxSkew == 0 {
		c, err := a.config()
		if err != nil {
			return err
		}
		*maxSkew = c.TSA.MaxSkew
	}
	opts := []evidence.VerifyOption{evidence.WithMaxTimestampSkew(*maxSkew)}
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
	if *trustFile != "" {
		tf, err := evidence.ReadTrustFile(*trustFile)
		if errors.Is(err, evidence.ErrBadTrustFile) {
			return usagef("--trust: %v", err)
		}
		if err != nil {
			return err
		}
		opts = append(opts, evidence.WithTrust(tf))
	}
	if *signedExport {
		opts = append(opts, evidence.RequireSignedExport())
	}
	if _, err := os.Stat(pos[0]); err != nil {
		return fmt.Errorf("evidence verify: %w", err)
	}
	rep, err := evidence.VerifyBundle(pos[0], opts...)
	if err != nil {
		return &errExit{code: exitFailed, err: err}
	}
	verdict := "verified: " + rep.Verdict()
	if !rep.OK() {
		verdict = fmt.Sprintf("failed (%d problems)", len(rep.Problems))
	}
	if err := a.custodyIfData(ctx, "evidence.verified", fmt.Sprintf("%s: %s %s", pos[0], rep.EvidenceID, verdict)); err != nil {
		a.logger.Warn("verification not recorded in the audit log", "err", err)
	}
	if *asJSON {
		if err := a.printJSON(verifyView(rep)); err != nil {
			return err
		}
	} else {
		rep.WriteText(a.stdout)
	}
	if !rep.OK() {
		first := rep.Problems[0]
		return &errExit{code: exitFailed, err: fmt.Errorf("%s: verification failed; first broken item: %s (%s: %v)", pos[0], first.Item, first.Check, first.Err)}
	}
	return nil
}

// verifyJSON is the JSON form of a bundle verification: snake_case keys,
// RFC 3339 times, errors as strings.
type verifyJSON struct {
	Bundle        string             `json:"bundle"`
	OK            bool               `json:"ok"`
	Verdict       string             `json:"verdict"`             // TRUSTED, SELF-CONSISTENT ONLY or NOT VERIFIED
	Trust         string             `json:"trust,omitempty"`     // the trust file it is TRUSTED under
	Witnesses     []string           `json:"witnesses,omitempty"` // witnesses of the trust file that co-signed its checkpoint
	EvidenceID    string             `json:"evidence_id"`
	KeyID         string             `json:"key_id"`
	TSARootSHA256 string             `json:"tsa_root_sha256,omitempty"`
	TimestampTime time.Time          `json:"timestamp_time,omitzero"`
	Manifest      *evidence.Manifest `json:"manifest"`
	Checks        []verifyCheckJSON  `json:"checks"`
	Problems      []itemProblemJSON  `json:"problems"`
	// CaptureProblem is the kind of problem the capture check of export
	// and resume finds in the bundle's capture files ("" when they pass).
	CaptureProblem string `json:"capture_problem"`
}

type verifyCheckJSON struct {
	Name   string `json:"name"`
	Item   string `json:"item"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

type itemProblemJSON struct {
	Item  string `json:"item"`
	Check string `json:"check"`
	Error string `json:"error"`
}

func verifyView(rep *evidence.Report) verifyJSON {
	v := verifyJSON{Bundle: rep.Bundle, OK: rep.OK(), Verdict: rep.Verdict(), Trust: rep.Trust, Witnesses: rep.Witnesses, EvidenceID: rep.EvidenceID, KeyID: rep.KeyID,
		TSARootSHA256: rep.TSARootSHA256, TimestampTime: rep.TimestampTime, Manifest: rep.Manifest,
		Checks: []verifyCheckJSON{}, Problems: []itemProblemJSON{}, CaptureProblem: string(evidence.ProblemOf(rep.Capture))}
	if rep.Capture != nil && v.CaptureProblem == "" {
		v.CaptureProblem = "unreadable"
	}
	for _, c := range rep.Checks {
		v.Checks = append(v.Checks, verifyCheckJSON{Name: c.Name, Item: c.Item, OK: c.OK, Detail: c.Detail})
	}
	for _, p := range rep.Problems {
		msg := ""
		if p.Err != nil {
			msg = p.Err.Error()
		}
		v.Problems = append(v.Problems, itemProblemJSON{Item: p.Item, Check: p.Check, Error: msg})
	}
	return v
}
