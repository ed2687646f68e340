package db

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"shopwatch"
)

// Review is one step of a finding's handling asked for: the stage to move
// to and what that stage needs.
type Review struct {
	To     shopwatch.Stage `json:"to"`
	Note   string          `json:"note,omitempty"`
	Reason string          `json:"reason,omitempty"` // dismissed: one of shopwatch.DismissReasons
	// Lead: the jurisdiction and person it is handed to, and by when.
	Jurisdiction string    `json:"jurisdiction,omitempty"`
	Assignee     string    `json:"assignee,omitempty"`
	Due          time.Time `json:"due,omitzero"`
	CaseNo       string    `json:"case_no,omitempty"` // case: the case number (案件编号)
	Basis        string    `json:"basis,omitempty"`   // first-offence: the legal basis (首违不罚 清单 or 行政处罚法 第三十三条)
}

// stageMoves are the steps a finding may take from each stage.
var stageMoves = map[shopwatch.Stage][]shopwatch.Stage{
	shopwatch.StageNew:           {shopwatch.StageConfirmed, shopwatch.StageDismissed},
	shopwatch.StageConfirmed:     {shopwatch.StageLead, shopwatch.StageDismissed},
	shopwatch.StageDismissed:     {shopwatch.StageNew},
	shopwatch.StageLead:          {shopwatch.StageCase, shopwatch.StageNotFiled, shopwatch.StageFirstOffence, shopwatch.StageRectification},
	shopwatch.StageCase:          {shopwatch.StageClosed},
	shopwatch.StageNotFiled:      {shopwatch.StageClosed},
	shopwatch.StageFirstOffence:  {shopwatch.StageClosed},
	shopwatch.StageRectification: {shopwatch.StageCase, shopwatch.StageClosed},
}

// NextStages lists the stages a finding at stage s may move to.
func NextStages(s shopwatch.Stage) []shopwatch.Stage {
	if s == "" {
		s = shopwatch.StageNew
	}
	return slices.Clone(stageMoves[s])
}

// check says what the step needs that is missing, or nil.
func (r *Review) check(from shopwatch.Stage) error {
	if !slices.Contains(stageMoves[from], r.To) {
		return fmt.Errorf("%w: a finding that is %s can become %s, not %q", ErrInvalid, from, stageList(stageMoves[from]), r.To)
	}
	r.Note = strings.TrimSpace(r.Note)
	if len(r.Note) > 4000 {
		return fmt.Errorf("%w: note longer than 4000 bytes", ErrInvalid)
	}
	switch r.To {
	case shopwatch.StageDismissed:
		if !slices.Contains(shopwatch.DismissReasons, r.Reason) {
			return fmt.Errorf("%w: a dismissal needs a reason: one of %s", ErrInvalid, strings.Join(shopwatch.DismissReasons, ", "))
		}
		if r.Reason == "other" && r.Note == "" {
			return fmt.Errorf("%w: the reason other needs a note saying why", ErrInvalid)
		}
	case shopwatch.StageLead:
		r.Jurisdiction, r.Assignee = strings.Trim(r.Jurisdiction, "/ "), strings.TrimSpace(r.Assignee)
		if r.Jurisdiction == "" || r.Assignee == "" || r.Due.IsZero() {
			return fmt.Errorf("%w: a lead needs the jurisdiction and the person it is handed to and a due date", ErrInvalid)
		}
	case shopwatch.StageCase:
		if r.CaseNo = strings.TrimSpace(r.CaseNo); r.CaseNo == "" {
			return fmt.Errorf("%w: filing a case needs its case number (案件编号)", ErrInvalid)
		}
	case shopwatch.StageFirstOffence:
		if r.Basis = strings.TrimSpace(r.Basis); r.Basis == "" {
			return fmt.Errorf("%w: not penalising a first offence needs its legal basis", ErrInvalid)
		}
	case shopwatch.StageNotFiled, shopwatch.StageClosed:
		if r.Note == "" {
			return fmt.Errorf("%w: %s needs a note saying why", ErrInvalid, r.To)
		}
	}
	return nil
}

func stageList(ss []shopwatch.Stage) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, " or ")
}

// ReviewFinding moves finding id one step in its handling, as r says, and
// records who (the context's actor) and when in the finding and in the
// audit log. A step its stage does not allow, or one that lacks what it
// needs, is ErrInvalid and changes nothing.
func (db *DB) ReviewFinding(ctx context.Context, id string, r Review) (*shopwatch.Finding, error) {
	var out shopwatch.Finding
	actor := actorFrom(ctx, "")
	err := db.update(ctx, actor, func(x *txn) error {
		seq, ok := findingSeq(id)
		if !ok {
			return ErrNotFound
		}
		b := x.tx.Bucket(bFindings)
		var rec findingRec
		found, err := getJSON(b, u64(seq), &rec)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		from := rec.Stage
		if from == "" {
			from = shopwatch.StageNew
		}
		if err := r.check(from); err != nil {
			return err
		}
		rec.Stage = r.To
		switch r.To {
		case shopwatch.StageLead:
			rec.Lead = &shopwatch.Lead{Jurisdiction: r.Jurisdiction, Assignee: r.Assignee, Due: r.Due.UTC()}
		case shopwatch.StageCase:
			rec.CaseNo = r.CaseNo
		case shopwatch.StageFirstOffence:
			rec.Basis = r.Basis
		case shopwatch.StageNew:
			rec.Lead, rec.CaseNo, rec.Basis = nil, "", ""
		}
		rec.Reviews = append(rec.Reviews, shopwatch.ReviewStep{At: x.now, By: x.actor, From: from, To: r.To, Reason: r.Reason, Note: r.Note})
		if err := putJSON(b, u64(seq), &rec); err != nil {
			return err
		}
		detail := fmt.Sprintf("finding %s %s → %s", id, from, r.To)
		for _, kv := range [][2]string{{"reason", r.Reason}, {"case", r.CaseNo}, {"basis", r.Basis}, {"assignee", r.Assignee}, {"jurisdiction", r.Jurisdiction}, {"note", r.Note}} {
			if kv[1] != "" {
				detail += " " + kv[0] + "=" + kv[1]
			}
		}
		if r.To == shopwatch.StageLead {
			detail += " due=" + r.Due.UTC().Format(time.DateOnly)
		}
		out = rec.Finding
		return x.audit("finding.reviewed", detail)
	})
	if err != nil {
		return nil, fmt.Errorf("review finding %s: %w", id, err)
	}
	return &out, nil
}
