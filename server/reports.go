package server

import (
	"bytes"
	"errors"
	"net/http"
	"time"

	"shopwatch"
	"shopwatch/server/report"
)

// reportScope reads the findings a report covers (since and until as in
// GET /api/v1/findings, within the caller's jurisdiction) and every
// target.
func (s *Server) reportScope(r *http.Request) ([]shopwatch.Finding, map[string]shopwatch.Target, error) {
	f, err := findingFilter(r)
	if err != nil {
		return nil, nil, err
	}
	ids, err := s.coveredTargets(r)
	if err != nil {
		return nil, nil, err
	}
	if ids != nil {
		f.Targets = ids
	}
	fs, err := s.db.ListFindings(r.Context(), f)
	if err != nil {
		return nil, nil, err
	}
	ts, err := s.db.ListAllTargets(r.Context())
	if err != nil {
		return nil, nil, err
	}
	targets := make(map[string]shopwatch.Target, len(ts))
	for _, t := range ts {
		targets[t.ID] = t
	}
	return fs, targets, nil
}

// zone is the time zone the ledger's times are written in: the tz
// parameter (an IANA name), else Asia/Shanghai.
func zone(r *http.Request) (*time.Location, error) {
	name := r.URL.Query().Get("tz")
	if name == "" {
		name = "Asia/Shanghai"
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, badRequest("tz %q: %v", name, err)
	}
	return loc, nil
}

// ledger answers GET /api/v1/reports/ledger: the findings ledger (台账)
// as CSV or XLSX (format).
func (s *Server) ledger(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "xlsx"
	}
	if format != "xlsx" && format != "csv" {
		s.fail(w, r, badRequest("format %q: want xlsx or csv", format))
		return
	}
	loc, err := zone(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	fs, targets, err := s.reportScope(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rows := report.Rows(fs, targets)
	name := "findings-ledger-" + time.Now().In(loc).Format("20060102") + "." + format
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		err = report.WriteCSV(w, rows, loc)
	} else {
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		err = report.WriteXLSX(w, rows, loc)
	}
	if err != nil {
		s.log.WarnContext(r.Context(), "ledger not delivered whole", "err", err)
	}
}

// stats answers GET /api/v1/reports/stats: statistics per group (by).
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	fs, targets, err := s.reportScope(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := report.Summarise(fs, targets, r.URL.Query().Get("by"))
	if err != nil {
		s.fail(w, r, badRequest("%v", err))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// notice answers GET /api/v1/findings/{id}/notice: the lead assignment
// notice (线索交办通知书) of a finding handed over as a lead, as HTML to
// print. The office's name and address come from Options.Office.
func (s *Server) notice(w http.ResponseWriter, r *http.Request) {
	f, err := s.visibleFinding(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	loc, err := zone(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := report.NoticeData{Office: s.opts.Office.Name, Address: s.opts.Office.Address, Finding: *f, Loc: loc}
	if t, err := s.db.GetTarget(r.Context(), f.TargetID); err == nil {
		d.Target = *t
	}
	var b bytes.Buffer
	if err := report.WriteNotice(&b, d); errors.Is(err, report.ErrNoLead) {
		s.fail(w, r, badRequest("%s: %v", f.ID, err))
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}
