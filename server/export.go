package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
)

// ExportRequest is the body of POST /api/v1/evidence/{id}/export: what
// "shopwatch evidence export" takes as flags. The bundle is the answer.
type ExportRequest struct {
	CaseNo   string   `json:"case_no,omitempty"`  // 案件编号; needs cause and two officers
	Cause    string   `json:"cause,omitempty"`    // 案由
	Officers []string `json:"officers,omitempty"` // "NAME:NO" (姓名:执法证号)
	Party    string   `json:"party,omitempty"`    // 当事人, when the page does not show it
	USCC     string   `json:"uscc,omitempty"`     // its 统一社会信用代码
	NoPDF    bool     `json:"no_pdf,omitempty"`
	// By is the person named in export-manifest.json; the server sets
	// it to the caller.
	By string `json:"-"`
}

// Exporter writes the bundle of evidence record id to path, as the
// request asks, and records the export in the audit log under the
// context's actor; "shopwatch serve" gives one. Input the request gets
// wrong is an error wrapping db.ErrInvalid.
type Exporter func(ctx context.Context, id string, req ExportRequest, path string) error

// exportEvidence answers POST /api/v1/evidence/{id}/export with the
// bundle (application/zip), made on the server with its keys, ledger and
// time-stamping authority.
func (s *Server) exportEvidence(w http.ResponseWriter, r *http.Request) {
	var req ExportRequest
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	s.serveBundle(w, r, req)
}

// serveBundle makes the bundle of the evidence record the path names, as
// req asks, and answers it (the API's route and the console's).
func (s *Server) serveBundle(w http.ResponseWriter, r *http.Request, req ExportRequest) {
	ev, err := s.visibleEvidence(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.opts.Export == nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "this server does not export evidence")
		return
	}
	if p := PrincipalOf(r.Context()); p != nil {
		req.By = p.Name
	}
	dir, err := os.MkdirTemp("", "shopwatch-export-")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer os.RemoveAll(dir)
	path := dir + "/" + ev.ID + ".zip"
	if err := s.opts.Export(r.Context(), ev.ID, req, path); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", ev.ID+".zip"))
	w.Header().Set("Content-Length", fmt.Sprint(st.Size()))
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, f); err != nil {
		s.log.WarnContext(r.Context(), "bundle not delivered whole", "evidence", ev.ID, "err", err)
	}
}

// MaxVerifyUpload is the largest bundle POST /api/v1/evidence/verify takes.
const MaxVerifyUpload = 2 << 30

// Verifier checks an uploaded bundle (r, size bytes) and returns the
// report to answer (JSON) and a one-line summary for the audit log;
// "shopwatch serve" gives one, judging under the office's own trust file.
type Verifier func(ctx context.Context, r io.ReaderAt, size int64) (report any, summary string, err error)

// verifyUpload answers POST /api/v1/evidence/verify: the body is a bundle
// (application/zip); the answer the verification report. The
// verification is recorded under the caller.
func (s *Server) verifyUpload(w http.ResponseWriter, r *http.Request) {
	if s.opts.Verify == nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "this server does not verify bundles")
		return
	}
	f, err := os.CreateTemp("", "shopwatch-verify-*.zip")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, http.MaxBytesReader(w, r.Body, MaxVerifyUpload))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if n == 0 {
		s.fail(w, r, badRequest("the body holds no bundle"))
		return
	}
	rep, summary, err := s.opts.Verify(r.Context(), f, n)
	if err != nil {
		s.fail(w, r, badRequest("not a bundle: %v", err))
		return
	}
	if err := s.db.RecordAudit(r.Context(), "evidence.verified", "uploaded bundle of "+fmt.Sprint(n)+" bytes: "+summary+" through the API"); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
