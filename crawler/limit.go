package crawler

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"
)

// Limiter bounds requests per host name and in total, and spaces the starts
// of requests to one host. One Limiter can be shared by a Fetcher and a
// Browser (BrowserConfig.Limiter) so that the static and the browser path
// together keep to one set of per-host limits. It is safe for concurrent
// use.
//
// colly's LimitRule would share one semaphore among every host its glob
// matches, so the crawler keeps its own: one semaphore per host name,
// created on first use and dropped when the host goes idle, plus one global
// semaphore. A request takes its host slot first and the global slot
// second, so requests queued behind a busy host never hold global slots that
// requests to other hosts could use.
type Limiter struct {
	perHost int
	delay   time.Duration
	global  chan struct{}

	mu    sync.Mutex
	hosts map[string]*hostSlot
}

// hostLimiter is the name the static path knows the Limiter by.
type hostLimiter = Limiter

type hostSlot struct {
	sem   chan struct{}
	users int       // requests holding or waiting for a slot; guarded by hostLimiter.mu
	next  time.Time // earliest start of the next request; guarded by hostLimiter.mu
}

// NewLimiter returns a Limiter that lets perHost requests run at once
// against one host name (ports are not told apart), global requests in all,
// and starts requests to one host at least delay apart. A perHost or global
// below 1 counts as 1; a negative delay as none.
func NewLimiter(perHost, global int, delay time.Duration) *Limiter {
	return newHostLimiter(max(perHost, 1), max(global, 1), max(delay, 0))
}

// Acquire waits until a request to host (a host name or address, with or
// without a port) may start, or until ctx ends, in which case it returns
// ctx's error. The returned release must be called once the request is over;
// calling it again does nothing.
func (l *Limiter) Acquire(ctx context.Context, host string) (release func(), err error) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return l.acquire(ctx, hostKey(strings.Trim(host, "[]")))
}

func newHostLimiter(perHost, global int, delay time.Duration) *hostLimiter {
	return &hostLimiter{
		perHost: perHost,
		delay:   delay,
		global:  make(chan struct{}, global),
		hosts:   make(map[string]*hostSlot),
	}
}

// acquire waits until a request to host may start, or until ctx ends. The
// returned release must be called exactly once when the request is over.
func (l *hostLimiter) acquire(ctx context.Context, host string) (release func(), err error) {
	l.mu.Lock()
	hs := l.hosts[host]
	if hs == nil {
		hs = &hostSlot{sem: make(chan struct{}, l.perHost)}
		l.hosts[host] = hs
	}
	hs.users++
	l.mu.Unlock()

	select {
	case hs.sem <- struct{}{}:
	case <-ctx.Done():
		l.leave(host, hs)
		return nil, ctx.Err()
	}
	if l.delay > 0 {
		l.mu.Lock()
		now := time.Now()
		start := hs.next
		if start.Before(now) {
			start = now
		}
		hs.next = start.Add(l.delay)
		l.mu.Unlock()
		if wait := time.Until(start); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				<-hs.sem
				l.leave(host, hs)
				return nil, ctx.Err()
			}
		}
	}
	select {
	case l.global <- struct{}{}:
	case <-ctx.Done():
		<-hs.sem
		l.leave(host, hs)
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-l.global
			<-hs.sem
			l.leave(host, hs)
		})
	}, nil
}

// leave drops one user of host and forgets the host once it is idle and
// its spacing has run out, so the map only holds hosts in use.
func (l *hostLimiter) leave(host string, hs *hostSlot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	hs.users--
	now := time.Now()
	if hs.users == 0 && !hs.next.After(now) {
		delete(l.hosts, host)
	}
	if len(l.hosts) > 1024 {
		for h, s := range l.hosts {
			if s.users == 0 && !s.next.After(now) {
				delete(l.hosts, h)
			}
		}
	}
}

// tracked drops the state of idle hosts whose spacing has run out and
// reports how many hosts the limiter still holds state for.
func (l *hostLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for h, s := range l.hosts {
		if s.users == 0 && !s.next.After(now) {
			delete(l.hosts, h)
		}
	}
	return len(l.hosts)
}
