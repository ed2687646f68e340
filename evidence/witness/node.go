package witness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"shopwatch/evidence/ledger"
)

// CosignaturesFile is the file, in the ledger's folder, where a capture
// node keeps the co-signatures its witnesses returned.
const CosignaturesFile = "cosignatures.jsonl"

// stored is one line of CosignaturesFile.
type stored struct {
	LogID       string             `json:"log_id"`
	Size        uint64             `json:"size"`
	Note        string             `json:"note"`
	Witness     string             `json:"witness"` // its URL
	Cosignature ledger.Cosignature `json:"cosignature"`
}

// Node submits a capture node's checkpoints to its witnesses and keeps the
// co-signatures they return (see the package documentation).
type Node struct {
	ledger    *ledger.Log
	path      string
	witnesses []*Client
	timeout   time.Duration
	log       *slog.Logger

	mu     sync.Mutex // serialises Submit and guards cosigs
	cosigs []stored
}

// NodeOption configures NewNode.
type NodeOption func(*Node)

// WithNodeLogger sets the logger (default slog.Default()).
func WithNodeLogger(l *slog.Logger) NodeOption { return func(n *Node) { n.log = l } }

// WithTimeout bounds each exchange with one witness (default 10 s).
func WithTimeout(d time.Duration) NodeOption { return func(n *Node) { n.timeout = d } }

// NewNode returns the node that submits the checkpoints of lg, kept in
// folder ledgerDir, to witnesses, and reads the co-signatures kept so far.
// With no witnesses it only reads them (and writes nothing), as an export
// from a read-only data directory needs.
func NewNode(lg *ledger.Log, ledgerDir string, witnesses []*Client, opts ...NodeOption) (*Node, error) {
	n := &Node{ledger: lg, path: filepath.Join(ledgerDir, CosignaturesFile), witnesses: witnesses, timeout: 10 * time.Second, log: slog.Default()}
	for _, o := range opts {
		o(n)
	}
	for _, c := range witnesses {
		if c.URL == "" || c.KeyID == "" {
			return nil, fmt.Errorf("witness %q: needs a URL and the key id of the witness", c.URL)
		}
	}
	if len(witnesses) > 0 {
		// Co-signatures will be appended: after the last complete line.
		if err := dropTornTail(n.path, n.log); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("witness co-signatures: %w", err)
		}
	}
	err := readLines(n.path, func(line []byte) error {
		var s stored
		if err := json.Unmarshal(line, &s); err != nil {
			return fmt.Errorf("%s: %w", n.path, err)
		}
		n.cosigs = append(n.cosigs, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("witness co-signatures: %w", err)
	}
	return n, nil
}

// Submit sends the ledger's latest checkpoint to every witness that has
// not co-signed it yet, and stores the co-signatures returned. A witness
// that cannot be reached or refuses is logged (a refusal for
// inconsistency as an error: the ledger no longer extends what the witness
// saw) and asked again on the next call; the returned error joins every
// failure, and callers that must go on (captures) only log it.
func (n *Node) Submit(ctx context.Context) error {
	cp, ok := n.ledger.Latest()
	if !ok {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for _, c := range n.witnesses {
		if n.has(cp.Note, c.KeyID) {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, n.timeout)
		cs, err := n.submit(wctx, c, cp)
		cancel()
		if err == nil {
			err = n.keep(stored{LogID: cp.LogID, Size: cp.Size, Note: cp.Note, Witness: c.URL, Cosignature: *cs})
		}
		if err != nil {
			if errors.Is(err, ErrInconsistent) || isConflict(err) {
				n.log.ErrorContext(ctx, "witness refused the ledger's checkpoint as inconsistent with what it saw", "witness", c.URL, "size", cp.Size, "err", err)
			} else {
				n.log.WarnContext(ctx, "witness did not co-sign the checkpoint; it is submitted again after the next checkpoint or export", "witness", c.URL, "size", cp.Size, "err", err)
			}
			errs = append(errs, err)
			continue
		}
		n.log.InfoContext(ctx, "witness co-signed the checkpoint", "witness", c.URL, "witness_key", cs.WitnessKeyID, "size", cp.Size)
	}
	return errors.Join(errs...)
}

func isConflict(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == 409
}

func (n *Node) submit(ctx context.Context, c *Client, cp *ledger.Checkpoint) (*ledger.Cosignature, error) {
	seen, err := c.Latest(ctx, cp.LogID, cp.KeyID)
	if err != nil {
		return nil, err
	}
	req := &Request{Checkpoint: *cp}
	req.Checkpoint.Consistency = nil
	if seen != nil {
		from := seen.Checkpoint.Size
		req.FromSize = from
		switch {
		case from > cp.Size:
			return nil, fmt.Errorf("witness %s: %w: it co-signed size %d, the ledger's latest checkpoint has %d", c.URL, ErrInconsistent, from, cp.Size)
		case from < cp.Size:
			if req.Consistency, err = n.ledger.ConsistencyProof(ctx, from, cp.Size); err != nil {
				return nil, fmt.Errorf("witness %s: proof from its size %d: %w", c.URL, from, err)
			}
		}
	}
	return c.Cosign(ctx, req)
}

// has reports whether a co-signature of note by the witness is kept. The
// caller holds n.mu.
func (n *Node) has(note, keyID string) bool {
	for i := range n.cosigs {
		if n.cosigs[i].Note == note && n.cosigs[i].Cosignature.WitnessKeyID == keyID {
			return true
		}
	}
	return false
}

// keep appends a co-signature to the file and the list. The caller holds
// n.mu.
func (n *Node) keep(s stored) error {
	line, err := json.Marshal(&s)
	if err != nil {
		return err
	}
	if err := appendLine(n.path, append(line, '\n')); err != nil {
		return fmt.Errorf("keep co-signature: %w", err)
	}
	n.cosigs = append(n.cosigs, s)
	return nil
}

// Cosignatures returns the valid co-signatures kept for the checkpoint,
// one per witness.
func (n *Node) Cosignatures(cp *ledger.Checkpoint) []ledger.Cosignature {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []ledger.Cosignature
	seen := map[string]bool{}
	for _, s := range n.cosigs {
		cs := s.Cosignature
		if s.Note != cp.Note || seen[cs.WitnessKeyID] || cs.Verify(cp.Note) != nil {
			continue
		}
		seen[cs.WitnessKeyID] = true
		out = append(out, cs)
	}
	return out
}
