package crawler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdpio "github.com/chromedp/cdproto/io"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"shopwatch/internal/sandbox"
)

// ErrCrashed: the browser process died, stopped answering and was killed,
// or the renderer of the page's tab crashed, while the page was rendering.
// It is not permanent: the Browser replaces a dead process on its own, so a
// retry renders on a fresh one.
var ErrCrashed = errors.New("browser crashed")

// BrowserStats counts what a Browser has been through since NewBrowser.
type BrowserStats struct {
	Renders       int64 // renders that got a tab slot and a process
	Starts        int64 // browser processes started, the first included
	Recycles      int64 // processes retired after BrowserConfig.RecycleAfter renders
	Crashes       int64 // browser processes that died unasked
	HungBrowsers  int64 // browser processes that stopped answering and were killed
	TabCrashes    int64 // tab renderers that crashed
	HungTabs      int64 // tabs that overran their timeout and were force-closed
	Dialogs       int64 // JavaScript dialogs dismissed
	LeakedTargets int64 // pop-ups and other stray tabs closed after a render
	// Replays counts the renders that showed a captured static response
	// for its screenshot (ScreenshotCaptured), fetching nothing.
	Replays int64
}

// browserStats is BrowserStats kept with atomic counters.
type browserStats struct {
	renders, starts, recycles, crashes, hungBrowsers atomic.Int64
	tabCrashes, hungTabs, dialogs, leakedTargets     atomic.Int64
	replays                                          atomic.Int64
}

// Stats returns the counters of the browser. It is safe to call at any
// time.
func (b *Browser) Stats() BrowserStats {
	s := &b.stats
	return BrowserStats{
		Renders: s.renders.Load(), Starts: s.starts.Load(), Recycles: s.recycles.Load(),
		Crashes: s.crashes.Load(), HungBrowsers: s.hungBrowsers.Load(), TabCrashes: s.tabCrashes.Load(),
		HungTabs: s.hungTabs.Load(), Dialogs: s.dialogs.Load(), LeakedTargets: s.leakedTargets.Load(),
		Replays: s.replays.Load(),
	}
}

// instance is one Chromium process of a Browser. The Browser renders in
// its current instance and replaces it when it dies, hangs or has rendered
// BrowserConfig.RecycleAfter pages; a replaced instance stops once its last
// render is over.
type instance struct {
	gen   int64
	dir   string // the temporary profile, removed with the instance
	pid   int
	major string // major version of the browser, for the mobile user agent

	allocCancel context.CancelFunc
	ctx         context.Context // the browser's chromedp context; done when the process is gone
	cancel      context.CancelFunc

	// Guarded by Browser.mu.
	started  int                                // renders begun
	active   int                                // renders in progress
	contexts map[cdp.BrowserContextID]target.ID // browser contexts of the renders in progress, and their tabs
	retired  bool                               // no longer given new renders

	stopping atomic.Bool // Browser asked it to stop: its death is no crash
	hung     atomic.Bool // it stopped answering and was killed
	stopOnce sync.Once
	stopped  chan struct{} // closed when the process is gone and the profile removed
	stopErr  error
}

// alive reports whether the process still runs and answers.
func (in *instance) alive() bool { return in.ctx.Err() == nil && !in.hung.Load() }

// lost reports whether the instance died or was killed for hanging, as
// opposed to being stopped by its Browser once idle. The connection can be
// seen lost a moment before the browser's context ends.
func (in *instance) lost() bool {
	if in.hung.Load() {
		return true
	}
	if in.stopping.Load() {
		return false
	}
	if in.ctx.Err() != nil {
		return true
	}
	if c := chromedp.FromContext(in.ctx); c != nil && c.Browser != nil {
		select {
		case <-c.Browser.LostConnection:
			return true
		default:
		}
	}
	return false
}

// launch starts a browser process with a fresh temporary profile. ctx bounds
// the start only.
func (b *Browser) launch(ctx context.Context) (*instance, error) {
	dir, err := os.MkdirTemp("", "shopwatch-chromium-")
	if err != nil {
		return nil, fmt.Errorf("start browser %s: %w", b.exec, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(b.exec),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(b.cfg.Width, b.cfg.Height),
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
	)
	if b.proxy != nil {
		// Every request goes through the guard proxy, loopback ones too
		// (Chromium bypasses proxies for loopback unless told not to), and
		// WebRTC may not send UDP around it.
		opts = append(opts,
			chromedp.ProxyServer(b.proxy.URL()),
			chromedp.Flag("proxy-bypass-list", proxyBypassNone),
			chromedp.Flag("force-webrtc-ip-handling-policy", "disable_non_proxied_udp"),
		)
	}
	if b.mitm != nil {
		// The guard proxy ends the browser's TLS with certificates of its
		// own key (interceptor); Chromium accepts that key, and only it.
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", b.mitm.spki))
	}
	// The page is hostile and this node holds the signing keys: the
	// sandbox stays on, as root too (Chromium then runs as an unprivileged
	// account).
	sandboxed, err := sandbox.Options(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start browser %s: %w", b.exec, err)
	}
	opts = append(opts, sandboxed...)
	if b.cfg.UserAgent != "" {
		opts = append(opts, chromedp.UserAgent(b.cfg.UserAgent))
	}
	if !b.cfg.Headless {
		opts = append(opts, chromedp.VisibleWindow)
	}
	// The browser outlives ctx; only the start waits on it.
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(func(f string, a ...any) { b.log.Debug(fmt.Sprintf(f, a...)) }),
		chromedp.WithErrorf(func(f string, a ...any) { b.log.Debug(fmt.Sprintf(f, a...)) }),
	)
	b.mu.Lock()
	if len(b.profiles) >= 64 {
		b.profiles = b.profiles[1:]
	}
	b.profiles = append(b.profiles, dir)
	b.mu.Unlock()
	in := &instance{
		gen: b.gens.Add(1), dir: dir, allocCancel: allocCancel, ctx: bctx, cancel: bcancel,
		contexts: map[cdp.BrowserContextID]target.ID{}, stopped: make(chan struct{}),
	}
	started := make(chan error, 1)
	go func() {
		// The first run starts the browser; it gets no deadline, or the
		// deadline would end the browser.
		started <- chromedp.Do(bctx)
	}()
	select {
	case err = <-started:
	case <-ctx.Done():
		in.stop()
		<-started
		return nil, fmt.Errorf("start browser %s: %w", b.exec, ctx.Err())
	}
	if err != nil {
		in.stop()
		return nil, fmt.Errorf("start browser %s: %w", b.exec, err)
	}
	if c := chromedp.FromContext(bctx); c != nil && c.Browser != nil && c.Browser.Process() != nil {
		in.pid = c.Browser.Process().Pid
	}
	vctx, cancel := context.WithTimeout(bctx, 5*time.Second)
	in.major = browserMajor(vctx)
	cancel()
	b.stats.starts.Add(1)
	go b.watch(in)
	b.log.Debug("browser started", "pid", in.pid, "generation", in.gen, "version", in.major)
	return in, nil
}

// watch waits for the process of in to go away and, when nobody asked it
// to, counts the crash and cleans up after it. The next render starts a new
// process.
func (b *Browser) watch(in *instance) {
	<-in.ctx.Done()
	if !in.stopping.Load() && !in.hung.Load() {
		b.stats.crashes.Add(1)
		b.log.Warn("browser process died; the next render starts a new one", "pid", in.pid, "generation", in.gen)
	}
	b.mu.Lock()
	if b.cur == in {
		b.cur = nil
		in.retired = true
	}
	b.mu.Unlock()
	go b.stopInstance(in)
}

// stop ends the process (gracefully first, if it still answers), kills its
// leftover children and removes its profile. It is idempotent and waits
// until it is done.
func (in *instance) stop() error {
	in.stopOnce.Do(func() {
		defer close(in.stopped)
		if !in.lost() {
			in.stopping.Store(true)
		}
		if in.ctx.Err() == nil {
			cctx, cancel := context.WithTimeout(in.ctx, 5*time.Second)
			_ = chromedp.Cancel(cctx) // graceful close; the allocator kills what is left
			cancel()
		}
		in.cancel()
		in.allocCancel() // waits for the process to exit
		killProfileUsers(in.dir)
		var err error
		for range 50 {
			if err = os.RemoveAll(in.dir); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond) // a late child can still write in it
		}
		if err != nil {
			in.stopErr = fmt.Errorf("close browser: remove profile %s: %w", in.dir, err)
		}
	})
	<-in.stopped
	return in.stopErr
}

// kill ends a process that stopped answering at once.
func (in *instance) kill() {
	in.hung.Store(true)
	if in.pid > 0 {
		if p, err := os.FindProcess(in.pid); err == nil {
			_ = p.Kill()
		}
	}
}

// killProfileUsers kills the processes whose command line names dir as
// their user data directory: Chromium's helpers (zygote, renderers, the
// network service) can outlive a browser process that was killed. Where
// there is no /proc it does nothing.
func killProfileUsers(dir string) {
	for range 3 {
		pids := profileUsers(dir)
		for _, pid := range pids {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
		if len(pids) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// profileUsers returns the processes that run with the user data directory
// dir. Chromium's helpers rewrite their command line into one
// space-separated string, so the flag is looked for as a word in either form.
func profileUsers(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	flag := []byte("--user-data-dir=" + dir)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for rest := cmdline; ; {
			i := bytes.Index(rest, flag)
			if i < 0 {
				break
			}
			end := i + len(flag)
			before := i == 0 || rest[i-1] == 0 || rest[i-1] == ' '
			after := end == len(rest) || rest[end] == 0 || rest[end] == ' '
			if before && after {
				pids = append(pids, pid)
				break
			}
			rest = rest[end:]
		}
	}
	return pids
}

// launchState is a start of a new process that renders wait for.
type launchState struct {
	done chan struct{}
	err  error
}

// maxStart bounds the start of a replacement process.
const maxStart = time.Minute

// acquire returns the instance a render may open its tab in, counting the
// render in it; release must follow. It replaces an instance that died,
// hung or reached BrowserConfig.RecycleAfter, and waits (as long as ctx
// allows) while a replacement starts, so renders during a recycle wait
// rather than fail.
func (b *Browser) acquire(ctx context.Context) (*instance, error) {
	for {
		b.mu.Lock()
		if b.closed.Load() {
			b.mu.Unlock()
			return nil, ErrClosed
		}
		in := b.cur
		if in != nil && in.alive() && (b.cfg.RecycleAfter <= 0 || in.started < b.cfg.RecycleAfter) {
			in.started++
			in.active++
			b.mu.Unlock()
			return in, nil
		}
		if in != nil {
			b.cur = nil
			in.retired = true
			if in.alive() {
				b.stats.recycles.Add(1)
				b.log.Debug("recycling browser", "pid", in.pid, "renders", in.started)
			}
			if in.active == 0 {
				go b.stopInstance(in)
			}
		}
		st := b.starting
		if st == nil {
			st = &launchState{done: make(chan struct{})}
			b.starting = st
			b.launches.Add(1)
			go b.relaunch(st)
		}
		b.mu.Unlock()
		select {
		case <-st.done:
			if st.err != nil {
				return nil, st.err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// relaunch starts the process that replaces the current one.
func (b *Browser) relaunch(st *launchState) {
	defer b.launches.Done()
	ctx, cancel := context.WithTimeout(context.Background(), maxStart)
	in, err := b.launch(ctx)
	cancel()
	b.mu.Lock()
	b.starting = nil
	switch {
	case err != nil:
		st.err = err
	case b.closed.Load():
		st.err = ErrClosed
		b.mu.Unlock()
		in.stop()
		close(st.done)
		return
	default:
		b.cur = in
		b.insts[in] = struct{}{}
	}
	b.mu.Unlock()
	close(st.done)
}

// release ends a render's use of in, and stops in when it is retired and
// this was its last render.
func (b *Browser) release(in *instance, bctxID cdp.BrowserContextID) {
	b.mu.Lock()
	in.active--
	if bctxID != "" {
		delete(in.contexts, bctxID)
	}
	last := in.retired && in.active == 0
	b.mu.Unlock()
	if last {
		go b.stopInstance(in)
	}
}

// stopInstance stops in and forgets it.
func (b *Browser) stopInstance(in *instance) {
	in.stop()
	b.mu.Lock()
	delete(b.insts, in)
	b.mu.Unlock()
}

// probe reports whether the browser process of in still answers a
// command. A render that ran out of time calls it: a browser that does not
// answer is killed, and the renders still on it fail with ErrCrashed.
func (b *Browser) probe(in *instance) bool {
	if !in.alive() {
		return false
	}
	ctx, cancel := context.WithTimeout(in.ctx, 3*time.Second)
	defer cancel()
	_, err := chromedp.CallBrowser(ctx, browser.GetVersion, cdp.Empty{})
	if err == nil || in.ctx.Err() != nil {
		return err == nil
	}
	if errors.Is(err, context.DeadlineExceeded) && !in.hung.Swap(true) {
		b.stats.hungBrowsers.Add(1)
		b.log.Warn("browser stopped answering; killing it", "pid", in.pid, "generation", in.gen)
		in.kill()
	}
	return false
}

// sweepTargets closes the page targets of in that belong to no render in
// progress and are not the browser's first tab: pop-ups and windows that
// pages opened and that outlived their render. It returns how many it
// closed.
func (b *Browser) sweepTargets(in *instance) int {
	if !in.alive() {
		return 0
	}
	ctx, cancel := context.WithTimeout(in.ctx, 5*time.Second)
	defer cancel()
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		return 0
	}
	var first target.ID
	if c := chromedp.FromContext(in.ctx); c != nil && c.Target != nil {
		first = c.Target.TargetID
	}
	// A browser context in use is its render's business. A render whose
	// tab is still opening has no context known yet: sweep another time.
	b.mu.Lock()
	if len(in.contexts) != in.active {
		b.mu.Unlock()
		return 0
	}
	liveCtx := map[cdp.BrowserContextID]bool{}
	liveTab := map[target.ID]bool{}
	for bc, id := range in.contexts {
		liveCtx[bc], liveTab[id] = true, true
	}
	b.mu.Unlock()
	n := 0
	for _, ti := range infos {
		if ti.Type != "page" || ti.TargetID == first || liveTab[ti.TargetID] || liveCtx[ti.BrowserContextID] {
			continue
		}
		if _, err := chromedp.CallBrowser(ctx, target.CloseTarget, target.CloseTargetParams{TargetID: ti.TargetID}); err == nil {
			n++
			b.log.Info("closed a stray tab", "url", ti.URL, "opener", ti.OpenerID)
		}
	}
	b.stats.leakedTargets.Add(int64(n))
	return n
}

// readStream reads a stream of the browser of ctx to its end, at most limit
// bytes, and closes it.
func readStream(ctx context.Context, h cdpio.StreamHandle, limit int64) (data []byte, err error) {
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, cerr := chromedp.Call(cctx, cdpio.Close, cdpio.CloseParams{Handle: h}); cerr != nil && err == nil {
			data, err = nil, fmt.Errorf("close stream: %w", cerr)
		}
	}()
	var buf bytes.Buffer
	for {
		res, err := chromedp.Call(ctx, cdpio.Read, cdpio.ReadParams{Handle: h, Size: 1 << 20})
		if err != nil {
			return nil, fmt.Errorf("read stream: %w", err)
		}
		if int64(buf.Len()+len(res.Data)) > limit {
			return nil, fmt.Errorf("stream longer than %d bytes", limit)
		}
		buf.Write(res.Data)
		if res.EOF {
			return buf.Bytes(), nil
		}
	}
}
