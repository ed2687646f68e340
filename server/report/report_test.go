package report_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"shopwatch"
	"shopwatch/server/report"
)

func fixtures() ([]shopwatch.Finding, map[string]shopwatch.Target) {
	t0 := time.Date(2026, 11, 11, 0, 30, 0, 0, time.UTC) // 08:30 in Shanghai
	step := func(to ...shopwatch.Stage) []shopwatch.ReviewStep {
		var out []shopwatch.ReviewStep
		for _, s := range to {
			out = append(out, shopwatch.ReviewStep{To: s})
		}
		return out
	}
	targets := map[string]shopwatch.Target{
		"t-a": {ID: "t-a", Platform: "淘宝", Jurisdiction: "上海市/杨浦区"},
		"t-b": {ID: "t-b", Platform: "京东", Jurisdiction: "上海市/黄浦区"},
	}
	fs := []shopwatch.Finding{
		{ID: "f-2", TargetID: "t-a", Rule: "ad.absolute-term", Category: "advertising", Severity: shopwatch.SeverityViolation, Match: "全网第一",
			FirstSeen: t0.Add(time.Hour), State: shopwatch.FindingOpen, Stage: shopwatch.StageClosed,
			Reviews: step(shopwatch.StageConfirmed, shopwatch.StageLead, shopwatch.StageCase, shopwatch.StageClosed), CaseNo: "沪市监杨处〔2026〕1号"},
		{ID: "f-1", TargetID: "t-a", Rule: "ad.absolute-term", Category: "advertising", Severity: shopwatch.SeverityViolation, Match: "最佳",
			FirstSeen: t0, State: shopwatch.FindingGone, Stage: shopwatch.StageLead, Reviews: step(shopwatch.StageConfirmed, shopwatch.StageLead),
			Lead: &shopwatch.Lead{Assignee: "李四", Jurisdiction: "上海市/杨浦区", Due: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)}},
		{ID: "f-3", TargetID: "t-b", Rule: "licence.missing", Category: "licence", Severity: shopwatch.SeverityReview,
			FirstSeen: t0.Add(2 * time.Hour), Stage: shopwatch.StageDismissed, Reviews: step(shopwatch.StageDismissed)},
	}
	return fs, targets
}

// Statistics count findings, review steps and the closed-loop rate per
// group; an unknown grouping is refused.
func TestSummarise(t *testing.T) {
	fs, targets := fixtures()
	all, err := report.Summarise(fs, targets, "")
	if err != nil || len(all) != 1 {
		t.Fatalf("Summarise: %+v %v", all, err)
	}
	g := all[0]
	if g.Findings != 3 || g.Targets != 2 || g.Violations != 2 || g.Reviews != 1 || g.Fixed != 1 || g.Confirmed != 2 || g.Dismissed != 1 ||
		g.Leads != 2 || g.Cases != 1 || g.Closed != 1 || g.ClosedLoop != 0.5 {
		t.Errorf("all: %+v", g)
	}
	byJ, err := report.Summarise(fs, targets, "jurisdiction")
	if err != nil || len(byJ) != 2 || byJ[0].Group != "上海市/杨浦区" || byJ[0].Findings != 2 || byJ[1].Group != "上海市/黄浦区" || byJ[1].Leads != 0 || byJ[1].ClosedLoop != 0 {
		t.Errorf("by jurisdiction: %+v %v", byJ, err)
	}
	if _, err := report.Summarise(fs, targets, "colour"); err == nil {
		t.Error("an unknown grouping was accepted")
	}
}

// The ledger in CSV starts with a byte-order mark, numbers the findings in
// order of first sighting and shows times in the office's zone; the XLSX
// holds the same cells.
func TestLedger(t *testing.T) {
	fs, targets := fixtures()
	rows := report.Rows(fs, targets)
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := report.WriteCSV(&b, rows, shanghai); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b.Bytes(), []byte("\ufeff")) {
		t.Fatal("the CSV has no byte-order mark")
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(b.String(), "\ufeff"))).ReadAll()
	if err != nil || len(recs) != 4 {
		t.Fatalf("CSV: %d records, %v", len(recs), err)
	}
	if recs[0][0] != "序号" || recs[1][0] != "1" || recs[1][1] != "f-1" || recs[1][2] != "2026-11-11 08:30:00" || recs[1][12] != "最佳" || recs[1][13] != "gone (fixed)" ||
		!strings.Contains(recs[1][15], "李四") || recs[2][16] != "沪市监杨处〔2026〕1号" || recs[3][14] != "dismissed" {
		t.Errorf("CSV rows: %q", recs)
	}
	var x bytes.Buffer
	if err := report.WriteXLSX(&x, rows, shanghai); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&x)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.GetRows("台账")
	if err != nil || len(got) != 4 {
		t.Fatalf("XLSX: %d rows, %v", len(got), err)
	}
	for i := range recs {
		for j := range recs[i] {
			if j < len(got[i]) && got[i][j] != recs[i][j] || j >= len(got[i]) && recs[i][j] != "" {
				t.Errorf("XLSX cell %d,%d = %q, CSV %q", i, j, cellOr(got[i], j), recs[i][j])
			}
		}
	}
}

func cellOr(row []string, j int) string {
	if j < len(row) {
		return row[j]
	}
	return ""
}

// The lead assignment notice states the lead, the finding and its legal
// basis, escapes what the page said, and is refused for a finding never
// handed over.
func TestNotice(t *testing.T) {
	fs, targets := fixtures()
	f := fs[1] // f-1, a lead
	f.Reviews = append(f.Reviews, shopwatch.ReviewStep{At: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC), By: "张三", To: shopwatch.StageLead})
	f.Snippet = "<script>alert(1)</script>最佳"
	f.Law, f.Article, f.Title, f.EvidenceIDs = "《广告法》", "第九条第三项", "使用绝对化用语", []string{"ev-1"}
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	var b bytes.Buffer
	if err := report.WriteNotice(&b, report.NoticeData{Office: "某区市场监督管理局", Finding: f, Target: targets[f.TargetID], Loc: shanghai}); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{"线索交办通知书", "编号：f-1-20261201", "上海市/杨浦区 李四", "2026年12月31日", "《广告法》第九条第三项", "使用绝对化用语", "ev-1",
		"交办单位：某区市场监督管理局", "交办人：张三", "&lt;script&gt;"} {
		if !strings.Contains(html, want) {
			t.Errorf("the notice lacks %q", want)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Error("the notice carries the page's script unescaped")
	}
	if err := report.WriteNotice(&b, report.NoticeData{Finding: fs[2]}); err != report.ErrNoLead {
		t.Errorf("notice of a finding never handed over: %v", err)
	}
}
