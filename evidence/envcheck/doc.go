// Package envcheck records and checks the capture environment before a
// capture session, so that the evidence can show it was made in "a complete
// and reliable capture environment in normal operation": the machine's
// clock agreed with a trusted time source, no proxy stood between shopwatch
// and the marketplace, the hosts file did not redirect a target host, and
// the programs that captured were the ones whose digests are recorded.
//
// Check runs every check and returns a Report. A failed check does not make
// Check return an error: it is recorded in the report (Report.OK,
// Report.Problems), which the caller stores with the capture and may use to
// refuse to capture. Check returns an error only when it cannot run at all
// (an invalid Config, a context already done).
//
// # Checks
//
//	host         the host name could be read (os.Hostname)
//	clock        the offset between the local clock and Config.TimeSource
//	             is at most Config.MaxClockOffset (default 2 s), counting
//	             the time the reading took and the source's resolution.
//	             With no time source (or SystemClock) the check is reported
//	             with status "unverified": not a failure, but nothing was
//	             compared. A TSATime with SelfIssued (the built-in
//	             authority, which reads this host's clock) is likewise
//	             "unverified" and recorded as self-referential: it cannot
//	             detect a wrong host clock. Independent sources are an
//	             external authority (TSATime) and an NTP server (NTPTime).
//	proxy        no proxy environment variable routes traffic through a
//	             proxy, unless Config.AllowProxy. Names looked at, in upper
//	             and lower case: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY (Go's
//	             net/http reads the first two, Chromium and curl all
//	             three), AUTO_PROXY and SOCKS_SERVER (Chromium on Linux) and
//	             NO_PROXY. NO_PROXY and variables set to the empty string
//	             are recorded but never fail the check: they send nothing
//	             to a proxy. Credentials in proxy URLs are redacted.
//	hosts        no line of the hosts file (default /etc/hosts) maps a
//	             target host to an address. Lines naming a subdomain of a
//	             target are recorded too but do not fail the check.
//	binary NAME  one per Config.Binaries entry: the file exists and is a
//	             regular file; its size, SHA-256 and SM3 are recorded.
//	             With no binaries configured a single "binaries" check is
//	             reported as unverified.
//
// Digests are written as in package evidence: "sha256:" or "sm3:" followed
// by 64 lowercase hex digits.
//
// # Clock offset
//
// The local clock is read just before (t0) and just after (t1) asking the
// time source. A source reading says the source's clock lay in [earliest,
// latest] at some instant between t0 and t1, so the offset (source minus
// local) lies in [earliest-t1, latest-t0]. The report gives the middle of
// that interval as offset_ns and half its width as uncertainty_ns; the check
// passes when |offset| + uncertainty <= MaxClockOffset, that is when the
// offset is certainly within the limit. A plain TimeSource gives a single
// instant (earliest = latest); one that also implements IntervalSource
// gives an interval. TSATime does: an RFC 3161 genTime written without a
// fraction of a second is taken as truncated to the second (as the
// built-in authority of package tsa does), so the source's time lies in
// [genTime, genTime+1s), widened by the accuracy the token states.
//
// # JSON form
//
// A Report marshals to a JSON object with format "shopwatch-environment/1",
// the fields documented on Report and its parts, "ok" (Report.OK) and
// "problems" (one line per failed check). Times are RFC 3339 in UTC,
// durations are integer nanoseconds in fields ending in "_ns". Report.JSON
// gives the form to store: two-space indent and a final newline.
package envcheck
