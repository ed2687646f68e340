package db

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"shopwatch"
)

// A finding moves through its handling one allowed step at a time, each
// step with what it needs, recorded with who and when in the finding and
// the audit log; a step out of order or lacking what it needs changes
// nothing.
func TestReviewFinding(t *testing.T) {
	ctx := context.Background()
	d, _ := newTestDB(t)
	v := visit("", "http://127.0.0.1:9/p", 1)
	sweep, _, err := d.PlanSweep(ctx, "s", []shopwatch.Visit{v}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leased, err := d.Lease(ctx, "w", 1, time.Minute)
	if err != nil || len(leased) != 1 {
		t.Fatalf("lease: %v %v", leased, err)
	}
	if err := d.Complete(ctx, leased[0], Result{Findings: []shopwatch.Finding{finding(leased[0], 1)}}); err != nil {
		t.Fatal(err)
	}
	fs, err := d.ListFindings(ctx, Filter{Sweep: sweep})
	if err != nil || len(fs) != 1 {
		t.Fatalf("findings %v %v", fs, err)
	}
	id := fs[0].ID
	if got, _ := d.ListFindings(ctx, Filter{Stage: shopwatch.StageNew}); len(got) != 1 {
		t.Errorf("unreviewed finding not listed as new")
	}
	as := func(who string) context.Context { return WithActor(ctx, who) }
	bad := []struct {
		r    Review
		want string
	}{
		{Review{To: shopwatch.StageCase, CaseNo: "X"}, "can become confirmed or dismissed"},
		{Review{To: shopwatch.StageDismissed}, "needs a reason"},
		{Review{To: shopwatch.StageDismissed, Reason: "other"}, "needs a note"},
		{Review{To: "approved"}, "not \"approved\""},
	}
	for _, b := range bad {
		if _, err := d.ReviewFinding(as("张三"), id, b.r); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("review %+v: %v, want ErrInvalid mentioning %q", b.r, err, b.want)
		}
	}
	if _, err := d.ReviewFinding(ctx, "f-nosuch", Review{To: shopwatch.StageConfirmed}); !errors.Is(err, ErrNotFound) {
		t.Errorf("review of an unknown finding: %v", err)
	}
	due := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		who string
		r   Review
	}{
		{"张三", Review{To: shopwatch.StageConfirmed, Note: "页面标题含“全网第一”"}},
		{"张三", Review{To: shopwatch.StageLead}},
		{"张三", Review{To: shopwatch.StageLead, Jurisdiction: "上海市/杨浦区", Assignee: "李四", Due: due}},
		{"李四", Review{To: shopwatch.StageCase}},
		{"李四", Review{To: shopwatch.StageCase, CaseNo: "沪市监杨处〔2026〕123号"}},
		{"李四", Review{To: shopwatch.StageClosed, Note: "已作出行政处罚决定"}},
	}
	for i, st := range steps {
		f, err := d.ReviewFinding(as(st.who), id, st.r)
		if i == 1 || i == 3 { // missing what the step needs
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("step %d %+v: %v, want ErrInvalid", i, st.r, err)
			}
			continue
		}
		if err != nil || f.Stage != st.r.To {
			t.Fatalf("step %d %+v: %+v, %v", i, st.r, f, err)
		}
	}
	f, err := d.GetFinding(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if f.Stage != shopwatch.StageClosed || f.CaseNo != "沪市监杨处〔2026〕123号" || f.Lead == nil || f.Lead.Assignee != "李四" || !f.Lead.Due.Equal(due) || len(f.Reviews) != 4 {
		t.Fatalf("finding after its handling: %+v", f)
	}
	if r := f.Reviews[3]; r.By != "李四" || r.From != shopwatch.StageCase || r.To != shopwatch.StageClosed || r.At.IsZero() {
		t.Errorf("last step recorded as %+v", r)
	}
	if _, err := d.ReviewFinding(ctx, id, Review{To: shopwatch.StageNew}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a closed finding reopened: %v", err)
	}
	es, _ := d.ListAudit(ctx, 0, 0)
	n := 0
	for _, e := range es {
		if e.Action == "finding.reviewed" && strings.Contains(e.Detail, id) {
			n++
		}
	}
	if n != 4 {
		t.Errorf("audit log has %d reviews of %s, want 4", n, id)
	}
}
