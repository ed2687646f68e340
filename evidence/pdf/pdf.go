// Package pdf prints HTML documents to PDF with a headless Chromium that
// lives for one print only.
//
// The document is written to a file in a fresh temporary folder and opened
// from there (file://); the browser gets a profile of its own in that
// folder and a proxy that refuses every connection, so nothing it prints
// can reach the network. Images must therefore be inlined (data: URLs) or
// sit beside the document in the folder. The PDF comes back as a DevTools
// stream read in pieces, which large documents need.
package pdf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"

	"shopwatch/internal/sandbox"
)

// DefaultTimeout bounds one print when Printer.Timeout is zero: starting
// the browser, loading the document and reading the PDF.
const DefaultTimeout = 90 * time.Second

// ErrNoChromium is returned when no Chromium binary can be found.
var ErrNoChromium = errors.New("no chromium, chromium-browser or google-chrome on PATH")

// Printer prints HTML to PDF (A4, backgrounds printed, the document's own
// @page rules honoured). The zero value finds Chromium on PATH. A Printer
// is safe for concurrent use; every call starts and stops its own browser.
type Printer struct {
	// ExecPath is the Chromium binary; "" finds chromium, chromium-browser
	// or google-chrome on PATH.
	ExecPath string
	// Timeout bounds one PrintHTML; 0 means DefaultTimeout.
	Timeout time.Duration
	// Files are written beside the document before it is opened, under
	// these relative names (e.g. "screenshot.png"), for documents that
	// refer to images by relative path.
	Files map[string][]byte
}

// FindChromium returns the path of the Chromium binary on PATH.
func FindChromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("find chromium: %w", ErrNoChromium)
}

// PrintHTML starts Chromium, opens html (a complete UTF-8 document) from a
// temporary folder, prints it and returns the PDF bytes. The browser and
// the folder are gone when it returns. Errors name the binary.
func (p *Printer) PrintHTML(ctx context.Context, html []byte) ([]byte, error) {
	exe := p.ExecPath
	if exe == "" {
		var err error
		if exe, err = FindChromium(); err != nil {
			return nil, fmt.Errorf("print pdf: %w", err)
		}
	}
	fail := func(err error) ([]byte, error) { return nil, fmt.Errorf("print pdf with %s: %w", exe, err) }
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dir, err := os.MkdirTemp("", "shopwatch-pdf-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	docDir := filepath.Join(dir, "doc")
	if err := os.Mkdir(docDir, 0o700); err != nil {
		return fail(err)
	}
	for name, b := range p.Files {
		if !filepath.IsLocal(name) {
			return fail(fmt.Errorf("file name %q is not a local path", name))
		}
		fp := filepath.Join(docDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(fp), 0o700); err != nil {
			return fail(err)
		}
		if err := os.WriteFile(fp, b, 0o600); err != nil {
			return fail(err)
		}
	}
	docPath := filepath.Join(docDir, "document.html")
	if err := os.WriteFile(docPath, html, 0o600); err != nil {
		return fail(err)
	}
	docURL := (&url.URL{Scheme: "file", Path: filepath.ToSlash(docPath)}).String()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("dns-prefetch-disable", true),
		// Every connection, loopback ones included, goes to a proxy on
		// a port nothing listens on: the document cannot fetch anything.
		chromedp.ProxyServer("http://127.0.0.1:9"),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
	)
	// The sandbox stays on, as root too: Chromium then runs as an
	// unprivileged account, which gets the folder.
	sandboxed, err := sandbox.Options(dir)
	if err != nil {
		return fail(err)
	}
	opts = append(opts, sandboxed...)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.WithoutCancel(ctx), opts...)
	log := slog.Default().With("component", "evidence.pdf")
	bctx, bcancel := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) }),
		chromedp.WithErrorf(func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) }),
	)
	// Cancelling the browser context waits for the browser to exit, so the
	// allocator, which kills it, goes first.
	defer func() {
		allocCancel()
		bcancel()
	}()

	// The first run starts the browser and must carry no deadline (its
	// expiry would end the browser); wait for it here under the caller's
	// context and the timeout instead.
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	select {
	case err := <-started:
		if err != nil {
			return fail(fmt.Errorf("start browser: %w", err))
		}
	case <-ctx.Done():
		allocCancel()
		<-started
		return fail(ctx.Err())
	case <-deadline.C:
		allocCancel()
		<-started
		return fail(fmt.Errorf("start browser: no answer within %v", timeout))
	}

	// The tab's context derives from the browser's; the caller's context
	// still cancels it.
	tctx, tcancel := context.WithTimeout(bctx, timeout)
	defer tcancel()
	stop := context.AfterFunc(ctx, tcancel)
	defer stop()
	if err := chromedp.Do(tctx, chromedp.Navigate(docURL)); err != nil {
		return fail(fmt.Errorf("open document: %w", err))
	}
	pdf, err := chromedp.Run(tctx, chromedp.PrintToPDF(
		chromedp.PDFStream(),
		chromedp.PDFPaper(chromedp.PaperA4),
		chromedp.PDFPrintBackground(),
		chromedp.PDFPreferCSSPageSize(),
	))
	if err != nil {
		return fail(fmt.Errorf("print: %w", err))
	}
	if len(pdf) < 5 || string(pdf[:5]) != "%PDF-" {
		return fail(errors.New("browser returned no PDF"))
	}
	// Stop the browser before its folder goes.
	cctx, ccancel := context.WithTimeout(bctx, 10*time.Second)
	defer ccancel()
	if err := chromedp.Cancel(cctx); err != nil {
		log.Debug("stop browser", "err", err)
	}
	return pdf, nil
}
