// Package report makes the office's reports from findings and targets:
// the findings ledger (台账) as CSV (UTF-8 with a byte-order mark, so that
// Excel opens it) or XLSX (written as a stream), and statistics per
// jurisdiction, platform, category or rule with the closed-loop rate
// (闭环处置率). Times are in the office's time zone.
package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"shopwatch"
)

// Row is one line of the findings ledger.
type Row struct {
	No           int
	ID           string // the finding's id
	FirstSeen    time.Time
	LastSeen     time.Time
	Platform     string
	Jurisdiction string
	TargetID     string
	URL          string
	Rule         string
	Title        string
	Basis        string // law and article
	Severity     string
	Match        string
	State        string // open or gone (fixed on the page)
	Stage        string
	Lead         string // assignee, jurisdiction and due date
	CaseNo       string
	Evidence     string // evidence ids, oldest first
}

// Header is the ledger's header row.
var Header = []string{"序号", "发现编号", "首次发现", "最近发现", "平台", "辖区", "监测对象", "网址", "规则", "问题", "法律依据", "严重程度",
	"违法内容", "页面状态", "处置阶段", "交办", "案件编号", "证据编号"}

// Rows makes the ledger of findings, numbered in order of first sighting,
// with each finding's target from targets (by id).
func Rows(findings []shopwatch.Finding, targets map[string]shopwatch.Target) []Row {
	fs := slices.Clone(findings)
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].FirstSeen.Before(fs[j].FirstSeen) })
	rows := make([]Row, 0, len(fs))
	for i, f := range fs {
		t := targets[f.TargetID]
		stage := string(f.Stage)
		if stage == "" {
			stage = string(shopwatch.StageNew)
		}
		state := string(f.State)
		if f.State == shopwatch.FindingGone {
			state = "gone (fixed)"
		}
		lead := ""
		if f.Lead != nil {
			lead = fmt.Sprintf("%s, %s, due %s", f.Lead.Assignee, f.Lead.Jurisdiction, f.Lead.Due.Format(time.DateOnly))
		}
		rows = append(rows, Row{No: i + 1, ID: f.ID, FirstSeen: f.FirstSeen, LastSeen: f.LastSeen, Platform: t.Platform, Jurisdiction: t.Jurisdiction,
			TargetID: f.TargetID, URL: f.URL, Rule: f.Rule, Title: f.Title, Basis: strings.TrimSpace(f.Law + f.Article),
			Severity: string(f.Severity), Match: f.Match, State: state, Stage: stage, Lead: lead, CaseNo: f.CaseNo,
			Evidence: strings.Join(f.EvidenceIDs, " ")})
	}
	return rows
}

func (r *Row) cells(loc *time.Location) []string {
	at := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format("2006-01-02 15:04:05")
	}
	return []string{fmt.Sprint(r.No), r.ID, at(r.FirstSeen), at(r.LastSeen), r.Platform, r.Jurisdiction, r.TargetID, r.URL, r.Rule, r.Title,
		r.Basis, r.Severity, r.Match, r.State, r.Stage, r.Lead, r.CaseNo, r.Evidence}
}

// WriteCSV writes the ledger as CSV, UTF-8 with a byte-order mark, times
// in loc.
func WriteCSV(w io.Writer, rows []Row, loc *time.Location) error {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	for i := range rows {
		if err := cw.Write(rows[i].cells(loc)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteXLSX writes the ledger as an XLSX workbook, row by row through
// excelize's stream writer, times in loc.
func WriteXLSX(w io.Writer, rows []Row, loc *time.Location) error {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "台账"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	line := func(n int, cells []string) error {
		vals := make([]any, len(cells))
		for i, c := range cells {
			vals[i] = c
		}
		cell, err := excelize.CoordinatesToCellName(1, n)
		if err != nil {
			return err
		}
		return sw.SetRow(cell, vals)
	}
	if err := line(1, Header); err != nil {
		return err
	}
	for i := range rows {
		if err := line(i+2, rows[i].cells(loc)); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	_, err = f.WriteTo(w)
	return err
}

// Stats are the figures of one group of findings.
type Stats struct {
	Group         string  `json:"group"`
	Targets       int     `json:"targets"` // targets with a finding
	Findings      int     `json:"findings"`
	Violations    int     `json:"violations"`
	Reviews       int     `json:"reviews"` // findings of severity review
	Fixed         int     `json:"fixed"`   // gone from their page
	Confirmed     int     `json:"confirmed"`
	Dismissed     int     `json:"dismissed"`
	Leads         int     `json:"leads"` // handed over as leads (交办), whatever came after
	Cases         int     `json:"cases"` // 立案
	NotFiled      int     `json:"not_filed"`
	FirstOffence  int     `json:"first_offence"`
	Rectification int     `json:"rectification"`
	Closed        int     `json:"closed"`
	ClosedLoop    float64 `json:"closed_loop"` // closed leads / leads (闭环处置率); 0 without leads
}

// Groupings Summarise knows.
var Groupings = []string{"jurisdiction", "platform", "category", "rule"}

// Summarise counts findings by group (one of Groupings; "" for one group,
// "all"), with the targets of targets.
func Summarise(findings []shopwatch.Finding, targets map[string]shopwatch.Target, by string) ([]Stats, error) {
	key := func(f *shopwatch.Finding) string {
		t := targets[f.TargetID]
		switch by {
		case "jurisdiction":
			return t.Jurisdiction
		case "platform":
			return t.Platform
		case "category":
			return f.Category
		case "rule":
			return f.Rule
		}
		return "all"
	}
	if by != "" && !slices.Contains(Groupings, by) {
		return nil, fmt.Errorf("group by %q: want one of %s", by, strings.Join(Groupings, ", "))
	}
	groups := map[string]*Stats{}
	seen := map[string]map[string]bool{}
	for i := range findings {
		f := &findings[i]
		k := key(f)
		if k == "" {
			k = "(none)"
		}
		g := groups[k]
		if g == nil {
			g = &Stats{Group: k}
			groups[k], seen[k] = g, map[string]bool{}
		}
		if !seen[k][f.TargetID] {
			seen[k][f.TargetID] = true
			g.Targets++
		}
		g.Findings++
		switch f.Severity {
		case shopwatch.SeverityViolation:
			g.Violations++
		case shopwatch.SeverityReview:
			g.Reviews++
		}
		if f.State == shopwatch.FindingGone {
			g.Fixed++
		}
		reached := map[shopwatch.Stage]bool{}
		for _, r := range f.Reviews {
			reached[r.To] = true
		}
		count := func(s shopwatch.Stage, n *int) {
			if reached[s] {
				*n++
			}
		}
		count(shopwatch.StageConfirmed, &g.Confirmed)
		if f.Stage == shopwatch.StageDismissed {
			g.Dismissed++
		}
		count(shopwatch.StageLead, &g.Leads)
		count(shopwatch.StageCase, &g.Cases)
		count(shopwatch.StageNotFiled, &g.NotFiled)
		count(shopwatch.StageFirstOffence, &g.FirstOffence)
		count(shopwatch.StageRectification, &g.Rectification)
		if reached[shopwatch.StageLead] && f.Stage == shopwatch.StageClosed {
			g.Closed++
		}
	}
	out := make([]Stats, 0, len(groups))
	for _, g := range groups {
		if g.Leads > 0 {
			g.ClosedLoop = float64(g.Closed) / float64(g.Leads)
		}
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Findings != out[j].Findings {
			return out[i].Findings > out[j].Findings
		}
		return out[i].Group < out[j].Group
	})
	return out, nil
}
