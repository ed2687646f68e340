package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"shopwatch"
	"shopwatch/db"
	ledger "shopwatch/server/report"
)

func init() {
	register(command{name: "review", summary: "move a finding through its handling: confirm, dismiss, hand over as a lead, decide, close", run: runReview})
}

const reviewUsage = `review FINDING-ID STEP [flags]

Steps (each from the stage before it):
  confirm        new → confirmed                        [--note]
  dismiss        new or confirmed → dismissed           --reason R [--note] (R: %s)
  reopen         dismissed → new                        [--note]
  lead           confirmed → lead (线索交办)            --to-jurisdiction J --assignee NAME --due 2026-12-31 [--note]
  case           lead or rectification → case (立案)    --case-no NO [--note]
  not-filed      lead → not-filed (不予立案)            --note WHY
  first-offence  lead → first-offence (首违不罚)        --basis BASIS [--note]
  rectification  lead → rectification (责令整改)       [--note]
  close          a decided finding → closed (归档)      --note WHAT

review notice FINDING-ID -o FILE.html|FILE.pdf   the lead assignment notice (线索交办通知书) of a lead`

// reviewSteps maps the command's step names to stages.
var reviewSteps = map[string]shopwatch.Stage{
	"confirm": shopwatch.StageConfirmed, "dismiss": shopwatch.StageDismissed, "reopen": shopwatch.StageNew,
	"lead": shopwatch.StageLead, "case": shopwatch.StageCase, "not-filed": shopwatch.StageNotFiled,
	"first-offence": shopwatch.StageFirstOffence, "rectification": shopwatch.StageRectification, "close": shopwatch.StageClosed,
}

func runReview(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 && args[0] == "notice" {
		return reviewNotice(ctx, a, args[1:])
	}
	usage := fmt.Sprintf(reviewUsage, strings.Join(shopwatch.DismissReasons, ", "))
	fs := a.newFlags("review", usage)
	note := fs.String("note", "", "what the reviewer says (needed to dismiss for reason other, to not file and to close)")
	reason := fs.String("reason", "", "why it is dismissed: "+strings.Join(shopwatch.DismissReasons, ", "))
	jur := fs.String("to-jurisdiction", "", "the jurisdiction a lead is handed to")
	assignee := fs.String("assignee", "", "the person a lead is handed to")
	due := fs.String("due", "", "the date a lead is due (2006-01-02, local time)")
	caseNo := fs.String("case-no", "", "the case number (案件编号) of a filed case")
	basis := fs.String("basis", "", "the legal basis of not penalising a first offence")
	asJSON := fs.Bool("json", false, "print the finding after the step as JSON")
	pos, err := parseArgs(fs, args, 2, 2)
	if err != nil {
		return err
	}
	to, ok := reviewSteps[pos[1]]
	if !ok {
		return usagef("unknown step %q\nusage: shopwatch %s", pos[1], usage)
	}
	r := db.Review{To: to, Note: *note, Reason: *reason, Jurisdiction: *jur, Assignee: *assignee, CaseNo: *caseNo, Basis: *basis}
	if *due != "" {
		d, err := time.ParseInLocation(time.DateOnly, *due, a.location())
		if err != nil {
			return usagef("--due %q: want a date, 2006-01-02", *due)
		}
		r.Due = d.AddDate(0, 0, 1).Add(-time.Second) // the whole day
	}
	w, err := a.workspace(ctx, false)
	if err != nil {
		return err
	}
	f, err := w.ReviewFinding(ctx, pos[0], r)
	if errors.Is(err, db.ErrInvalid) || errors.Is(err, db.ErrNotFound) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return a.printJSON(f)
	}
	line := fmt.Sprintf("%s is %s", f.ID, f.Stage)
	switch f.Stage {
	case shopwatch.StageLead:
		line += fmt.Sprintf(": handed to %s of %s, due %s", f.Lead.Assignee, f.Lead.Jurisdiction, f.Lead.Due.In(a.location()).Format(time.DateOnly))
	case shopwatch.StageCase:
		line += ": case " + f.CaseNo
	}
	if next := db.NextStages(f.Stage); len(next) > 0 {
		var names []string
		for step, st := range reviewSteps {
			for _, n := range next {
				if st == n {
					names = append(names, step)
				}
			}
		}
		sort.Strings(names)
		line += " (next: " + strings.Join(names, ", ") + ")"
	}
	fmt.Fprintln(a.stdout, line)
	return nil
}

// reviewNotice writes the lead assignment notice (线索交办通知书) of a
// finding handed over as a lead, as HTML or as PDF (printed by Chromium).
func reviewNotice(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("review notice", "review notice FINDING-ID -o FILE.html|FILE.pdf")
	out := fs.String("o", "", "the file: .html, or .pdf printed with Chromium")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	ext := strings.ToLower(filepath.Ext(*out))
	if ext != ".html" && ext != ".pdf" {
		return usagef("review notice needs -o FILE.html or -o FILE.pdf")
	}
	w, err := a.workspace(ctx, true)
	if err != nil {
		return err
	}
	f, err := w.GetFinding(ctx, pos[0])
	if errors.Is(err, db.ErrNotFound) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	c, err := a.config()
	if err != nil {
		return err
	}
	d := ledger.NoticeData{Office: cmp.Or(c.Office.Name, "（交办单位）"), Address: c.Office.Address, Finding: *f, Loc: a.location()}
	if t, err := w.FindTarget(ctx, f.TargetID); err == nil {
		d.Target = *t
	}
	var b bytes.Buffer
	if err := ledger.WriteNotice(&b, d); errors.Is(err, ledger.ErrNoLead) {
		return usagef("%s: %v (review %s lead … first)", f.ID, err, f.ID)
	} else if err != nil {
		return err
	}
	body := b.Bytes()
	if ext == ".pdf" {
		p, err := a.pdfPrinter()
		if err != nil {
			return err
		}
		if body, err = p.PrintHTML(ctx, body); err != nil {
			return fmt.Errorf("print the notice: %w", err)
		}
	}
	if err := os.WriteFile(*out, body, 0o644); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, *out)
	return nil
}
