package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"shopwatch/crawler"
	"shopwatch/evidence"
	"shopwatch/server/notify"
)

// startup loads and checks the configuration once, before the command
// does anything: a missing --config file, an unknown key or a bad value
// stops every command with a usage error naming the file, line and key.
func (a *app) startup() error {
	if a.started {
		return nil
	}
	a.started = true
	c, err := a.config()
	if err != nil {
		return &errExit{code: exitUsage, err: err}
	}
	if err := c.Validate(); err != nil {
		name := a.configPath
		if name == "" {
			name = "built-in config"
		}
		return &errExit{code: exitUsage, err: fmt.Errorf("config %s: %w", name, err)}
	}
	return nil
}

// decodeConfig decodes the YAML document b onto v, whose fields hold the
// values so far. Every key must name a field and every value suit it; the
// errors, all of them, name the file, the line and the dotted key
// (crawler.timeout), never a Go type.
func decodeConfig(name string, b []byte, v any) error {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return fmt.Errorf("config %s: %s", name, yamlMessage(err))
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil // an empty file changes nothing
	}
	doc := root.Content[0]
	var problems []string
	checkConfigNode(name, doc, reflect.TypeOf(v).Elem(), "", &problems)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	if err := doc.Decode(v); err != nil {
		return fmt.Errorf("config %s: %s", name, yamlMessage(err))
	}
	return nil
}

var witnessKeyID = regexp.MustCompile(`^ed25519:[0-9a-f]{16}$`)

var (
	yamlPrefix = regexp.MustCompile(`^yaml: (unmarshal errors:\s*)?`)
	yamlInto   = regexp.MustCompile(` into [][*\w.]+`)
)

// yamlMessage is a YAML error without the package's prefix and Go types.
func yamlMessage(err error) string {
	s := strings.TrimSpace(yamlPrefix.ReplaceAllString(err.Error(), ""))
	return yamlInto.ReplaceAllString(s, "")
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	timeType     = reflect.TypeOf(time.Time{})
)

// checkConfigNode checks node n against type t at the dotted key path.
func checkConfigNode(file string, n *yaml.Node, t reflect.Type, key string, problems *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // key: (nothing) keeps the value
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	where := fmt.Sprintf("config %s:%d", file, n.Line)
	if t.Kind() == reflect.Struct && t != timeType {
		if n.Kind != yaml.MappingNode {
			*problems = append(*problems, fmt.Sprintf("%s: %s holds settings (key: value lines), not %q", where, key, n.Value))
			return
		}
		fields := map[string]reflect.StructField{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag != "" && tag != "-" {
				fields[tag] = f
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			full := k.Value
			if key != "" {
				full = key + "." + k.Value
			}
			f, ok := fields[k.Value]
			if !ok {
				*problems = append(*problems, fmt.Sprintf("config %s:%d: unknown key %s%s", file, k.Line, full, suggestKey(k.Value, fields)))
				continue
			}
			checkConfigNode(file, val, f.Type, full, problems)
		}
		return
	}
	if t.Kind() == reflect.Slice && n.Kind != yaml.SequenceNode {
		*problems = append(*problems, fmt.Sprintf("%s: %s wants a list like [a, b], not %q", where, key, n.Value))
		return
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
		for i, el := range n.Content {
			checkConfigNode(file, el, t.Elem(), fmt.Sprintf("%s[%d]", key, i), problems)
		}
		return
	}
	if t.Kind() != reflect.Slice && n.Kind != yaml.ScalarNode {
		*problems = append(*problems, fmt.Sprintf("%s: %s wants %s, not a list or mapping", where, key, wantOf(t)))
		return
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		*problems = append(*problems, fmt.Sprintf("%s: %s wants %s, not %q", where, key, wantOf(t), n.Value))
	}
}

// wantOf says in words what a value of type t looks like.
func wantOf(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration (like 30s, 2m or 1h)"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Slice:
		return "a list of " + strings.TrimPrefix(wantOf(t.Elem()), "a ") + "s"
	default:
		return "a text"
	}
}

// suggestKey names the known key closest to k, when one is close.
func suggestKey(k string, fields map[string]reflect.StructField) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(strings.ToLower(k), n); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return fmt.Sprintf(" (known here: %s)", strings.Join(names, ", "))
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur := make([]int, len(rb)+1)
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(rb)]
}

// Validate checks the whole configuration once at start-up: each
// component's own Validate (the crawler's) and the settings that only the
// command uses. Every problem names its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Timezone != "" {
		if _, err := time.LoadLocation(c.Timezone); err != nil {
			bad("timezone", "%q is not a known time zone (want an IANA name such as Asia/Shanghai or UTC)", c.Timezone)
		}
	}
	for i, o := range c.Officers {
		if _, err := evidence.ParseOfficer(o); err != nil {
			bad(fmt.Sprintf("officers[%d]", i), "%v", err)
		}
	}
	for i, w := range c.Witnesses {
		if !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://") {
			bad(fmt.Sprintf("witnesses[%d].url", i), "%q is not an http(s) URL", w.URL)
		}
		if !witnessKeyID.MatchString(w.KeyID) {
			bad(fmt.Sprintf("witnesses[%d].key_id", i), "%q is not ed25519:<16 lowercase hex>, as witness init prints it", w.KeyID)
		}
	}
	if err := notify.Check(c.Notify.Webhooks); err != nil {
		bad("notify.webhooks", "%v", err)
	}
	k := c.Crawler
	cc := crawler.Config{UserAgent: k.UserAgent, Timeout: k.Timeout, MaxBodySize: k.MaxBodySize, MaxRedirects: k.MaxRedirects,
		PerHostParallel: k.PerHostParallel, PerHostDelay: k.PerHostDelay, MaxParallel: k.MaxParallel, Allow: k.Allow}
	if err := cc.Validate(); err != nil {
		bad("crawler", "%v", strings.TrimPrefix(err.Error(), "crawler config: "))
	}
	nonNegative := map[string]time.Duration{
		"sweep.lease_ttl": c.Sweep.LeaseTTL, "sweep.visit_timeout": c.Sweep.VisitTimeout,
		"live.window": c.Live.Window, "live.sample": c.Live.Sample,
		"browser.timeout": c.Browser.Timeout, "browser.settle": c.Browser.Settle,
		"capture.max_clock_offset":    c.Capture.MaxClockOffset,
		"tsa.max_skew":                c.TSA.MaxSkew,
		"store.spool.attempt_timeout": c.Store.Spool.AttemptTimeout,
		"store.spool.min_backoff":     c.Store.Spool.MinBackoff,
		"store.spool.max_backoff":     c.Store.Spool.MaxBackoff,
	}
	for _, key := range sortedKeys(nonNegative) {
		if nonNegative[key] < 0 {
			bad(key, "negative duration %s", nonNegative[key])
		}
	}
	counts := map[string]int{
		"sweep.workers": c.Sweep.Workers, "sweep.max_attempts": c.Sweep.MaxAttempts,
		"browser.width": c.Browser.Width, "browser.height": c.Browser.Height,
		"browser.tabs": c.Browser.Tabs, "browser.recycle_after": c.Browser.RecycleAfter,
		"store.minio.retention_days": c.Store.MinIO.RetentionDays, "store.minio.max_retries": c.Store.MinIO.MaxRetries,
	}
	for _, key := range sortedKeys(counts) {
		if counts[key] < 0 {
			bad(key, "negative number %d", counts[key])
		}
	}
	switch c.Store.Kind {
	case "", "folder":
	case "minio":
		m := c.Store.MinIO
		if m.Endpoint == "" {
			bad("store.minio.endpoint", "empty; store kind minio needs host:port")
		}
		if m.Bucket == "" {
			bad("store.minio.bucket", "empty")
		}
		if m.ObjectLock {
			if m.RetentionMode != "COMPLIANCE" && m.RetentionMode != "GOVERNANCE" {
				bad("store.minio.retention_mode", "%q (want COMPLIANCE or GOVERNANCE)", m.RetentionMode)
			}
			if m.RetentionDays <= 0 {
				bad("store.minio.retention_days", "%d; object_lock needs at least 1 day", m.RetentionDays)
			}
		}
	default:
		bad("store.kind", "%q (want folder or minio)", c.Store.Kind)
	}
	if c.TSA.URL != "" && c.TSA.RootFile == "" {
		bad("tsa.root_file", "empty; tsa.url %s needs the PEM root its certificates chain to", c.TSA.URL)
	}
	if c.TSA.URL == "" && c.TSA.Trusted != nil && *c.TSA.Trusted {
		bad("tsa.trusted", "true without tsa.url: the built-in authority is self-issued and cannot be marked trusted")
	}
	switch c.Capture.ClockSource {
	case "", "auto", "tsa", "none":
	case "ntp":
		if c.Capture.NTPServer == "" {
			bad("capture.ntp_server", "empty; capture.clock_source ntp needs the NTP server to compare with")
		}
	default:
		bad("capture.clock_source", "%q (want auto, tsa, ntp or none)", c.Capture.ClockSource)
	}
	if p := c.Keys.PKCS11; p != (pkcs11Config{}) {
		for _, kv := range [][2]string{{"module", p.Module}, {"token_label", p.TokenLabel}, {"key_label", p.KeyLabel}} {
			if kv[1] == "" {
				bad("keys.pkcs11."+kv[0], "empty; a key in a PKCS#11 token needs module, token_label and key_label")
			}
		}
		if _, err := hex.DecodeString(p.KeyID); err != nil {
			bad("keys.pkcs11.key_id", "%q is not hex (the key's CKA_ID)", p.KeyID)
		}
		if (p.PINFile == "") == (p.PINEnv == "") {
			bad("keys.pkcs11.pin_file", "set pin_file or pin_env (one of them): where the token's user PIN comes from")
		}
	}
	if c.Rules.Dir != "" {
		if st, err := os.Stat(c.Rules.Dir); err != nil || !st.IsDir() {
			bad("rules.dir", "%s is not a folder", c.Rules.Dir)
		}
	}
	for _, p := range c.Targets.TrackingParams {
		if _, err := path.Match(p, ""); err != nil || strings.TrimSpace(p) == "" {
			bad("targets.tracking_params", "%q is not a parameter name or pattern", p)
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
