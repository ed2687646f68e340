package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// SocketName is the server's unix socket, in the data directory.
const SocketName = "shopwatch.sock"

// SocketPath is the socket of the server of data directory dir.
func SocketPath(dir string) string { return filepath.Join(dir, SocketName) }

// ErrRunning: another server answers on the data directory's socket.
var ErrRunning = errors.New("a shopwatch server already runs on this data directory")

// Listen makes the unix socket of data directory dir, readable and
// writable by the owner only. A socket left by a server that died (nothing
// answers on it) is replaced; one a live server answers on is
// ErrRunning.
func Listen(dir string) (net.Listener, error) {
	path := SocketPath(dir)
	if len(path) >= 108 { // sun_path
		return nil, fmt.Errorf("listen on %s: the path is longer than a unix socket allows (107 bytes); use a shorter data directory", path)
	}
	if _, err := os.Lstat(path); err == nil {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("listen on %s: %w", path, ErrRunning)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove the stale socket %s: %w", path, err)
		}
	}
	// Bound in a folder only the owner can enter, made 0600 there, then
	// moved into place: no moment in which another user could connect.
	tmp, err := os.MkdirTemp(dir, ".socket-")
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	defer os.RemoveAll(tmp)
	ln, err := net.Listen("unix", filepath.Join(tmp, SocketName))
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(filepath.Join(tmp, SocketName), 0o600); err == nil {
		err = os.Rename(filepath.Join(tmp, SocketName), path)
	}
	if err != nil {
		ul.Close()
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return &socketListener{UnixListener: ul, path: path}, nil
}

// socketListener removes its socket file when closed.
type socketListener struct {
	*net.UnixListener
	path string
	once sync.Once
}

func (l *socketListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() { os.Remove(l.path) })
	return err
}

type peerKey struct{}

// connContext puts the system user of a unix socket's peer in the
// connection's context.
func connContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *syscall.Ucred
	var cerr error
	raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if cerr != nil || cred == nil {
		return ctx
	}
	name := "uid " + strconv.FormatUint(uint64(cred.Uid), 10)
	if u, err := user.LookupId(strconv.FormatUint(uint64(cred.Uid), 10)); err == nil {
		name = u.Username
	}
	return context.WithValue(ctx, peerKey{}, name)
}

// Serve serves the API on ln until ctx is done, then shuts down: it stops
// taking requests and waits up to grace for those in flight.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{Handler: s.Handler(), ConnContext: connContext, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: nil, BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve API: %w", err)
	case <-ctx.Done():
	}
	s.SetReady(false)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shut down API: %w", err)
	}
	return nil
}
