// Package crawler fetches marketplace pages for shopwatch and keeps what it
// fetched in a form that can stand as evidence.
//
// There are two paths. The static path ([Fetcher]) drives colly over a
// recording HTTP transport: every request, redirect hops included, is kept
// as an [shopwatch.Exchange] with the request and response header bytes as
// they crossed the wire and the body bytes exactly as received. The markup is
// then decoded by this package (see [DecodeHTML]), never by colly, so that a
// page whose charset is only declared in a late <meta> tag still decodes, and
// the visible text and same-host links are extracted with goquery (see
// [ExtractText]). The browser path ([Browser]) renders pages that need
// JavaScript in Debian's Chromium through chromedp and keeps the rendered DOM
// and a full-page screenshot.
//
// Politeness is bounded per host: a [Fetcher] lets at most
// Config.PerHostParallel requests run against one host name at a time, spaces
// request starts to one host by Config.PerHostDelay, and caps all requests at
// Config.MaxParallel. Bodies are capped at Config.MaxBodySize; a cut body is
// flagged, never silently shortened.
//
// A URL guard keeps the crawler off the inspector's own network: unless
// Config.AllowPrivate (or BrowserConfig.AllowPrivate) lifts it, connections
// to loopback, private, link-local, shared (CGNAT), unspecified, multicast,
// reserved and cloud metadata addresses fail with a *GuardError wrapping
// ErrRefusedAddress, before any packet is sent to them; Config.Allow opens
// chosen ranges or host names. It is checked when connecting, on the
// address actually dialled: the static path resolves names itself, checks
// every address and dials that exact address, for the target and every
// redirect hop; the browser path sends all of Chromium's traffic, every
// sub-request included, through a forward proxy inside this process that
// does the same. A name that resolves to a public address for one lookup
// and a private one for the next (DNS rebinding) therefore gains nothing.
//
// A Fetcher fetches one page per call and never follows links itself: the
// sweep follows the links a Page lists through its persistent queue.
package crawler
