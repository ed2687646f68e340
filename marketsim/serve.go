package marketsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ErrNotLoopback is returned by ListenAndServe for an address that is not on
// a loopback interface: the market is test data and never leaves the host.
var ErrNotLoopback = errors.New("not a loopback address (use 127.0.0.1, ::1 or localhost)")

// shutdownGrace bounds how long ListenAndServe waits for requests in flight
// once its context is cancelled.
const shutdownGrace = 5 * time.Second

// ListenAndServe serves m on addr (e.g. "127.0.0.1:0" for any free port) until
// ctx is cancelled. It returns the base URL actually listened on (e.g.
// "http://127.0.0.1:41234") and a channel that receives the serving error —
// nil after a shutdown caused by ctx — and is then closed. Requests in flight
// see their context cancelled with ctx, so slow and huge streams end at once.
// Addresses that are not loopback (including ":port", which means every
// interface) are refused with an error wrapping ErrNotLoopback.
//
// The server logs (its own warnings and net/http's errors) through the
// slog default logger in force when ListenAndServe is called, not through
// a default set later (each shopwatch command run sets its own). slog's
// initial default writes through the log package's output as it is at the
// time of writing; a test that must keep this server out of other tests'
// logs stops it and waits on the returned channel before it ends.
func ListenAndServe(ctx context.Context, addr string, m *Market) (string, <-chan error, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", nil, fmt.Errorf("marketsim listen %q: %w", addr, err)
	}
	if !loopbackHost(host) {
		return "", nil, fmt.Errorf("marketsim listen %q: %w", addr, ErrNotLoopback)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("marketsim listen %q: %w", addr, err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		ln.Close()
		return "", nil, fmt.Errorf("marketsim listen %q (bound %s): %w", addr, ln.Addr(), ErrNotLoopback)
	}
	base := "http://" + ln.Addr().String()
	log := slog.Default()
	srv := &http.Server{
		Handler:           m,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	done := make(chan error, 1)
	go func() {
		defer close(done)
		var err error
		select {
		case err = <-served:
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
			if serr := srv.Shutdown(sctx); serr != nil {
				log.Warn("marketsim: requests still running at shutdown; closing them", "base", base, "err", serr)
				srv.Close()
			}
			cancel()
			err = <-served
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		if err != nil {
			err = fmt.Errorf("marketsim serve %s: %w", base, err)
		}
		done <- err
	}()
	return base, done, nil
}

// Start serves m on addr as ListenAndServe does and returns its base URL
// and a stop function that ends the server and waits, up to timeout, until
// it has stopped, returning the serving error. Tests register stop in
// t.Cleanup so that no server of theirs outlives them.
func Start(addr string, m *Market, timeout time.Duration) (base string, stop func() error, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	base, done, err := ListenAndServe(ctx, addr, m)
	if err != nil {
		cancel()
		return "", nil, err
	}
	stop = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(timeout):
			return fmt.Errorf("marketsim %s still serving %s after it was stopped", base, timeout)
		}
	}
	return base, stop, nil
}

// TB is the part of testing.TB that ServeFor needs.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// ServeFor serves m on a free loopback port for the test t and returns
// its base URL; when the test ends the server is stopped and waited for
// (up to 30 s), so that none outlives its test.
func ServeFor(t TB, m *Market) string {
	t.Helper()
	base, stop, err := Start("127.0.0.1:0", m, 30*time.Second)
	if err != nil {
		t.Fatalf("marketsim: %v", err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return base
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
