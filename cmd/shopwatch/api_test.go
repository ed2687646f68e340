package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/server"
)

// While serve runs it owns the database, and the commands that go through
// its API work beside it: targets are added, imported, listed with
// filters, edited, paused and removed, findings, evidence and the audit log
// are listed, all recorded under the caller's name; a command that does
// not go through the API yet says so instead of waiting for the lock.
// When serve stops, the socket goes and the same commands open the
// database themselves and see what was done through the server.
func TestServeOwnsTheDatabase(t *testing.T) {
	_, base := market(t, 3)
	data := t.TempDir()
	mustSW(t, "--data", data, "target", "add", base+"/shop/1/", "--category", "food")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var so, se syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"--data", data, "--allow-private", "serve", "--tick", "1h", "--listen", "127.0.0.1:0"}, &so, &se)
	}()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(so.String(), "API on unix socket "+server.SocketPath(data)) || !strings.Contains(so.String(), "API on http://") {
		select {
		case c := <-done:
			t.Fatalf("serve exited (%d) before serving the API\n%s%s", c, so.String(), se.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not announce its API within a minute\n%s%s", so.String(), se.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	id := strings.TrimSpace(mustSW(t, "--data", data, "target", "add", base+"/shop/2/", "--jurisdiction", "上海市/杨浦区", "--platform", "淘宝"))
	if !strings.HasPrefix(id, "t-") {
		t.Fatalf("target add through the server printed %q", id)
	}
	if _, e, code := sw(t, "--data", data, "target", "add", base+"/shop/2/?utm_source=x"); code != exitUsage || !strings.Contains(e, "already exists") {
		t.Errorf("duplicate through the server: exit %d, %s", code, e)
	}
	if _, e, code := sw(t, "--data", data, "target", "add", base+"/shop/3/", "--category", "不存在的类"); code != exitUsage || !strings.Contains(e, "unknown category") {
		t.Errorf("unknown category through the server: exit %d, %s", code, e)
	}
	var rows []struct {
		ID       string `json:"id"`
		Priority int    `json:"priority"`
		Paused   bool   `json:"paused"`
		Schedule string `json:"schedule"`
	}
	listJSON := func(args ...string) {
		t.Helper()
		rows = nil
		if err := json.Unmarshal([]byte(mustSW(t, append([]string{"--data", data, "target", "list", "--json"}, args...)...)), &rows); err != nil {
			t.Fatal(err)
		}
	}
	listJSON("--jurisdiction", "上海市")
	if len(rows) != 1 || rows[0].ID != id {
		t.Fatalf("target list --jurisdiction 上海市 through the server: %+v, want %s", rows, id)
	}
	if _, e, code := sw(t, "--data", data, "target", "edit", id, "--schedule", "every tuesday"); code != exitUsage || !strings.Contains(e, "every tuesday") {
		t.Errorf("edit with a bad schedule through the server: exit %d, %s", code, e)
	}
	mustSW(t, "--data", data, "target", "edit", id, "--priority", "5", "--schedule", "0 9 * * *")
	mustSW(t, "--data", data, "target", "pause", id)
	listJSON("--state", "paused")
	if len(rows) != 1 || rows[0].ID != id || rows[0].Priority != 5 || rows[0].Schedule != "0 9 * * *" || !rows[0].Paused {
		t.Fatalf("after edit and pause through the server: %+v", rows)
	}
	if o := mustSW(t, "--data", data, "target", "show", base+"/shop/2/"); !strings.Contains(o, id) || !strings.Contains(o, "paused") {
		t.Errorf("target show by URL through the server:\n%s", o)
	}
	csv := filepath.Join(t.TempDir(), "targets.csv")
	if err := os.WriteFile(csv, []byte("url,kind,platform\n"+base+"/shop/3/,storefront,京东\n"+base+"/shop/1/,storefront,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if o := mustSW(t, "--data", data, "target", "import", csv); !strings.Contains(o, "imported 1 targets (1 already present") {
		t.Errorf("target import through the server: %q", o)
	}
	for _, args := range [][]string{{"findings", "--json"}, {"evidence", "list", "--json"}, {"findings", "--platform", "京东"}} {
		mustSW(t, append([]string{"--data", data}, args...)...)
	}
	if _, e, code := sw(t, "--data", data, "evidence", "partial", "list"); code != exitRuntime || !strings.Contains(e, "owns the database while it runs") {
		t.Errorf("evidence partial list while the server runs: exit %d, %s", code, e)
	}
	// A sweep asked of the server: planned at once, run after the
	// scheduled one, followed to its end.
	var imported []shopwatch.Target
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "target", "list", "--json", "--platform", "京东")), &imported); err != nil || len(imported) != 1 {
		t.Fatalf("the imported target: %+v, %v", imported, err)
	}
	o, e, code := sw(t, "--data", data, "sweep", imported[0].ID)
	if code != exitOK || !strings.Contains(e, "queued on the server") || !strings.Contains(o, "pages done, 0 failed") {
		t.Fatalf("sweep through the server: exit %d\n%s%s", code, o, e)
	}
	if _, e, code := sw(t, "--data", data, "sweep", "t-nosuch"); code != exitUsage || !strings.Contains(e, "t-nosuch") {
		t.Errorf("sweep of an unknown target through the server: exit %d, %s", code, e)
	}
	if _, e, code := sw(t, "--data", data, "sweep", "--resume", "s-x"); code != exitUsage || !strings.Contains(e, "running server") {
		t.Errorf("sweep --resume while the server runs: exit %d, %s", code, e)
	}
	// A monitoring task over the 京东 targets: run through the server,
	// its statistics agree with the findings of its scope and rule.
	today := time.Now().Format(time.DateOnly)
	if _, e, code := sw(t, "--data", data, "task", "add", "坏任务", "--from", today, "--rules", "no.such-rule"); code != exitUsage || !strings.Contains(e, "no.such-rule") {
		t.Errorf("task with an unknown rule: exit %d %s", code, e)
	}
	taskID := strings.TrimSpace(mustSW(t, "--data", data, "task", "add", "双十二京东集中监测", "--from", today, "--platform", "京东", "--rules", "ad.absolute-term", "--owner", "张三"))
	if _, e, code := sw(t, "--data", data, "task", "run", taskID); code != exitOK || !strings.Contains(e, "queued on the server") {
		t.Errorf("task run through the server: exit %d %s", code, e)
	}
	var shown struct {
		Task  db.Task `json:"task"`
		Stats []struct {
			Findings int `json:"findings"`
		} `json:"stats"`
	}
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "task", "show", taskID, "--json")), &shown); err != nil || shown.Task.ID != taskID || shown.Task.Owner != "张三" {
		t.Fatalf("task show: %+v (%v)", shown, err)
	}
	var scoped []shopwatch.Finding
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "findings", "--json", "--platform", "京东", "--rule", "ad.absolute-term", "--since", today)), &scoped); err != nil {
		t.Fatal(err)
	}
	counted := 0
	for _, g := range shown.Stats {
		counted += g.Findings
	}
	if counted == 0 || counted != len(scoped) {
		t.Errorf("task statistics count %d findings, the findings of its scope and rule are %d", counted, len(scoped))
	}

	var sweeps []struct {
		Name  string `json:"name"`
		State string `json:"state"`
		Done  int    `json:"done"`
	}
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "sweep", "list", "--json")), &sweeps); err != nil {
		t.Fatal(err)
	}
	if n := len(sweeps); n < 3 || sweeps[n-1].Name != "manual" || sweeps[n-1].State != "finished" || sweeps[n-1].Done == 0 {
		t.Errorf("sweep list through the server: %+v, want the manual sweeps last, finished", sweeps)
	}
	// A person with a token, over TCP, sees and adds only in their
	// jurisdiction.
	mustSW(t, "--data", data, "user", "add", "王明", "--role", "inspector", "--jurisdiction", "上海市/杨浦区")
	if _, e, code := sw(t, "--data", data, "user", "add", "王明", "--role", "viewer"); code != exitUsage || !strings.Contains(e, "already exists") {
		t.Errorf("second user add through the server: exit %d, %s", code, e)
	}
	secret := strings.TrimSpace(mustSW(t, "--data", data, "user", "token", "王明", "--label", "test"))
	addr := regexp.MustCompile(`API on (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(so.String())[1]
	get := func(token, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", addr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, b := get("", "/api/v1/targets"); code != http.StatusUnauthorized {
		t.Errorf("targets over TCP without a token: %d %s", code, b)
	}
	if code, b := get(secret, "/api/v1/targets"); code != http.StatusOK || !strings.Contains(b, id) || strings.Contains(b, "/shop/1/") {
		t.Errorf("targets over TCP as 王明 of 杨浦区: %d %s, want only %s", code, b, id)
	}
	if code, b := get(secret, "/api/v1/audit"); code != http.StatusForbidden {
		t.Errorf("audit over TCP as an inspector: %d %s, want 403", code, b)
	}
	mustSW(t, "--data", data, "user", "disable", "王明")
	if code, _ := get(secret, "/api/v1/targets"); code != http.StatusUnauthorized {
		t.Errorf("a disabled person's token: %d, want 401", code)
	}

	mustSW(t, "--data", data, "target", "remove", id)

	// The first cycle swept the first target: its evidence is exported
	// and verified while the server runs, and both are recorded by it.
	var evs []shopwatch.EvidenceRecord
	for deadline := time.Now().Add(2 * time.Minute); len(evs) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no evidence within 2 minutes of serve's first cycle\n%s%s", so.String(), se.String())
		}
		if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "evidence", "list", "--json")), &evs); err != nil {
			t.Fatal(err)
		}
	}
	// The sweep's checkpoint covers the capture once the sweep ends.
	for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(so.String(), "evidence records in"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("serve's sweep did not end within 2 minutes\n%s%s", so.String(), se.String())
		}
	}
	// Review a finding through the server: confirm it, refuse a step out
	// of order, hand it over as a lead.
	var fs []shopwatch.Finding
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "findings", "--json", "--stage", "new")), &fs); err != nil || len(fs) == 0 {
		t.Fatalf("new findings through the server: %d (%v)", len(fs), err)
	}
	fid := fs[0].ID
	if o := mustSW(t, "--data", data, "review", fid, "confirm", "--note", "标题含绝对化用语"); !strings.Contains(o, fid+" is confirmed") {
		t.Errorf("review confirm: %q", o)
	}
	if _, e, code := sw(t, "--data", data, "review", fid, "case", "--case-no", "X"); code != exitUsage || !strings.Contains(e, "can become lead or dismissed") {
		t.Errorf("a case before a lead: exit %d, %s", code, e)
	}
	mustSW(t, "--data", data, "review", fid, "lead", "--to-jurisdiction", "上海市/杨浦区", "--assignee", "李四", "--due", "2026-12-31")
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "findings", "--json", "--stage", "lead")), &fs); err != nil || len(fs) != 1 || fs[0].ID != fid || fs[0].Lead == nil || fs[0].Lead.Assignee != "李四" {
		t.Errorf("findings at stage lead: %+v (%v)", fs, err)
	}
	// The lead assignment notice, as HTML and printed to PDF.
	notice := filepath.Join(t.TempDir(), "通知书.html")
	mustSW(t, "--data", data, "review", "notice", fid, "-o", notice)
	if b, err := os.ReadFile(notice); err != nil || !strings.Contains(string(b), "线索交办通知书") || !strings.Contains(string(b), "李四") || !strings.Contains(string(b), "2026年12月31日") {
		t.Errorf("the notice: %v\n%s", err, b)
	}
	mustSW(t, "--data", data, "review", "notice", fid, "-o", notice+".pdf")
	if b, err := os.ReadFile(notice + ".pdf"); err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Errorf("the notice as PDF: %v, %d bytes", err, len(b))
	}

	// Reports through the server: the ledger holds the finding at its
	// stage, the statistics count the lead.
	ledgerFile := filepath.Join(t.TempDir(), "台账.csv")
	mustSW(t, "--data", data, "report", "ledger", "-o", ledgerFile)
	if b, err := os.ReadFile(ledgerFile); err != nil || !strings.HasPrefix(string(b), "\ufeff序号,发现编号") || !strings.Contains(string(b), fid) || !strings.Contains(string(b), "李四") {
		t.Errorf("report ledger through the server: %v\n%s", err, b)
	}
	var stats []struct {
		Group string `json:"group"`
		Leads int    `json:"leads"`
	}
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "report", "stats", "--json")), &stats); err != nil || len(stats) != 1 || stats[0].Leads != 1 {
		t.Errorf("report stats through the server: %+v (%v)", stats, err)
	}
	if _, e, code := sw(t, "--data", data, "report", "stats", "--by", "colour"); code != exitUsage {
		t.Errorf("report stats --by colour: exit %d %s", code, e)
	}

	bundle := filepath.Join(t.TempDir(), "case.zip")
	mustSW(t, "--data", data, "evidence", "export", evs[0].ID, "-o", bundle, "--no-pdf")
	if o := mustSW(t, "--data", data, "evidence", "verify", bundle); !strings.Contains(o, "VERIFIED") {
		t.Errorf("verify of the bundle exported through the server:\n%s", o)
	}

	var entries []db.AuditEntry
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "audit", "list", "--json")), &entries); err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if strings.Contains(e.Detail, id) {
			seen[e.Action] = true
			if e.Actor != me.Username {
				t.Errorf("audit %s %s: actor %q, want the caller %q", e.Action, id, e.Actor, me.Username)
			}
		}
	}
	for _, a := range []string{"target.added", "target.edited", "target.paused", "target.deleted"} {
		if !seen[a] {
			t.Errorf("audit log has no %s of %s: %v", a, id, seen)
		}
	}
	// A case handler downloads a bundle over TCP: made by the server with
	// its keys and ledger, verified here, recorded under their name.
	mustSW(t, "--data", data, "user", "add", "赵六", "--role", "case-handler")
	handler := strings.TrimSpace(mustSW(t, "--data", data, "user", "token", "赵六"))
	old := stdin
	stdin = strings.NewReader("赵六的口令 correct horse\n")
	mustSW(t, "--data", data, "user", "password", "赵六")
	stdin = old
	if resp, err := http.Post(addr+"/api/v1/login", "application/json", strings.NewReader(`{"name": "赵六", "password": "赵六的口令 correct horse"}`)); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("login with the password set through the server: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	post := func(token, path, body string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	if resp, b := post(secret, "/api/v1/evidence/"+evs[0].ID+"/export", `{"no_pdf": true}`); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("export with a disabled inspector's token: %d %s", resp.StatusCode, b)
	}
	if resp, b := post(handler, "/api/v1/evidence/"+evs[0].ID+"/export", `{"case_no": "X", "no_pdf": true}`); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "cause") {
		t.Errorf("export for a case without a cause: %d %s", resp.StatusCode, b)
	}
	resp, zipped := post(handler, "/api/v1/evidence/"+evs[0].ID+"/export", `{"no_pdf": true}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("export over the API: %d %s", resp.StatusCode, zipped)
	}
	downloaded := filepath.Join(t.TempDir(), "api.zip")
	if err := os.WriteFile(downloaded, zipped, 0o644); err != nil {
		t.Fatal(err)
	}
	if o := mustSW(t, "evidence", "verify", downloaded); !strings.Contains(o, "VERIFIED") {
		t.Errorf("verify of the bundle downloaded over the API:\n%s", o)
	}
	// Uploaded for verification: TRUSTED under the office's own keys; a
	// byte changed fails, naming the file.
	upload := func(b []byte) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", addr+"/api/v1/evidence/verify", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+handler)
		req.Header.Set("Content-Type", "application/zip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := upload(zipped); code != http.StatusOK || m["ok"] != true || m["verdict"] != "TRUSTED" {
		t.Errorf("verify upload: %d ok=%v verdict=%v", code, m["ok"], m["verdict"])
	}
	damaged := filepath.Join(t.TempDir(), "damaged.zip")
	flipByte(t, downloaded, damaged, "page.html")
	db2, _ := os.ReadFile(damaged)
	if code, m := upload(db2); code != http.StatusOK || m["ok"] != false || !strings.Contains(fmt.Sprint(m["problems"]), "page.html") {
		t.Errorf("verify upload of a damaged bundle: %d ok=%v problems=%v", code, m["ok"], m["problems"])
	}
	if code, m := upload([]byte("not a zip")); code != http.StatusBadRequest {
		t.Errorf("verify upload of no zip: %d %v", code, m)
	}
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "audit", "list", "--json")), &entries); err != nil {
		t.Fatal(err)
	}
	byHandler := false
	for _, e := range entries {
		byHandler = byHandler || e.Action == "evidence.exported" && e.Actor == "赵六" && strings.Contains(e.Detail, "through the API")
	}
	if !byHandler {
		t.Error("the audit log does not record the export over the API under 赵六")
	}

	custody := map[string]bool{}
	for _, e := range entries {
		if (e.Action == "evidence.exported" && strings.Contains(e.Detail, evs[0].ID)) || (e.Action == "evidence.verified" && strings.Contains(e.Detail, bundle)) {
			custody[e.Action] = custody[e.Action] || e.Actor == me.Username
		}
	}
	if !custody["evidence.exported"] || !custody["evidence.verified"] {
		t.Errorf("the server did not record the export and the verification under %s: %v", me.Username, custody)
	}

	cancel()
	select {
	case c := <-done:
		if c != exitOK {
			t.Fatalf("serve exited %d\n%s", c, se.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop within a minute")
	}
	if _, err := os.Stat(server.SocketPath(data)); !os.IsNotExist(err) {
		t.Errorf("the socket outlived serve: %v", err)
	}
	// Without the server the commands open the database themselves.
	var ts []shopwatch.Target
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "target", "list", "--json")), &ts); err != nil || len(ts) != 2 {
		t.Errorf("target list after serve: %d targets (%v), want 2", len(ts), err)
	}
	mustSW(t, "--data", data, "sweep", "list")
	var users []db.User
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "user", "list", "--json")), &users); err != nil || len(users) != 2 {
		t.Errorf("user list without the server: %+v (%v)", users, err)
	}
	if o := mustSW(t, "--data", data, "task", "show", taskID); !strings.Contains(o, "双十二京东集中监测") {
		t.Errorf("task show without the server:\n%s", o)
	}
	if o := mustSW(t, "--data", data, "review", fid, "case", "--case-no", "沪市监杨处〔2026〕1号"); !strings.Contains(o, "case 沪市监杨处〔2026〕1号") {
		t.Errorf("review case without the server: %q", o)
	}
	mustSW(t, "--data", data, "audit", "verify")
	mustSW(t, "--data", data, "db", "check")
}

// --listen serves HTTPS with the given certificate; plain HTTP is refused
// on anything but a loopback address.
func TestServeListenTLS(t *testing.T) {
	data := t.TempDir()
	if _, e, code := sw(t, "--data", data, "serve", "--listen", "0.0.0.0:0"); code != exitUsage || !strings.Contains(e, "loopback") {
		t.Errorf("plain HTTP on every address: exit %d, %s", code, e)
	}
	if _, e, code := sw(t, "--data", data, "serve", "--tls-cert", "x.pem"); code != exitUsage || !strings.Contains(e, "--listen") {
		t.Errorf("--tls-cert without --listen: exit %d, %s", code, e)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "shopwatch test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var so, se syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"--data", data, "serve", "--tick", "1h", "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile}, &so, &se)
	}()
	re := regexp.MustCompile(`API on https://(127\.0\.0\.1:\d+)`)
	var m []string
	for deadline := time.Now().Add(time.Minute); m == nil; time.Sleep(20 * time.Millisecond) {
		if m = re.FindStringSubmatch(so.String()); m == nil && time.Now().After(deadline) {
			t.Fatalf("serve did not announce its HTTPS API\n%s%s", so.String(), se.String())
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(mustParse(t, der))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://" + m[1] + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz over HTTPS: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp, err := http.Get("http://" + m[1] + "/healthz"); err == nil && resp.StatusCode == http.StatusOK {
		resp.Body.Close()
		t.Error("plain HTTP answered on the HTTPS port")
	}
	cancel()
	if c := <-done; c != exitOK {
		t.Errorf("serve exited %d\n%s", c, se.String())
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// SHOPWATCH_LOG_FORMAT=json makes every log line a JSON object.
func TestJSONLogs(t *testing.T) {
	_, base := market(t, 1)
	data := t.TempDir()
	mustSW(t, "--data", data, "target", "add", base+"/shop/1/")
	t.Setenv(LogFormatEnv, "json")
	_, e, code := sw(t, "--data", data, "--allow-private", "sweep")
	if code != exitOK {
		t.Fatalf("sweep: exit %d %s", code, e)
	}
	records := 0
	for _, l := range strings.Split(e, "\n") {
		switch {
		case strings.HasPrefix(l, "time="):
			t.Errorf("a text log line with %s=json: %q", LogFormatEnv, l)
		case strings.HasPrefix(l, "{"):
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil || m["level"] == nil || m["msg"] == nil {
				t.Errorf("log line is not a JSON record: %q", l)
			}
			if strings.Contains(l, "capture environment") {
				records++
			}
		}
	}
	if records == 0 {
		t.Errorf("no JSON record of the capture-environment warning among:\n%s", e)
	}
}

// serve tells the configured webhooks of the new violations of its sweeps
// and, once, of a lead past its due date.
func TestServeNotifies(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err == nil {
			mu.Lock()
			got = append(got, m)
			mu.Unlock()
		}
	}))
	t.Cleanup(hook.Close)
	kinds := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		k := map[string]int{}
		for _, m := range got {
			k[fmt.Sprint(m["kind"])]++
		}
		return k
	}
	_, base := market(t, 2)
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "shopwatch.yaml")
	if err := os.WriteFile(cfg, []byte("notify:\n  webhooks:\n    - {url: \""+hook.URL+"/robot?key=secret\", format: json}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, e, code := sw(t, "--config", writeConfig(t, "notify:\n  webhooks:\n    - {url: \"ftp://x\"}\n"), "--data", data, "target", "list"); code != exitUsage || !strings.Contains(e, "notify.webhooks") {
		t.Errorf("a webhook that is no http(s) URL: exit %d %s", code, e)
	}
	mustSW(t, "--data", data, "target", "add", base+"/shop/1/", "--category", "food")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var so, se syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"--config", cfg, "--data", data, "--allow-private", "serve", "--tick", "1s"}, &so, &se)
	}()
	wait := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s within 2 minutes; hook got %v\n%s%s", what, kinds(), so.String(), se.String())
			}
		}
	}
	wait("no new-violations message", func() bool { return kinds()["new-violations"] == 1 })
	var fs []shopwatch.Finding
	if err := json.Unmarshal([]byte(mustSW(t, "--config", cfg, "--data", data, "findings", "--json", "--severity", "violation")), &fs); err != nil || len(fs) == 0 {
		t.Fatalf("violations: %v %v", fs, err)
	}
	yesterday := time.Now().AddDate(0, 0, -2).Format(time.DateOnly)
	mustSW(t, "--config", cfg, "--data", data, "review", fs[0].ID, "confirm")
	mustSW(t, "--config", cfg, "--data", data, "review", fs[0].ID, "lead", "--to-jurisdiction", "上海市/杨浦区", "--assignee", "李四", "--due", yesterday)
	wait("no leads-past-due message", func() bool { return kinds()["leads-past-due"] == 1 })
	time.Sleep(2500 * time.Millisecond) // two more ticks: announced once only
	if k := kinds(); k["leads-past-due"] != 1 || k["new-violations"] != 1 {
		t.Errorf("messages by kind %v, want one of each", k)
	}
	cancel()
	if c := <-done; c != exitOK {
		t.Errorf("serve exited %d\n%s", c, se.String())
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shopwatch.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
