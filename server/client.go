package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/server/report"
)

// ErrDenied: the server refused the call (no valid token, or a role or
// jurisdiction that does not allow it).
var ErrDenied = errors.New("not allowed")

// ErrNoServer: no server answers on the data directory's socket.
var ErrNoServer = errors.New("no shopwatch server runs on this data directory")

// Client calls the API of the server of one data directory over its
// socket. Its methods mirror the database's, and its errors wrap the
// database's errors (db.ErrNotFound, db.ErrInvalid, db.ErrTargetExists)
// where the answer's code names one, so that callers handle both alike.
type Client struct {
	// Operator, when set, is sent as the operator the audit log names.
	Operator string
	hc       *http.Client
	socket   string
}

// Dial returns a client of the server of data directory dir, after
// checking that it answers (/healthz). No socket, or one nothing answers
// on (a server that died), is ErrNoServer.
func Dial(ctx context.Context, dir string) (*Client, error) {
	path := SocketPath(dir)
	if _, err := os.Stat(path); err != nil {
		return nil, ErrNoServer
	}
	c := &Client{socket: path, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns: 4, IdleConnTimeout: 30 * time.Second,
	}}}
	hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := c.do(hctx, http.MethodGet, "/healthz", nil, nil, nil); err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			return nil, err // a server that answers, wrongly
		}
		return nil, ErrNoServer
	}
	return c, nil
}

// Socket is the path of the socket the client calls.
func (c *Client) Socket() string { return c.socket }

// APIError is an error answer of the server.
type APIError struct {
	Status int
	Code   string
	Msg    string
}

func (e *APIError) Error() string { return e.Msg }

// Unwrap returns the database error the code stands for, if any.
func (e *APIError) Unwrap() error {
	switch e.Code {
	case CodeNotFound:
		return db.ErrNotFound
	case CodeInvalid:
		return db.ErrInvalid
	case CodeExists:
		return db.ErrTargetExists
	case CodeUserExists:
		return db.ErrUserExists
	case CodeUnauthorized, CodeForbidden:
		return ErrDenied
	}
	return nil
}

// do sends a request with in as its JSON body (nil: none) and decodes the
// answer into out (nil: discards it).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	u := "http://shopwatch" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Operator != "" {
		req.Header.Set(OperatorHeader, c.Operator)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("shopwatch server at %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var eb ErrorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb = ErrorBody{Error: fmt.Sprintf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b)), Code: CodeInternal}
		}
		return &APIError{Status: resp.StatusCode, Code: eb.Code, Msg: eb.Error}
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

// AddTarget adds t and fills in its id and time added.
func (c *Client) AddTarget(ctx context.Context, t *shopwatch.Target) error {
	return c.do(ctx, http.MethodPost, "/api/v1/targets", nil, t, t)
}

// AddTargets adds ts in one go (none unless all are valid), filling in the
// ids of those added, and returns those already stored.
func (c *Client) AddTargets(ctx context.Context, ts []shopwatch.Target) ([]db.ExistingTarget, error) {
	var res BatchResult
	if err := c.do(ctx, http.MethodPost, "/api/v1/targets/batch", nil, BatchRequest{Targets: ts}, &res); err != nil {
		return nil, err
	}
	skip := make(map[int]bool, len(res.Existing))
	for _, e := range res.Existing {
		skip[e.Index] = true
	}
	j := 0
	for i := range ts {
		if skip[i] {
			continue
		}
		if j >= len(res.Added) {
			return nil, fmt.Errorf("add targets: the server answered %d added and %d present for %d", len(res.Added), len(res.Existing), len(ts))
		}
		ts[i] = res.Added[j]
		j++
	}
	return res.Existing, nil
}

// FindTarget returns the target ref names: an id or a URL.
func (c *Client) FindTarget(ctx context.Context, ref string) (*shopwatch.Target, error) {
	var t shopwatch.Target
	if err := c.do(ctx, http.MethodGet, "/api/v1/targets/"+url.PathEscape(ref), nil, nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListTargets returns the targets q selects.
func (c *Client) ListTargets(ctx context.Context, q TargetQuery) ([]shopwatch.Target, error) {
	v := url.Values{}
	for k, val := range q.Values() {
		if val != "" {
			v.Set(k, val)
		}
	}
	var ts []shopwatch.Target
	err := c.do(ctx, http.MethodGet, "/api/v1/targets", v, nil, &ts)
	return ts, err
}

// EditTarget makes the change p on target id, recorded as action.
func (c *Client) EditTarget(ctx context.Context, id, action string, p db.TargetPatch) (*shopwatch.Target, error) {
	var t shopwatch.Target
	if err := c.do(ctx, http.MethodPatch, "/api/v1/targets/"+url.PathEscape(id), nil, EditRequest{Action: action, Patch: p}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// DeleteTarget removes target id; its findings and evidence stay.
func (c *Client) DeleteTarget(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/targets/"+url.PathEscape(id), nil, nil, nil)
}

// TargetStatuses returns what the latest sweep found of each target.
func (c *Client) TargetStatuses(ctx context.Context) (map[string]db.TargetStatus, error) {
	var st map[string]db.TargetStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/target-statuses", nil, nil, &st)
	return st, err
}

// ListFindings returns the findings f selects.
func (c *Client) ListFindings(ctx context.Context, f db.Filter) ([]shopwatch.Finding, error) {
	var fs []shopwatch.Finding
	err := c.do(ctx, http.MethodGet, "/api/v1/findings", FindingParams(f), nil, &fs)
	return fs, err
}

// GetSweep returns sweep id.
func (c *Client) GetSweep(ctx context.Context, id string) (*db.Sweep, error) {
	st, err := c.SweepStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	return &st.Sweep, nil
}

// SweepStatus returns sweep id with its counts and state.
func (c *Client) SweepStatus(ctx context.Context, id string) (*SweepStatus, error) {
	var s SweepStatus
	if err := c.do(ctx, http.MethodGet, "/api/v1/sweeps/"+url.PathEscape(id), nil, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ListSweeps returns every sweep with its counts and state.
func (c *Client) ListSweeps(ctx context.Context) ([]SweepStatus, error) {
	var out []SweepStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/sweeps", nil, nil, &out)
	return out, err
}

// StartSweep asks the server to plan and run a sweep.
func (c *Client) StartSweep(ctx context.Context, req SweepRequest) (SweepStarted, error) {
	var out SweepStarted
	err := c.do(ctx, http.MethodPost, "/api/v1/sweeps", nil, req, &out)
	return out, err
}

// ListEvidence returns every evidence record, oldest first.
func (c *Client) ListEvidence(ctx context.Context) ([]shopwatch.EvidenceRecord, error) {
	var es []shopwatch.EvidenceRecord
	err := c.do(ctx, http.MethodGet, "/api/v1/evidence", nil, nil, &es)
	return es, err
}

// GetEvidence returns evidence record id.
func (c *Client) GetEvidence(ctx context.Context, id string) (*shopwatch.EvidenceRecord, error) {
	var ev shopwatch.EvidenceRecord
	if err := c.do(ctx, http.MethodGet, "/api/v1/evidence/"+url.PathEscape(id), nil, nil, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// ListAudit returns the audit entries after sequence number after, at most
// limit (all when 0).
func (c *Client) ListAudit(ctx context.Context, after uint64, limit int) ([]db.AuditEntry, error) {
	v := url.Values{}
	if after > 0 {
		v.Set("after", fmt.Sprint(after))
	}
	if limit > 0 {
		v.Set("limit", fmt.Sprint(limit))
	}
	var es []db.AuditEntry
	err := c.do(ctx, http.MethodGet, "/api/v1/audit", v, nil, &es)
	return es, err
}

// RecordAudit records a chain-of-custody event (one of CustodyActions)
// under the caller's name.
func (c *Client) RecordAudit(ctx context.Context, action, detail string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/audit", nil, CustodyRequest{Action: action, Detail: detail}, nil)
}

// AddUser adds a person.
func (c *Client) AddUser(ctx context.Context, u *db.User) error {
	return c.do(ctx, http.MethodPost, "/api/v1/users", nil, UserRequest{Name: u.Name, Role: u.Role, Jurisdiction: u.Jurisdiction}, u)
}

// ListUsers returns the people.
func (c *Client) ListUsers(ctx context.Context) ([]db.User, error) {
	var out []db.User
	err := c.do(ctx, http.MethodGet, "/api/v1/users", nil, nil, &out)
	return out, err
}

// SetUserDisabled disables or enables a person.
func (c *Client) SetUserDisabled(ctx context.Context, name string, disabled bool) error {
	return c.do(ctx, http.MethodPatch, "/api/v1/users/"+url.PathEscape(name), nil, UserPatch{Disabled: &disabled}, nil)
}

// AddToken makes an API token for a person and returns its secret.
func (c *Client) AddToken(ctx context.Context, user, label string, ttl time.Duration) (string, *db.Token, error) {
	var nt NewToken
	if err := c.do(ctx, http.MethodPost, "/api/v1/users/"+url.PathEscape(user)+"/tokens", nil, TokenRequest{Label: label, TTL: ttl.String()}, &nt); err != nil {
		return "", nil, err
	}
	return nt.Secret, &nt.Token, nil
}

// ListTokens returns the tokens of user ("" for everyone's).
func (c *Client) ListTokens(ctx context.Context, user string) ([]db.Token, error) {
	v := url.Values{}
	if user != "" {
		v.Set("user", user)
	}
	var out []db.Token
	err := c.do(ctx, http.MethodGet, "/api/v1/tokens", v, nil, &out)
	return out, err
}

// RevokeToken revokes the token whose id is id.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(id), nil, nil, nil)
}

// GetFinding returns finding id.
func (c *Client) GetFinding(ctx context.Context, id string) (*shopwatch.Finding, error) {
	var f shopwatch.Finding
	if err := c.do(ctx, http.MethodGet, "/api/v1/findings/"+url.PathEscape(id), nil, nil, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// ReviewFinding moves finding id one step in its handling.
func (c *Client) ReviewFinding(ctx context.Context, id string, r db.Review) (*shopwatch.Finding, error) {
	var f shopwatch.Finding
	if err := c.do(ctx, http.MethodPost, "/api/v1/findings/"+url.PathEscape(id)+"/review", nil, r, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// AddTask adds a monitoring task and fills in its id.
func (c *Client) AddTask(ctx context.Context, t *db.Task) error {
	return c.do(ctx, http.MethodPost, "/api/v1/tasks", nil, t, t)
}

// ListTasks returns the monitoring tasks, newest first.
func (c *Client) ListTasks(ctx context.Context) ([]db.Task, error) {
	var out []db.Task
	err := c.do(ctx, http.MethodGet, "/api/v1/tasks", nil, nil, &out)
	return out, err
}

// GetTask returns monitoring task id.
func (c *Client) GetTask(ctx context.Context, id string) (*db.Task, error) {
	var t db.Task
	if err := c.do(ctx, http.MethodGet, "/api/v1/tasks/"+url.PathEscape(id), nil, nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// TaskStats returns a task's statistics grouped by by.
func (c *Client) TaskStats(ctx context.Context, id, by string) ([]report.Stats, error) {
	v := url.Values{}
	if by != "" {
		v.Set("by", by)
	}
	var out []report.Stats
	err := c.do(ctx, http.MethodGet, "/api/v1/tasks/"+url.PathEscape(id)+"/stats", v, nil, &out)
	return out, err
}

// SetPassword sets a person's password.
func (c *Client) SetPassword(ctx context.Context, name, password string) error {
	return c.do(ctx, http.MethodPut, "/api/v1/users/"+url.PathEscape(name)+"/password", nil, PasswordRequest{Password: password}, nil)
}
