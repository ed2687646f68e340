package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"shopwatch"
	"shopwatch/crawler"
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
	if nt.TSA != nil {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(nt.TSARoot) {
			return fmt.Errorf("capture environment: the TSA root holds no PEM certificate")
		}
		cfg.TimeSource = envcheck.TSATime{TSA: nt.TSA, Roots: roots}
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
