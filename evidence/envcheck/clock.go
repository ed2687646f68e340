package envcheck

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/beevik/ntp"

	"shopwatch/evidence/tsa"
)

// TimeSource is a clock to compare the local clock with. Now returns the
// source's current time and a name for the source, as recorded in the
// report (e.g. "rfc3161 CN=…", "ntp pool.ntp.org").
type TimeSource interface {
	Now(ctx context.Context) (time.Time, string, error)
}

// IntervalSource is a TimeSource that can say how exactly it knows the
// time: the source's clock lay in [earliest, latest] when it was read.
// Check uses NowInterval when a TimeSource has it.
type IntervalSource interface {
	TimeSource
	NowInterval(ctx context.Context) (earliest, latest time.Time, source string, err error)
}

// SystemClockSource is the source name SystemClock reports.
const SystemClockSource = "system clock (unchecked)"

// SystemClock is the time source used when none is configured: the local
// clock itself. Check reports the clock check as unverified (offset 0),
// not as a failure.
type SystemClock struct{}

// Now returns time.Now() and SystemClockSource.
func (SystemClock) Now(context.Context) (time.Time, string, error) {
	return time.Now(), SystemClockSource, nil
}

// Timestamper asks a time-stamping authority for an RFC 3161 token over a
// SHA-256 digest and returns the DER TimeStampResp. *tsa.Authority and
// *tsa.Client have this method.
type Timestamper interface {
	Timestamp(ctx context.Context, digest []byte) ([]byte, error)
}

// TSATime is a TimeSource backed by a time-stamping authority: it asks for
// a token over a random digest, verifies the token against Roots and reads
// its genTime. The source name is "rfc3161 " followed by the subject of
// the authority's signing certificate.
type TSATime struct {
	TSA   Timestamper
	Roots *x509.CertPool // roots the authority chains to; nil trusts nothing
	// SelfIssued marks an authority that runs on this host and reads its
	// clock (the built-in authority). Check then does not compare with it:
	// it records the clock check as unverified and self-referential,
	// since such a source cannot show that the host clock is wrong.
	SelfIssued bool
}

// Now returns the genTime of a fresh, verified token.
func (s TSATime) Now(ctx context.Context) (time.Time, string, error) {
	info, err := s.stamp(ctx)
	if err != nil {
		return time.Time{}, "", err
	}
	return info.GenTime, "rfc3161 " + info.TSA, nil
}

// NowInterval returns the interval a fresh, verified token places the
// authority's clock in: from genTime to genTime plus the resolution
// genTime is written with (one second when it has no fraction), widened on
// both sides by the accuracy the token states.
func (s TSATime) NowInterval(ctx context.Context) (earliest, latest time.Time, source string, err error) {
	info, err := s.stamp(ctx)
	if err != nil {
		return time.Time{}, time.Time{}, "", err
	}
	g := info.GenTime
	return g.Add(-info.Accuracy), g.Add(resolution(g) + info.Accuracy), "rfc3161 " + info.TSA, nil
}

func (s TSATime) stamp(ctx context.Context) (*tsa.Info, error) {
	if s.TSA == nil {
		return nil, fmt.Errorf("read time from authority: no authority configured")
	}
	digest := make([]byte, 32)
	rand.Read(digest)
	resp, err := s.TSA.Timestamp(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("read time from authority: %w", err)
	}
	info, err := tsa.VerifyDigest(resp, digest, s.Roots)
	if err != nil {
		return nil, fmt.Errorf("read time from authority: %w", err)
	}
	return info, nil
}

// NTPTime is a TimeSource backed by an NTP server (SNTP, RFC 4330 / RFC
// 5905 client mode). The source name is "ntp " followed by Server.
type NTPTime struct {
	// Server is "host" or "host:port" (port 123 when none is given).
	Server string
	// Timeout bounds one query; 0 means 5s, or less when the context's
	// deadline is nearer.
	Timeout time.Duration
}

// Now returns the server's transmit time.
func (s NTPTime) Now(ctx context.Context) (time.Time, string, error) {
	earliest, latest, name, err := s.NowInterval(ctx)
	if err != nil {
		return time.Time{}, "", err
	}
	return earliest.Add(latest.Sub(earliest) / 2), name, nil
}

// NowInterval returns the server's transmit time widened on both sides by
// the server's root distance (its own estimate of how far it may be from
// the reference clock). A response that is not fit for synchronisation
// (kiss of death, unsynchronised, stale reference, excessive dispersion)
// is an error.
func (s NTPTime) NowInterval(ctx context.Context) (earliest, latest time.Time, source string, err error) {
	name := "ntp " + s.Server
	if s.Server == "" {
		return time.Time{}, time.Time{}, name, errors.New("read time from NTP: no server configured")
	}
	if err := ctx.Err(); err != nil {
		return time.Time{}, time.Time{}, name, fmt.Errorf("read time from NTP server %s: %w", s.Server, err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	resp, err := ntp.QueryWithOptions(s.Server, ntp.QueryOptions{Timeout: timeout})
	if err != nil {
		return time.Time{}, time.Time{}, name, fmt.Errorf("read time from NTP server %s: %w", s.Server, err)
	}
	if err := resp.Validate(); err != nil {
		return time.Time{}, time.Time{}, name, fmt.Errorf("read time from NTP server %s: unusable reply (stratum %d): %w", s.Server, resp.Stratum, err)
	}
	d := max(resp.RootDistance, 0)
	return resp.Time.Add(-d), resp.Time.Add(d), fmt.Sprintf("%s (stratum %d, ref %s)", name, resp.Stratum, resp.ReferenceString()), nil
}

// SelfReferentialDetail is the detail of the clock check against the
// built-in authority (TSATime.SelfIssued).
const SelfReferentialDetail = "self-referential, cannot detect a wrong host clock: the time source is the built-in authority, " +
	"which reads this host's clock; configure an external authority (tsa.url) or an NTP server (capture.ntp_server)"

// resolution returns the unit of the last digit genTime is written with:
// DER GeneralizedTime drops trailing zeros of the fraction, so a time
// with no fraction is taken to be whole seconds.
func resolution(t time.Time) time.Duration {
	ns := t.Nanosecond()
	if ns == 0 {
		return time.Second
	}
	unit := 100 * time.Millisecond
	for unit > 1 && ns%int(unit) != 0 {
		unit /= 10
	}
	return unit
}

func checkClock(ctx context.Context, r *Report, src TimeSource, maxOffset time.Duration, hostNow func() time.Time) {
	if src == nil {
		src = SystemClock{}
	}
	if hostNow == nil {
		hostNow = time.Now
	}
	r.Clock.MaxOffset = maxOffset
	selfIssued := false
	switch s := src.(type) {
	case TSATime:
		selfIssued = s.SelfIssued
	case *TSATime:
		selfIssued = s != nil && s.SelfIssued
	}
	if selfIssued {
		now := hostNow().Round(0).UTC()
		r.Clock.Source = "rfc3161 built-in authority (self-referential)"
		r.Clock.SelfReferential = true
		r.Clock.LocalBefore, r.Clock.LocalAfter = now, now
		r.add(CheckClock, StatusUnverified, "%s", SelfReferentialDetail)
		return
	}
	switch src.(type) {
	case SystemClock, *SystemClock:
		now := hostNow().UTC()
		r.Clock.Source = SystemClockSource
		r.Clock.LocalBefore, r.Clock.LocalAfter = now, now
		r.add(CheckClock, StatusUnverified, "no time source configured; the local clock was not compared with any other")
		return
	}

	t0 := hostNow()
	var (
		earliest, latest time.Time
		name             string
		err              error
	)
	if is, ok := src.(IntervalSource); ok {
		earliest, latest, name, err = is.NowInterval(ctx)
	} else {
		earliest, name, err = src.Now(ctx)
		latest = earliest
	}
	t1 := hostNow()
	// Compare wall clocks only: a source may hand back a time that carries
	// a monotonic reading of its own.
	t0, t1 = t0.Round(0).UTC(), t1.Round(0).UTC()
	r.Clock.Source = name
	r.Clock.LocalBefore, r.Clock.LocalAfter = t0, t1
	if err != nil {
		r.Clock.Error = err.Error()
		r.add(CheckClock, StatusFail, "could not read the time source: %v", err)
		return
	}
	if latest.Before(earliest) {
		earliest, latest = latest, earliest
	}
	earliest, latest = earliest.Round(0).UTC(), latest.Round(0).UTC()
	r.Clock.SourceFrom, r.Clock.SourceTo = earliest, latest
	r.Clock.Verified = true

	lo, hi := earliest.Sub(t1), latest.Sub(t0)
	r.Clock.Offset = lo + (hi-lo)/2
	r.Clock.Uncertainty = (hi - lo) / 2
	bound := max(abs(lo), abs(hi))
	detail := fmt.Sprintf("offset %v ± %v against %s (limit %v)",
		r.Clock.Offset.Round(time.Millisecond), r.Clock.Uncertainty.Round(time.Millisecond), name, maxOffset)
	if bound > maxOffset {
		r.add(CheckClock, StatusFail, "%s: the offset may be up to %v (host clock %s, source %s)", detail, bound.Round(time.Millisecond),
			t0.Format(time.RFC3339Nano), earliest.Format(time.RFC3339Nano))
		return
	}
	r.add(CheckClock, StatusPass, "%s", detail)
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
