package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/server/notify"
)

// receiver is a webhook endpoint on loopback that records what it gets and
// fails the first fail requests.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	fail   int
}

func (rc *receiver) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.fail > 0 {
			rc.fail--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		rc.bodies = append(rc.bodies, b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (rc *receiver) got() [][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.bodies...)
}

// New violations reach each hook in its format (the WeCom and DingTalk
// robots' markdown messages, or JSON with the findings), after a retry
// when the hook is busy; findings seen before and leads are not
// announced as new.
func TestNewViolations(t *testing.T) {
	var wecom, ding, plain receiver
	wecom.fail = 1
	n := &notify.Notifier{Hooks: []notify.Hook{{URL: wecom.start(t), Format: "wecom"}, {URL: ding.start(t), Format: "dingtalk"}, {URL: plain.start(t)}},
		Backoff: 10 * time.Millisecond}
	if err := notify.Check(n.Hooks); err != nil {
		t.Fatal(err)
	}
	fs := []shopwatch.Finding{
		{ID: "f-1", Severity: shopwatch.SeverityViolation, Title: "使用绝对化用语", Match: "全网第一", URL: "http://127.0.0.1:9/p", TimesSeen: 1},
		{ID: "f-2", Severity: shopwatch.SeverityViolation, Match: "最佳", TimesSeen: 3},
		{ID: "f-3", Severity: shopwatch.SeverityReview, Match: "治疗", TimesSeen: 1},
	}
	if err := n.NewViolations(context.Background(), "s-1", fs); err != nil {
		t.Fatal(err)
	}
	var w struct {
		MsgType  string            `json:"msgtype"`
		Markdown map[string]string `json:"markdown"`
	}
	if got := wecom.got(); len(got) != 1 || json.Unmarshal(got[0], &w) != nil || w.MsgType != "markdown" || !strings.Contains(w.Markdown["content"], "f-1") || strings.Contains(w.Markdown["content"], "f-2") {
		t.Errorf("WeCom got %q", got)
	}
	if got := ding.got(); len(got) != 1 || json.Unmarshal(got[0], &w) != nil || w.Markdown["title"] != "新违法线索 1 条" || !strings.Contains(w.Markdown["text"], "全网第一") {
		t.Errorf("DingTalk got %q", got)
	}
	var m notify.Message
	if got := plain.got(); len(got) != 1 || json.Unmarshal(got[0], &m) != nil || m.Kind != "new-violations" || len(m.Findings) != 1 || m.Findings[0].ID != "f-1" {
		t.Errorf("JSON hook got %q", got)
	}
	if err := n.NewViolations(context.Background(), "s-2", fs[1:]); err != nil || len(plain.got()) != 1 {
		t.Errorf("no new violation: %v, %d messages", err, len(plain.got()))
	}
}

// A lead past its due date is announced once; a hook that stays down is
// reported as an error after its retries.
func TestLeadsPastDueAndFailures(t *testing.T) {
	var rc receiver
	n := &notify.Notifier{Hooks: []notify.Hook{{URL: rc.start(t)}}, Backoff: time.Millisecond}
	now := time.Now()
	lead := func(id string, due time.Time) shopwatch.Finding {
		return shopwatch.Finding{ID: id, Stage: shopwatch.StageLead, Lead: &shopwatch.Lead{Assignee: "李四", Jurisdiction: "上海市/杨浦区", Due: due}}
	}
	fs := []shopwatch.Finding{lead("f-1", now.Add(-time.Hour)), lead("f-2", now.Add(time.Hour))}
	for range 2 {
		if err := n.LeadsPastDue(context.Background(), fs, now); err != nil {
			t.Fatal(err)
		}
	}
	var m notify.Message
	if got := rc.got(); len(got) != 1 || json.Unmarshal(got[0], &m) != nil || len(m.Findings) != 1 || m.Findings[0].ID != "f-1" {
		t.Errorf("past-due leads announced: %q", got)
	}
	rc.fail = 10
	if err := n.Send(context.Background(), notify.Message{Title: "x"}); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a hook that stays down: %v", err)
	}
	for _, bad := range [][]notify.Hook{{{URL: "ftp://127.0.0.1/x"}}, {{URL: "http://127.0.0.1/x", Format: "slack"}}} {
		if err := notify.Check(bad); err == nil {
			t.Errorf("Check(%+v) accepted it", bad)
		}
	}
}
