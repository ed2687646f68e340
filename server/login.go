package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"shopwatch/db"
)

// Argon2id parameters of new password hashes (RFC 9106's second
// recommended option: 64 MiB, three passes), and the bounds of a password.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2
	argonKeyLen  = 32
	MinPassword  = 10
	MaxPassword  = 256
)

// HashPassword returns the argon2id hash of password as a PHC string.
func HashPassword(password string) (string, error) {
	if n := len([]rune(password)); n < MinPassword || len(password) > MaxPassword {
		return "", fmt.Errorf("%w: a password has %d to %d characters", db.ErrInvalid, MinPassword, MaxPassword)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches the PHC hash.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<22 || t == 0 || t > 16 || p == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// SessionCookie carries a console session: a token of the person, made at
// login, valid for SessionTTL.
const (
	SessionCookie = "shopwatch_session"
	SessionTTL    = 12 * time.Hour
)

// loginLimiter refuses logins after too many failures for one name from
// one address: maxFailures within failureWindow.
type loginLimiter struct {
	mu       sync.Mutex
	failures map[string][]time.Time
	now      func() time.Time
}

const (
	maxFailures   = 5
	failureWindow = 15 * time.Minute
)

func (l *loginLimiter) key(r *http.Request, name string) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return host + " " + name
}

// blocked reports whether the key has used up its failures, and until when.
func (l *loginLimiter) blocked(key string) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var recent []time.Time
	for _, t := range l.failures[key] {
		if now.Sub(t) < failureWindow {
			recent = append(recent, t)
		}
	}
	l.failures[key] = recent
	if len(recent) >= maxFailures {
		return true, recent[0].Add(failureWindow)
	}
	return false, time.Time{}
}

func (l *loginLimiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures[key] = append(l.failures[key], l.now())
}

func (l *loginLimiter) clear(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

// LoginRequest is the body of POST /api/v1/login.
type LoginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// LoginAnswer answers it; the session itself is the cookie.
type LoginAnswer struct {
	User    db.User   `json:"user"`
	Expires time.Time `json:"expires"`
}

// CodeTooMany answers a login refused for too many failures (429).
const CodeTooMany = "too_many"

// authenticatePassword checks a login and, when it holds, makes the
// session: the person, the session's secret and its end. Otherwise it
// says with which status and message to refuse (429 when locked out).
func (s *Server) authenticatePassword(r *http.Request, name, password string) (u *db.User, secret string, expires time.Time, status int, msg string) {
	key := s.limiter.key(r, name)
	if blocked, until := s.limiter.blocked(key); blocked {
		return nil, "", time.Time{}, http.StatusTooManyRequests, fmt.Sprintf("too many failed logins for %s; try again after %s", name, until.UTC().Format(time.RFC3339))
	}
	u, err := s.db.GetUser(r.Context(), name)
	hash, herr := s.db.PasswordHash(r.Context(), name)
	if err != nil || herr != nil || u.Disabled || !CheckPassword(hash, password) {
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return nil, "", time.Time{}, http.StatusInternalServerError, err.Error()
		}
		s.limiter.fail(key)
		return nil, "", time.Time{}, http.StatusUnauthorized, "wrong name or password, or a disabled user"
	}
	s.limiter.clear(key)
	secret, t, err := s.db.AddToken(db.WithActor(r.Context(), u.Name), u.Name, "session", SessionTTL)
	if err != nil {
		return nil, "", time.Time{}, http.StatusInternalServerError, err.Error()
	}
	return u, secret, t.Expires, 0, ""
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	u, secret, expires, status, msg := s.authenticatePassword(r, req.Name, req.Password)
	if u == nil {
		code := CodeUnauthorized
		switch status {
		case http.StatusTooManyRequests:
			code = CodeTooMany
			w.Header().Set("Retry-After", fmt.Sprint(int(failureWindow.Seconds())))
		case http.StatusInternalServerError:
			code = CodeInternal
		}
		writeError(w, status, code, msg)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: secret, Path: "/", Expires: expires, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	writeJSON(w, http.StatusOK, LoginAnswer{User: *u, Expires: expires})
}

// logout ends the session of the cookie.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(SessionCookie)
	if err == nil {
		if _, t, err := s.db.Authenticate(r.Context(), c.Value); err == nil {
			if err := s.db.RevokeToken(r.Context(), t.ID); err != nil && !errors.Is(err, db.ErrNotFound) {
				s.fail(w, r, err)
				return
			}
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	writeJSON(w, http.StatusOK, map[string]string{"status": "logged out"})
}

// PasswordRequest is the body of PUT /api/v1/users/{name}/password.
type PasswordRequest struct {
	Password string `json:"password"`
}

// setPassword sets a person's password (admins, for people of their
// jurisdiction).
func (s *Server) setPassword(w http.ResponseWriter, r *http.Request) {
	var req PasswordRequest
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	name := r.PathValue("name")
	if _, err := s.scopedUser(r, name); err != nil {
		s.fail(w, r, err)
		return
	}
	hash, err := HashPassword(req.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.db.SetPasswordHash(r.Context(), name, hash); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": name, "password": "set"})
}
