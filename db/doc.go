// Package db is shopwatch's embedded store: one bbolt file holding the
// targets inspectors watch, sweeps, the visit queue with leases, the
// findings and evidence index, and an append-only audit log.
//
// # Guarantees
//
// Every method that changes state does so in one bbolt transaction, so a
// crash (of the process or the machine, unless WithNoSync was used) leaves
// all of a change or none of it. Write transactions are serialised by
// bbolt; reads run concurrently with them. One process at a time can have
// the file open: Open waits for the lock for a bounded time and then fails
// with ErrLocked instead of hanging. The lock is the operating system's
// file lock, so it goes away when the process holding it dies.
//
// The queue hands each visit to one worker at a time. A lease is the pair
// (Attempts, Worker): Lease increments Attempts every time it hands the
// visit out, so a stale worker's token never matches again. Complete, Fail,
// Extend, Release, StartCapture and AbandonCapture check the token and
// write nothing when it does not match (ErrLeaseLost). Enqueue never re-adds an id it has stored, in any
// state, so a finished visit is never done twice, however many pages link
// to it. Lease hands out pending visits and visits whose lease expired,
// highest priority first and oldest first within a priority.
//
// Check reads everything and reports every inconsistency between records,
// indexes and counters; VerifyAudit checks the audit log's hash chain.
//
// # Evidence exactly once
//
// A worker records a capture with StartCapture (fenced by its lease)
// before it stores the capture's first object, so every evidence id in the
// store has a capture record. A later attempt of the same visit reads them
// with VisitCaptures and settles each: a complete capture is completed
// with (Complete marks it indexed), an incomplete one is abandoned with
// AbandonCapture and a reason. A crash between storing a capture and
// Complete therefore costs no second capture, and nothing stored is left
// unaccounted for. RevokeLeases ends the leases of workers known to be
// dead, so a restarted process need not wait for them to expire.
//
// # File layout (schema 1)
//
// Values are JSON. Integers in keys are 8-byte big-endian; signed ones have
// their top bit flipped so that byte order is numeric order. "seq" below is
// a number from the owning bucket's bbolt sequence.
//
//	meta               "schema" → "1"
//	targets            target id → shopwatch.Target
//	target_urls        NormalizeURL(target URL) → target id (one target per page)
//	sweeps             sweep id → Sweep{id, name, started}
//	sweep_stats        sweep id → Stats{pending, leased, done, failed, findings},
//	                   updated in the transaction of every change it counts
//	visits             visit id → shopwatch.Visit plus "seq" (enqueue order,
//	                   fixed) and "turn" (place in the pending queue: seq at
//	                   first, a fresh number after a retry); the bucket
//	                   sequence numbers both
//	visits_by_sweep    sweep id, 0x00, seq → visit id (every visit, enqueue order)
//	queue_pending      ^(priority with flipped sign bit), turn → visit id
//	                   (exactly the pending visits; first key = next to lease)
//	queue_leased       lease expiry in Unix ns (sign bit flipped), seq → visit id
//	                   (exactly the leased visits; earliest expiry first)
//	findings           seq → one problem: shopwatch.Finding (its latest sighting,
//	                   first/last seen, times seen, evidence ids, state, history)
//	                   plus "sweep" (of the first sighting), "key" (the identity:
//	                   target, NUL, normalised URL, NUL, rule, NUL, location,
//	                   NUL, normalised match), "page" (normalised URL of the
//	                   visit that last saw it), "visits" (that saw it, oldest
//	                   first) and "merged" (ids of pre-identity rows merged
//	                   into it); the finding id is "f-" + seq in decimal
//	findings_by_sweep  sweep id, 0x00, seq → empty (every sweep that saw it)
//	finding_keys       SHA-256 of the identity → seq
//	findings_by_page   first 16 bytes of SHA-256 of target id, NUL, page; seq →
//	                   empty (the findings a full visit of that page can mark gone)
//	evidence           evidence id → shopwatch.EvidenceRecord (never overwritten)
//	evidence_order     seq → evidence id (order of recording)
//	audit              seq → AuditEntry{seq, time, actor, action, detail, prev, hash}
//	captures           evidence id → Capture (a capture a visit started: started,
//	                   indexed or abandoned); "seq" from the bucket sequence
//	captures_by_visit  visit id, 0x00, seq → evidence id (the visit's captures,
//	                   start order)
//
// Done and failed visits are in neither queue index. Sweep, target,
// visit and evidence ids never contain NUL.
//
// # Audit log
//
// An entry is appended in the same transaction as the change it records:
// target.added, target.deleted, sweep.created, visits.enqueued,
// visit.completed, visit.retry, visit.failed, visit.lease-expired,
// visit.lease-revoked, evidence.capture-started, evidence.recorded and
// evidence.abandoned, findings.gone and findings.reopened. Leasing itself is not logged (Attempts counts it).
// Hash is "sha256:" and the hex SHA-256 of, in order, the strings
// "shopwatch audit v1", the decimal seq, the time in RFC 3339 with
// nanoseconds in UTC, actor, action, detail and prev, each preceded by its
// length in bytes as an unsigned varint; prev is the hash of the entry
// before, empty for the first. The actor is set with WithActor, and
// defaults to the worker for queue operations and "system" otherwise.
package db
