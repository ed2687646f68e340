package server

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/server/report"
)

// The web console: server-rendered pages (html/template, no script) for
// people who log in with a password: a dashboard, the review queue of
// findings with one-click confirm and dismiss, and the targets, all within
// the person's jurisdiction. Chinese first, with English labels.

//go:embed console/*.html
var consoleFiles embed.FS

var consolePages = template.Must(template.New("").Funcs(template.FuncMap{
	"fmtDate": func(t time.Time) string { return t.In(consoleZone).Format(time.DateOnly) },
	"fmtTime": func(t time.Time) string { return t.In(consoleZone).Format(time.DateTime) },
}).ParseFS(consoleFiles, "console/*.html"))

// consoleZone is the time zone the console shows dates in.
var consoleZone = func() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*3600)
}()

var roleNames = map[db.Role]string{db.RoleViewer: "查看 viewer", db.RoleInspector: "检查员 inspector", db.RoleCaseHandler: "办案人员 case handler", db.RoleAdmin: "管理员 admin"}

// page is what every console template gets.
type page struct {
	Title, Page string
	User        *db.User
	RoleName    string
	Msg, Err    string
	Data        any
}

func (s *Server) consoleRoutes() {
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/console/", http.StatusSeeOther) })
	s.mux.HandleFunc("GET /console/login", s.consoleLoginPage)
	s.mux.HandleFunc("POST /console/login", s.consoleLogin)
	s.mux.HandleFunc("POST /console/logout", s.logoutToLogin)
	s.mux.HandleFunc("GET /console/{$}", s.consoleOnly(s.consoleDashboard))
	s.mux.HandleFunc("GET /console/findings", s.consoleOnly(s.consoleFindings))
	s.mux.HandleFunc("POST /console/findings/{id}/review", s.consoleOnly(s.consoleReview))
	s.mux.HandleFunc("GET /console/targets", s.consoleOnly(s.consoleTargets))
	s.mux.HandleFunc("POST /console/evidence/{id}/export", s.consoleOnly(s.consoleExport))
	s.mux.HandleFunc("GET /console/tasks", s.consoleOnly(s.consoleTasks))
	s.mux.HandleFunc("GET /console/audit", s.consoleOnly(s.consoleAudit))
	s.mux.HandleFunc("GET /console/verify", s.consoleOnly(s.consoleVerifyPage))
	s.mux.HandleFunc("POST /console/verify", s.consoleOnly(s.consoleVerify))
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if pr := PrincipalOf(r.Context()); pr != nil {
		p.User, p.RoleName = &pr.User, roleNames[pr.Role]
	}
	if p.Msg == "" {
		p.Msg = r.URL.Query().Get("ok")
	}
	if p.Err == "" {
		p.Err = r.URL.Query().Get("err")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if err := consolePages.ExecuteTemplate(w, name, p); err != nil {
		s.log.ErrorContext(r.Context(), "console page", "page", name, "err", err)
	}
}

// consoleOnly runs h for a person logged in to the console (the session
// cookie), and sends anyone else to the login page.
func (s *Server) consoleOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(SessionCookie)
		if err != nil || c.Value == "" {
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		}
		u, _, err := s.db.Authenticate(r.Context(), c.Value)
		if err != nil {
			http.Redirect(w, r, "/console/login?err="+url.QueryEscape("登录已过期，请重新登录 (session expired)"), http.StatusSeeOther)
			return
		}
		ctx := context.WithValue(r.Context(), principalKey{}, &Principal{User: *u})
		h(w, r.WithContext(db.WithActor(ctx, u.Name)))
	}
}

func (s *Server) consoleLoginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login.html", page{Title: "登录", Page: "login"})
}

func (s *Server) consoleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.render(w, r, http.StatusBadRequest, "login.html", page{Title: "登录", Err: "表单无法读取 (bad form)"})
		return
	}
	name, password := r.PostForm.Get("name"), r.PostForm.Get("password")
	u, secret, expires, status, msg := s.authenticatePassword(r, name, password)
	if u == nil {
		s.render(w, r, status, "login.html", page{Title: "登录", Err: msg})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: secret, Path: "/", Expires: expires, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

func (s *Server) logoutToLogin(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if _, t, err := s.db.Authenticate(r.Context(), c.Value); err == nil {
			_ = s.db.RevokeToken(r.Context(), t.ID)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/console/login?ok="+url.QueryEscape("已退出 (logged out)"), http.StatusSeeOther)
}

type dashboardData struct {
	Targets    int
	Stages     map[string]int
	Severities map[string]int
	Due        []shopwatch.Finding
}

func (s *Server) consoleDashboard(w http.ResponseWriter, r *http.Request) {
	ids, err := s.coveredTargets(r)
	if err != nil {
		s.consoleFail(w, r, err)
		return
	}
	ts, err := s.db.ListAllTargets(r.Context())
	if err != nil {
		s.consoleFail(w, r, err)
		return
	}
	d := dashboardData{Stages: map[string]int{}, Severities: map[string]int{}}
	for _, t := range ts {
		if ids == nil || slices.Contains(ids, t.ID) {
			d.Targets++
		}
	}
	fs, err := s.db.ListFindings(r.Context(), db.Filter{Targets: ids})
	if err != nil {
		s.consoleFail(w, r, err)
		return
	}
	soon := time.Now().Add(7 * 24 * time.Hour)
	for _, f := range fs {
		stage := string(f.Stage)
		if stage == "" {
			stage = string(shopwatch.StageNew)
		}
		d.Stages[stage]++
		d.Severities[string(f.Severity)]++
		if f.Stage == shopwatch.StageLead && f.Lead != nil && f.Lead.Due.Before(soon) {
			d.Due = append(d.Due, f)
		}
	}
	s.render(w, r, http.StatusOK, "dashboard.html", page{Title: "概览", Page: "dashboard", Data: d})
}

type findingRow struct {
	shopwatch.Finding
	Pre, Post string
	Evidence  string
}

type findingsData struct {
	Stage        string
	Stages       []string
	Rows         []findingRow
	CanInspect   bool // confirm, dismiss, hand over, reopen
	CanDecide    bool // decide leads, close, export evidence
	Reasons      []string
	Jurisdiction string // the person's, to hand leads over within
}

var consoleStages = []string{"new", "confirmed", "dismissed", "lead", "case", "not-filed", "first-offence", "rectification", "closed"}

func (s *Server) consoleFindings(w http.ResponseWriter, r *http.Request) {
	stage := r.URL.Query().Get("stage")
	if stage == "" {
		stage = "new"
	}
	if !slices.Contains(consoleStages, stage) {
		s.render(w, r, http.StatusBadRequest, "findings.html", page{Title: "线索审核", Page: "findings", Err: "未知阶段 (unknown stage) " + stage,
			Data: findingsData{Stage: "new", Stages: consoleStages}})
		return
	}
	ids, err := s.coveredTargets(r)
	if err != nil {
		s.consoleFail(w, r, err)
		return
	}
	fs, err := s.db.ListFindings(r.Context(), db.Filter{Targets: ids, Stage: shopwatch.Stage(stage), Limit: 500})
	if err != nil {
		s.consoleFail(w, r, err)
		return
	}
	p := PrincipalOf(r.Context())
	d := findingsData{Stage: stage, Stages: consoleStages, Reasons: shopwatch.DismissReasons,
		CanInspect: p != nil && (p.Role == db.RoleInspector || p.Role == db.RoleAdmin),
		CanDecide:  p != nil && (p.Role == db.RoleCaseHandler || p.Role == db.RoleAdmin)}
	if p != nil {
		d.Jurisdiction = p.Jurisdiction
	}
	for _, f := range fs {
		row := findingRow{Finding: f, Post: f.Snippet}
		if i := strings.Index(f.Snippet, f.Match); f.Match != "" && i >= 0 {
			row.Pre, row.Post = f.Snippet[:i], f.Snippet[i+len(f.Match):]
		} else {
			row.Match = ""
		}
		if f.Stage == "" {
			row.Stage = shopwatch.StageNew
		}
		if n := len(f.EvidenceIDs); n > 0 {
			row.Evidence = f.EvidenceIDs[n-1]
		}
		d.Rows = append(d.Rows, row)
	}
	s.render(w, r, http.StatusOK, "findings.html", page{Title: "线索审核", Page: "findings", Data: d})
}

// checkReviewRole says whether the caller's role may take the step: the
// deciding steps are case handlers', the others inspectors'.
func checkReviewRole(p *Principal, to shopwatch.Stage) error {
	if p == nil || p.Role == db.RoleAdmin {
		return nil
	}
	deciding := slices.Contains(decisionStages, to)
	if deciding && p.Role == db.RoleCaseHandler || !deciding && p.Role == db.RoleInspector {
		return nil
	}
	return &forbiddenError{fmt.Sprintf("the role %s of %s may not move a finding to %s", p.Role, p.Name, to)}
}

func (s *Server) consoleReview(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	back := "/console/findings"
	if err := r.ParseForm(); err != nil {
		http.Redirect(w, r, back+"?err="+url.QueryEscape("表单无法读取 (bad form)"), http.StatusSeeOther)
		return
	}
	if st := r.PostForm.Get("back"); slices.Contains(consoleStages, st) {
		back += "?stage=" + st
	} else {
		back += "?stage=new"
	}
	id := r.PathValue("id")
	form := r.PostForm
	req := db.Review{To: shopwatch.Stage(form.Get("to")), Reason: form.Get("reason"), Note: form.Get("note"),
		Jurisdiction: form.Get("jurisdiction"), Assignee: form.Get("assignee"), CaseNo: form.Get("case_no"), Basis: form.Get("basis")}
	if due := form.Get("due"); due != "" {
		d, err := time.ParseInLocation(time.DateOnly, due, consoleZone)
		if err != nil {
			http.Redirect(w, r, back+"&err="+url.QueryEscape("期限格式错误 (due: want 2006-01-02)"), http.StatusSeeOther)
			return
		}
		req.Due = d.AddDate(0, 0, 1).Add(-time.Second)
	}
	fail := func(err error) {
		var fe *forbiddenError
		msg := err.Error()
		if errors.As(err, &fe) {
			msg = "无权操作 (not allowed): " + msg
		}
		http.Redirect(w, r, back+"&err="+url.QueryEscape(msg), http.StatusSeeOther)
	}
	if err := checkReviewRole(PrincipalOf(r.Context()), req.To); err != nil {
		fail(err)
		return
	}
	if p := PrincipalOf(r.Context()); p != nil && req.To == shopwatch.StageLead && !p.Covers(req.Jurisdiction) {
		fail(&forbiddenError{fmt.Sprintf("a lead handed to %s lies outside %s", req.Jurisdiction, p.Jurisdiction)})
		return
	}
	if _, err := s.visibleFinding(r, id); err != nil {
		fail(err)
		return
	}
	f, err := s.db.ReviewFinding(r.Context(), id, req)
	if err != nil {
		fail(err)
		return
	}
	http.Redirect(w, r, back+"&ok="+url.QueryEscape(fmt.Sprintf("%s → %s", f.ID, f.Stage)), http.StatusSeeOther)
}

func (s *Server) consoleTargets(w http.ResponseWriter, r *http.Request) {
	ts, err := s.db.ListAllTargets(r.Context())
	if err != nil {
		s.consoleFail(w, r, err)
		return
	}
	out := []shopwatch.Target{}
	for _, t := range ts {
		if covers(r, t.Jurisdiction) {
			out = append(out, t)
		}
	}
	s.render(w, r, http.StatusOK, "targets.html", page{Title: "监测对象", Page: "targets", Data: out})
}

func (s *Server) consoleFail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "console", "path", r.URL.Path, "err", err)
	s.render(w, r, http.StatusInternalServerError, "targets.html", page{Title: "错误", Err: err.Error(), Data: []shopwatch.Target{}})
}

// consoleExport downloads an evidence bundle from the console (case
// handlers and admins), as POST /api/v1/evidence/{id}/export does.
func (s *Server) consoleExport(w http.ResponseWriter, r *http.Request) {
	if p := PrincipalOf(r.Context()); p == nil || p.Role != db.RoleCaseHandler && p.Role != db.RoleAdmin {
		http.Redirect(w, r, "/console/findings?err="+url.QueryEscape("无权导出证据 (not allowed to export evidence)"), http.StatusSeeOther)
		return
	}
	s.serveBundle(w, r, ExportRequest{})
}

type taskRow struct {
	Task  db.Task
	Scope string
	Stats report.Stats
	Loop  float64 // closed-loop rate, percent
}

// consoleTasks lists the monitoring tasks of the person's jurisdiction
// with their totals.
func (s *Server) consoleTasks(w http.ResponseWriter, r *http.Request) {
	tasks, err := s.db.ListTasks(r.Context())
	if err != nil {
		s.consoleFail(w, r, err)
		return
	}
	ts, err := s.db.ListAllTargets(r.Context())
	if err != nil {
		s.consoleFail(w, r, err)
		return
	}
	targets := make(map[string]shopwatch.Target, len(ts))
	for _, t := range ts {
		targets[t.ID] = t
	}
	rows := []taskRow{}
	for _, t := range tasks {
		if !covers(r, t.Scope.Jurisdiction) {
			continue
		}
		fs, err := s.db.TaskFindings(r.Context(), &t, ts)
		if err != nil {
			s.consoleFail(w, r, err)
			return
		}
		st, _ := report.Summarise(fs, targets, "")
		row := taskRow{Task: t, Scope: t.Scope.Text()}
		if len(st) > 0 {
			row.Stats, row.Loop = st[0], 100*st[0].ClosedLoop
		}
		rows = append(rows, row)
	}
	s.render(w, r, http.StatusOK, "tasks.html", page{Title: "监测任务", Page: "tasks", Data: rows})
}

// consoleAudit shows the newest audit entries to admins.
func (s *Server) consoleAudit(w http.ResponseWriter, r *http.Request) {
	if p := PrincipalOf(r.Context()); p == nil || p.Role != db.RoleAdmin {
		s.render(w, r, http.StatusForbidden, "audit.html", page{Title: "审计日志", Page: "audit", Err: "仅管理员可查看 (admins only)", Data: []db.AuditEntry{}})
		return
	}
	es, err := s.db.ListAudit(r.Context(), 0, 0)
	if err != nil {
		s.consoleFail(w, r, err)
		return
	}
	slices.Reverse(es)
	if len(es) > 500 {
		es = es[:500]
	}
	s.render(w, r, http.StatusOK, "audit.html", page{Title: "审计日志", Page: "audit", Data: es})
}

// verifyResult is what the verify page shows of a report.
type verifyResult struct {
	OK         bool   `json:"ok"`
	Verdict    string `json:"verdict"`
	EvidenceID string `json:"evidence_id"`
	Problems   []struct {
		Item  string `json:"item"`
		Check string `json:"check"`
		Error string `json:"error"`
	} `json:"problems"`
}

func (s *Server) consoleVerifyPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "verify.html", page{Title: "证据包核验", Page: "verify", Data: verifyResult{}})
}

// consoleVerify verifies an uploaded bundle as POST /api/v1/evidence/verify
// does, and shows the verdict and the problems.
func (s *Server) consoleVerify(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		s.render(w, r, status, "verify.html", page{Title: "证据包核验", Page: "verify", Err: msg, Data: verifyResult{}})
	}
	if s.opts.Verify == nil {
		fail(http.StatusServiceUnavailable, "本服务器不核验证据包 (this server does not verify bundles)")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxVerifyUpload)
	file, _, err := r.FormFile("bundle")
	if err != nil {
		fail(http.StatusBadRequest, "请选择证据包文件 (choose a bundle): "+err.Error())
		return
	}
	defer file.Close()
	tmp, err := os.CreateTemp("", "shopwatch-verify-*.zip")
	if err != nil {
		fail(http.StatusInternalServerError, err.Error())
		return
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := io.Copy(tmp, file)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	rep, summary, err := s.opts.Verify(r.Context(), tmp, n)
	if err != nil {
		fail(http.StatusBadRequest, "不是证据包 (not a bundle): "+err.Error())
		return
	}
	var res verifyResult
	b, err := json.Marshal(rep)
	if err == nil {
		err = json.Unmarshal(b, &res)
	}
	if err != nil {
		fail(http.StatusInternalServerError, err.Error())
		return
	}
	if err := s.db.RecordAudit(r.Context(), "evidence.verified", fmt.Sprintf("uploaded bundle of %d bytes: %s through the console", n, summary)); err != nil {
		fail(http.StatusInternalServerError, err.Error())
		return
	}
	s.render(w, r, http.StatusOK, "verify.html", page{Title: "证据包核验", Page: "verify", Data: res})
}
