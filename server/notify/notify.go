// Package notify sends the office's notifications to webhooks: the
// markdown messages that 企业微信 (WeCom) and 钉钉 (DingTalk) group robots
// accept, or plain JSON for anything else. A notification that cannot be
// delivered is retried and then logged; it never stops a sweep.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"shopwatch"
)

// Hook is a webhook: its URL and the body format it takes.
type Hook struct {
	URL    string `yaml:"url" json:"url"`
	Format string `yaml:"format" json:"format"` // wecom, dingtalk or json (default)
}

// Formats are the body formats a hook may take.
var Formats = []string{"wecom", "dingtalk", "json"}

// Message is one notification: a title and markdown text, and for the
// json format the findings it is about.
type Message struct {
	Kind     string              `json:"kind"` // new-violations or leads-past-due
	Title    string              `json:"title"`
	Text     string              `json:"text"`
	Findings []shopwatch.Finding `json:"findings,omitempty"`
}

// body is what a hook of format f is sent for m.
func body(f string, m Message) ([]byte, error) {
	switch f {
	case "wecom":
		return json.Marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": "**" + m.Title + "**\n" + m.Text}})
	case "dingtalk":
		return json.Marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]string{"title": m.Title, "text": "### " + m.Title + "\n" + m.Text}})
	case "", "json":
		return json.Marshal(m)
	}
	return nil, fmt.Errorf("webhook format %q: want one of %s", f, strings.Join(Formats, ", "))
}

// Notifier sends messages to its hooks.
type Notifier struct {
	Hooks  []Hook
	Client *http.Client
	Log    *slog.Logger
	// Retries is how many times a failed delivery is tried again
	// (default 2), Backoff the wait before the first retry (default 1s,
	// doubling).
	Retries int
	Backoff time.Duration

	mu       sync.Mutex
	notified map[string]bool // leads past due already announced, by finding id
}

// Check refuses hooks without an http(s) URL or with an unknown format.
func Check(hooks []Hook) error {
	for i, h := range hooks {
		if !strings.HasPrefix(h.URL, "https://") && !strings.HasPrefix(h.URL, "http://") {
			return fmt.Errorf("webhook %d: url %q: want http:// or https://", i, h.URL)
		}
		if _, err := body(h.Format, Message{}); err != nil {
			return fmt.Errorf("webhook %d: %w", i, err)
		}
	}
	return nil
}

// Send delivers m to every hook; it returns the hooks' errors joined.
func (n *Notifier) Send(ctx context.Context, m Message) error {
	var errs []string
	for _, h := range n.Hooks {
		if err := n.deliver(ctx, h, m); err != nil {
			errs = append(errs, err.Error())
			n.log().WarnContext(ctx, "notification not delivered", "webhook", redact(h.URL), "kind", m.Kind, "err", err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("notify: %s", strings.Join(errs, "; "))
	}
	return nil
}

func (n *Notifier) log() *slog.Logger {
	if n.Log != nil {
		return n.Log
	}
	return slog.Default()
}

// redact keeps a webhook's key out of the logs.
func redact(u string) string {
	if i := strings.IndexAny(u, "?"); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}

func (n *Notifier) deliver(ctx context.Context, h Hook, m Message) error {
	b, err := body(h.Format, m)
	if err != nil {
		return err
	}
	client := n.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	retries, wait := n.Retries, n.Backoff
	if retries == 0 {
		retries = 2
	}
	if wait == 0 {
		wait = time.Second
	}
	var last error
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			wait *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		resp, err := client.Do(req)
		if err != nil {
			last = err
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return nil
		}
		last = fmt.Errorf("%s answered %s", redact(h.URL), resp.Status)
	}
	return last
}

// NewViolations announces the violations a sweep found for the first
// time; nothing when there are none.
func (n *Notifier) NewViolations(ctx context.Context, sweep string, fs []shopwatch.Finding) error {
	var nv []shopwatch.Finding
	for _, f := range fs {
		if f.Severity == shopwatch.SeverityViolation && f.TimesSeen <= 1 {
			nv = append(nv, f)
		}
	}
	if len(nv) == 0 || len(n.Hooks) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "监测任务 %s 发现 %d 条新违法线索 (new violations)：\n", sweep, len(nv))
	for i, f := range nv {
		if i == 10 {
			fmt.Fprintf(&b, "> …另有 %d 条 (%d more)\n", len(nv)-i, len(nv)-i)
			break
		}
		fmt.Fprintf(&b, "> %s %s「%s」%s\n", f.ID, f.Title, f.Match, f.URL)
	}
	return n.Send(ctx, Message{Kind: "new-violations", Title: fmt.Sprintf("新违法线索 %d 条", len(nv)), Text: b.String(), Findings: nv})
}

// LeadsPastDue announces the leads whose due date has passed at now and
// that this notifier has not announced yet.
func (n *Notifier) LeadsPastDue(ctx context.Context, fs []shopwatch.Finding, now time.Time) error {
	if len(n.Hooks) == 0 {
		return nil
	}
	n.mu.Lock()
	if n.notified == nil {
		n.notified = map[string]bool{}
	}
	var due []shopwatch.Finding
	for _, f := range fs {
		if f.Stage == shopwatch.StageLead && f.Lead != nil && now.After(f.Lead.Due) && !n.notified[f.ID] {
			due = append(due, f)
			n.notified[f.ID] = true
		}
	}
	n.mu.Unlock()
	if len(due) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d 条交办线索已逾期 (leads past due)：\n", len(due))
	for _, f := range due {
		fmt.Fprintf(&b, "> %s 承办人 %s（%s）期限 %s\n", f.ID, f.Lead.Assignee, f.Lead.Jurisdiction, f.Lead.Due.Format(time.DateOnly))
	}
	return n.Send(ctx, Message{Kind: "leads-past-due", Title: fmt.Sprintf("逾期交办线索 %d 条", len(due)), Text: b.String(), Findings: due})
}
