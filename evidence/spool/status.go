package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Status summarises a spool folder: what waits there for upload and what
// the backend last did.
type Status struct {
	Dir     string
	Objects int       // spooled objects, stuck ones included
	Bytes   int64     // their size
	Oldest  time.Time // when the oldest was spooled; zero when empty
	Stuck   int       // entries kept with ErrDamaged or ErrConflict
	Entries []Entry   // oldest first

	// The backend as the Store holding the folder last saw it.
	BackendDown bool
	DownSince   time.Time // first failure of the current outage
	Failures    int       // consecutive failed requests
	LastError   string    // last failed backend request, kept after recovery
	LastErrorAt time.Time
}

// state is the content of state.json.
type state struct {
	Format      string    `json:"format"`
	BackendDown bool      `json:"backend_down"`
	DownSince   time.Time `json:"down_since,omitzero"`
	Failures    int       `json:"failures"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

func (s *Store) snapshot() state {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := state{Format: stateFormat, BackendDown: s.failures > 0, DownSince: s.downSince, Failures: s.failures, LastErrorAt: s.backErrAt}
	if s.backErr != nil {
		st.LastError = s.backErr.Error()
	}
	return st
}

// saveState replaces state.json with the backend's current state. It is
// advisory (Inspect reads it), so a failure is logged, not returned.
func (s *Store) saveState() {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	b, err := json.Marshal(s.snapshot())
	if err == nil {
		err = writeFileAtomic(s.tmp, filepath.Join(s.dir, stateFile), append(b, '\n'))
	}
	if err != nil {
		s.o.log.Warn("spool: cannot record the backend state", "dir", s.dir, "err", err)
	}
}

// loadState takes over the last error an earlier Store recorded, and
// whether it found the backend down, so that the first answer rewrites
// state.json. A missing or unreadable file is no error: it is advisory.
func (s *Store) loadState() {
	st, err := readState(s.dir)
	if err != nil {
		s.o.log.Warn("spool: ignoring the recorded backend state", "err", err)
		return
	}
	if st.LastError != "" {
		s.backErr, s.backErrAt = errors.New(st.LastError), st.LastErrorAt
	}
	s.staleDown = st.BackendDown
}

// readState reads state.json in dir; a missing file is the zero state.
func readState(dir string) (state, error) {
	var st state
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return state{}, nil
	case err != nil:
		return state{}, err
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Format != stateFormat {
		return state{}, fmt.Errorf("%s is not a spool state file (%v)", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

// writeFileAtomic writes b to a temporary file in tmp and renames it to path.
func writeFileAtomic(tmp, path string, b []byte) error {
	f, err := os.CreateTemp(tmp, "state-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// Status reports what waits in the spool and the backend's state as this
// Store sees it, with the last upload error of each entry. Cost: one read
// of the spool folder (entry headers are cached).
func (s *Store) Status() (Status, error) {
	es, err := s.scan()
	if err != nil {
		return Status{}, fmt.Errorf("spool: status: %w", err)
	}
	return summarise(s.dir, es, s.snapshot()), nil
}

// Inspect reports what waits in the spool folder dir without opening it
// as a Store: it takes no lock and writes nothing, so it works while
// another process (a sweep, serve) holds the folder, and on a folder that
// does not exist (an empty Status). The backend's state comes from the
// state.json the holding Store last wrote; Entry.Err is set only for
// entries whose header cannot be read (ErrDamaged), since upload errors
// live in the holding process.
func Inspect(dir string) (Status, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Status{}, fmt.Errorf("spool: inspect %s: %w", dir, err)
	}
	s := &Store{dir: abs, entries: filepath.Join(abs, "entries"), o: options{log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		headers: map[string]header{}, stuck: map[string]error{}, lastErr: map[string]error{}}
	es, err := s.scan()
	if errors.Is(err, fs.ErrNotExist) {
		return Status{Dir: abs}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("spool: inspect %s: %w", dir, err)
	}
	st, err := readState(abs)
	if err != nil {
		return Status{}, fmt.Errorf("spool: inspect %s: %w", dir, err)
	}
	return summarise(abs, es, st), nil
}

func summarise(dir string, es []Entry, st state) Status {
	out := Status{Dir: dir, Objects: len(es), Entries: es, BackendDown: st.BackendDown, DownSince: st.DownSince,
		Failures: st.Failures, LastError: st.LastError, LastErrorAt: st.LastErrorAt}
	for _, e := range es {
		out.Bytes += e.Size
		if !e.Spooled.IsZero() && (out.Oldest.IsZero() || e.Spooled.Before(out.Oldest)) {
			out.Oldest = e.Spooled
		}
		if errors.Is(e.Err, ErrDamaged) || errors.Is(e.Err, ErrConflict) {
			out.Stuck++
		}
	}
	return out
}
