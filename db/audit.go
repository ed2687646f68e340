package db

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AuditEntry is one line of the audit log. Entries are only ever appended,
// in the same transaction as the change they describe. Each entry's Hash
// covers its fields and the previous entry's hash, so an edited, removed
// or reordered entry breaks the chain (see VerifyAudit).
type AuditEntry struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"` // target.added, visit.completed, evidence.recorded …
	Detail string    `json:"detail"`
	Prev   string    `json:"prev"` // Hash of the entry before; empty for the first
	Hash   string    `json:"hash"` // "sha256:<hex>"
}

// auditHash is the hash of an entry: SHA-256 over a domain tag and the
// fields, each preceded by its length, so no two entries share an input.
func auditHash(e *AuditEntry) string {
	h := sha256.New()
	field := func(s string) {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	field("shopwatch audit v1")
	field(fmt.Sprint(e.Seq))
	field(e.Time.UTC().Format(time.RFC3339Nano))
	field(e.Actor)
	field(e.Action)
	field(e.Detail)
	field(e.Prev)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// audit appends an entry to the log within the transaction.
func (x *txn) audit(action, detail string) error {
	b := x.tx.Bucket(bAudit)
	if x.lastHash == nil {
		last := ""
		if k, _ := b.Cursor().Last(); k != nil {
			var e AuditEntry
			if _, err := getJSON(b, k, &e); err != nil {
				return err
			}
			last = e.Hash
		}
		x.lastHash = &last
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e := AuditEntry{Seq: seq, Time: x.now, Actor: x.actor, Action: action, Detail: detail, Prev: *x.lastHash}
	e.Hash = auditHash(&e)
	if err := putJSON(b, u64(seq), &e); err != nil {
		return err
	}
	*x.lastHash = e.Hash
	return nil
}

// ListAudit returns audit entries with Seq greater than after, oldest
// first, at most limit of them (all when limit <= 0). Page through the log
// by passing the last Seq seen as after.
func (db *DB) ListAudit(ctx context.Context, after uint64, limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bAudit)
		c := b.Cursor()
		for k, _ := c.Seek(u64(after + 1)); k != nil && (limit <= 0 || len(out) < limit); k, _ = c.Next() {
			if len(out)%scanCheckPeriod == scanCheckPeriod-1 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var e AuditEntry
			if _, err := getJSON(b, k, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list audit after %d: %w", after, err)
	}
	return out, nil
}

// VerifyAudit walks the whole audit log and checks that sequence numbers
// run without gaps and every hash matches its entry and links to the one
// before. It returns nil, or a *CheckError listing every problem with the
// sequence number of the entry it concerns.
func (db *DB) VerifyAudit(ctx context.Context) error {
	var ce CheckError
	err := db.view(ctx, func(tx *bolt.Tx) error {
		verifyAudit(ctx, tx, &ce)
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("verify audit log: %w", err)
	}
	return ce.orNil()
}

func verifyAudit(ctx context.Context, tx *bolt.Tx, ce *CheckError) {
	b := tx.Bucket(bAudit)
	var prev string
	var want uint64 = 1
	n := 0
	_ = b.ForEach(func(k, v []byte) error {
		if n++; n%scanCheckPeriod == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		var e AuditEntry
		key := fmt.Sprintf("%x", k)
		if len(k) == 8 {
			key = fmt.Sprint(binary.BigEndian.Uint64(k))
		}
		if _, err := getJSON(b, k, &e); err != nil {
			ce.add("audit", key, err.Error())
			return nil
		}
		if len(k) != 8 || binary.BigEndian.Uint64(k) != e.Seq {
			ce.add("audit", key, fmt.Sprintf("entry says seq %d", e.Seq))
		}
		if e.Seq != want {
			ce.add("audit", key, fmt.Sprintf("sequence gap: want entry %d", want))
		}
		want = e.Seq + 1
		if e.Prev != prev {
			ce.add("audit", key, fmt.Sprintf("prev %s does not match the hash of the entry before (%s)", e.Prev, prev))
		}
		if h := auditHash(&e); h != e.Hash {
			ce.add("audit", key, fmt.Sprintf("hash %s does not match the entry (computed %s)", e.Hash, h))
		}
		prev = e.Hash
		return nil
	})
	if b.Sequence() != want-1 {
		ce.add("audit", "", fmt.Sprintf("log ends at entry %d but %d were written", want-1, b.Sequence()))
	}
}

// RecordAudit appends a custody event that changes no other state (an
// evidence export, a download, a verification) to the audit log. The
// actor comes from ctx (WithActor) or is "shopwatch".
func (db *DB) RecordAudit(ctx context.Context, action, detail string) error {
	if action == "" {
		return fmt.Errorf("record audit: %w: empty action", ErrInvalid)
	}
	err := db.update(ctx, actorFrom(ctx, ""), func(x *txn) error { return x.audit(action, detail) })
	if err != nil {
		return fmt.Errorf("record audit %s: %w", action, err)
	}
	return nil
}

// ErrAuditTruncated: the audit log no longer reaches a head recorded
// outside it (in a signed ledger checkpoint), or the entry at that position
// is not the one recorded: entries were cut off the end, or the log was
// rewritten.
var ErrAuditTruncated = errors.New("audit log truncated")

// AuditHead returns the head of the audit log: how many entries it holds
// and the hash of the last one ("" when it holds none). Recording it in a
// signed checkpoint lets VerifyAuditHead detect entries cut off later.
func (db *DB) AuditHead(ctx context.Context) (size uint64, hash string, err error) {
	err = db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bAudit)
		k, _ := b.Cursor().Last()
		if k == nil {
			return nil
		}
		var e AuditEntry
		if _, err := getJSON(b, k, &e); err != nil {
			return err
		}
		size, hash = e.Seq, e.Hash
		return nil
	})
	if err != nil {
		return 0, "", fmt.Errorf("audit log head: %w", err)
	}
	return size, hash, nil
}

// VerifyAuditHead checks that the audit log still reaches a head recorded
// earlier (size entries, the last with hash): entry size must be there
// with that hash. It returns nil, or an error wrapping ErrAuditTruncated
// that says what is missing or different. It checks the position only;
// VerifyAudit checks the chain that leads to it.
func (db *DB) VerifyAuditHead(ctx context.Context, size uint64, hash string) error {
	if size == 0 {
		return nil
	}
	var problem error
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bAudit)
		var last uint64
		if k, _ := b.Cursor().Last(); len(k) == 8 {
			last = binary.BigEndian.Uint64(k)
		}
		v := b.Get(u64(size))
		if v == nil {
			problem = fmt.Errorf("%w: a signed ledger checkpoint recorded %d entries ending in %s, but the log ends at entry %d (entries %d to %d are gone)",
				ErrAuditTruncated, size, hash, last, last+1, size)
			return nil
		}
		var e AuditEntry
		if _, err := getJSON(b, u64(size), &e); err != nil {
			problem = fmt.Errorf("%w: entry %d, the head a signed ledger checkpoint recorded, does not read: %v", ErrAuditTruncated, size, err)
			return nil
		}
		if e.Hash != hash {
			problem = fmt.Errorf("%w: entry %d has hash %s, but a signed ledger checkpoint recorded %s: the log was rewritten",
				ErrAuditTruncated, size, e.Hash, hash)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("verify audit log head: %w", err)
	}
	return problem
}
