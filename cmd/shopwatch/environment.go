package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"shopwatch"
	"shopwatch/crawler"
	"shopwatch/evidence"
	"shopwatch/evidence/envcheck"
	"shopwatch/sweep"
)

// checkEnvironment records and checks the capture environment before a
// sweep session (clock against the TSA, proxy variables, hosts-file pins of
// the target hosts, digests of the shopwatch and Chromium binaries) and
// hands the report to the runner, which stores it in every capture. A
// failed check stops the session before anything is captured, unless the
// config says otherwise explicitly (capture.stop_on_environment_failure:
// false): then the session captures, every capture records the failure,
// and evidence verify reports it.
func (a *app) checkEnvironment(ctx context.Context, r *sweep.Runner, targets []shopwatch.Target) error {
	c, err := a.config()
	if err != nil {
		return err
	}
	nt, err := a.notary()
	if err != nil {
		return err
	}
	urls := make([]string, len(targets))
	for i, t := range targets {
		urls[i] = t.URL
	}
	bins := map[string]string{}
	if exe, err := os.Executable(); err == nil {
		bins["shopwatch"] = exe
	}
	if p, err := crawler.FindChromium(); err == nil {
		bins["chromium"] = p
	}
	cfg := envcheck.Config{
		Targets:        urls,
		AllowProxy:     c.Capture.AllowProxy,
		MaxClockOffset: c.Capture.MaxClockOffset,
		Binaries:       bins,
		Version:        shopwatch.Version,
	}
	if cfg.TimeSource, err = clockSource(c, nt); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rep, err := envcheck.Check(cctx, cfg)
	if err != nil {
		return fmt.Errorf("capture environment: %w", err)
	}
	body, err := rep.JSON()
	if err != nil {
		return fmt.Errorf("capture environment: %w", err)
	}
	r.Config.Environment = body
	r.Config.AllowEnvironmentFailure = !c.Capture.StopOnEnvironmentFault
	if rep.Clock.SelfReferential {
		a.logger.Warn("capture environment: the clock check is self-referential and cannot detect a wrong host clock; configure tsa.url or capture.ntp_server", "source", rep.Clock.Source)
	}
	if rep.Clock.Source != "" {
		r.Config.ClockSource = rep.Clock.Source
	}
	if !rep.OK() {
		fmt.Fprintf(a.stderr, "capture environment: %v\n", rep.Err())
		if c.Capture.StopOnEnvironmentFault {
			return &errExit{code: exitFailed, err: fmt.Errorf("capture stopped: environment check failed; nothing was captured " +
				"(to capture anyway, with the failure recorded in every capture and reported by evidence verify, set capture.stop_on_environment_failure: false)")}
		}
		a.logger.Warn("capture environment check failed; capturing anyway as capture.stop_on_environment_failure is false; the failure is recorded in every capture", "problems", rep.Err())
	}
	return nil
}

// clockSource returns what the capture-environment check compares the
// host clock with (capture.clock_source):
//
//	auto  the external authority (tsa.url) when one is configured, else
//	      the NTP server capture.ntp_server when set, else the built-in
//	      authority, recorded as self-referential (it reads this host's
//	      clock, so it cannot detect a wrong one)
//	tsa   the configured authority (the built-in one is self-referential)
//	ntp   capture.ntp_server
//	none  nothing: the check is recorded as unverified
func clockSource(c *Config, nt *evidence.Notary) (envcheck.TimeSource, error) {
	src := c.Capture.ClockSource
	if src == "" || src == "auto" {
		switch {
		case c.TSA.URL != "" || c.Capture.NTPServer == "":
			src = "tsa"
		default:
			src = "ntp"
		}
	}
	switch src {
	case "none":
		return envcheck.SystemClock{}, nil
	case "ntp":
		if c.Capture.NTPServer == "" {
			return nil, fmt.Errorf("config: capture.clock_source ntp needs capture.ntp_server")
		}
		return envcheck.NTPTime{Server: c.Capture.NTPServer}, nil
	case "tsa":
		if nt.TSA == nil {
			return envcheck.SystemClock{}, nil
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(nt.TSARoot) {
			return nil, fmt.Errorf("capture environment: the TSA root holds no PEM certificate")
		}
		return envcheck.TSATime{TSA: nt.TSA, Roots: roots, SelfIssued: c.TSA.URL == ""}, nil
	}
	return nil, fmt.Errorf("config: capture.clock_source %q (want auto, tsa, ntp or none)", c.Capture.ClockSource)
}
