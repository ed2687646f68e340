package server

import (
	"net/http"
	"time"

	"shopwatch/db"
)

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := s.db.ListUsers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []db.User{}
	for _, u := range us {
		if covers(r, u.Jurisdiction) {
			out = append(out, u)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// UserRequest is the body of POST /api/v1/users.
type UserRequest struct {
	Name         string  `json:"name"`
	Role         db.Role `json:"role"`
	Jurisdiction string  `json:"jurisdiction,omitempty"`
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request) {
	var req UserRequest
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if p := PrincipalOf(r.Context()); p != nil && p.Jurisdiction != "" && !p.Covers(req.Jurisdiction) {
		s.fail(w, r, &forbiddenError{"jurisdiction " + req.Jurisdiction + " lies outside " + p.Jurisdiction + ", the jurisdiction of " + p.Name})
		return
	}
	u := db.User{Name: req.Name, Role: req.Role, Jurisdiction: req.Jurisdiction}
	if err := s.db.AddUser(r.Context(), &u); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

// UserPatch is the body of PATCH /api/v1/users/{name}.
type UserPatch struct {
	Disabled *bool `json:"disabled"`
}

// scopedUser returns the user name names when the caller's jurisdiction
// covers theirs.
func (s *Server) scopedUser(r *http.Request, name string) (*db.User, error) {
	u, err := s.db.GetUser(r.Context(), name)
	if err != nil {
		return nil, err
	}
	if !covers(r, u.Jurisdiction) {
		return nil, &forbiddenError{"user " + name + " works outside your jurisdiction"}
	}
	return u, nil
}

func (s *Server) editUser(w http.ResponseWriter, r *http.Request) {
	var req UserPatch
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Disabled == nil {
		s.fail(w, r, badRequest("patch: nothing to change (disabled)"))
		return
	}
	name := r.PathValue("name")
	if _, err := s.scopedUser(r, name); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.db.SetUserDisabled(r.Context(), name, *req.Disabled); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.db.GetUser(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// TokenRequest is the body of POST /api/v1/users/{name}/tokens: a label
// and a lifetime (Go duration, default 720h, at most 8760h).
type TokenRequest struct {
	Label string `json:"label,omitempty"`
	TTL   string `json:"ttl,omitempty"`
}

// NewToken answers it: the secret, shown this once, and the record.
type NewToken struct {
	Secret string   `json:"secret"`
	Token  db.Token `json:"token"`
}

// MaxTokenTTL is the longest lifetime of an API token.
const MaxTokenTTL = 365 * 24 * time.Hour

func (s *Server) addToken(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	ttl := 30 * 24 * time.Hour
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > MaxTokenTTL {
			s.fail(w, r, badRequest("ttl %q: a duration up to %s", req.TTL, MaxTokenTTL))
			return
		}
		ttl = d
	}
	name := r.PathValue("name")
	if _, err := s.scopedUser(r, name); err != nil {
		s.fail(w, r, err)
		return
	}
	secret, t, err := s.db.AddToken(r.Context(), name, req.Label, ttl)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, NewToken{Secret: secret, Token: *t})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.db.ListTokens(r.Context(), r.URL.Query().Get("user"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []db.Token{}
	for _, t := range ts {
		if _, err := s.scopedUser(r, t.User); err == nil {
			out = append(out, t)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ts, err := s.db.ListTokens(r.Context(), "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, t := range ts {
		if len(id) >= 12 && t.ID == id[:12] {
			if _, err := s.scopedUser(r, t.User); err != nil {
				s.fail(w, r, err)
				return
			}
		}
	}
	if err := s.db.RevokeToken(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "revoked": "true"})
}
