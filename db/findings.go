package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/text/unicode/norm"

	"shopwatch"
)

// Buckets of the finding identities. They are created, and the findings
// stored before identities existed are merged into them, by the first
// write that needs them (see ensureFindingIndex); a database opened
// read-only before that reads its old rows as they are.
var (
	bFindingKeys    = []byte("finding_keys")
	bFindingsByPage = []byte("findings_by_page")
)

// Filter selects findings; empty fields match everything.
type Filter struct {
	Sweep    string // seen in this sweep
	TargetID string
	Targets  []string // any of these target ids (in addition to TargetID); nil means all, empty none
	VisitID  string   // seen on this visit
	Rule     string
	Rules    []string // any of these rule ids (in addition to Rule); nil means all
	Category string   // rule category: licence, advertising …
	Severity shopwatch.Severity
	State    shopwatch.FindingState
	Stage    shopwatch.Stage // where its handling stands; "new" matches the unreviewed
	URL      string
	// Since and Until keep the findings whose span from first to last
	// seen overlaps [Since, Until]; a zero bound is open.
	Since, Until time.Time
	Limit        int // at most this many; 0 means no limit
}

func (f Filter) match(r *findingRec) bool {
	visit := f.VisitID == "" || r.VisitID == f.VisitID || slices.Contains(r.Visits, f.VisitID)
	return visit &&
		(f.TargetID == "" || r.TargetID == f.TargetID) &&
		(f.Targets == nil || slices.Contains(f.Targets, r.TargetID)) &&
		(f.Rule == "" || r.Rule == f.Rule) &&
		(len(f.Rules) == 0 || slices.Contains(f.Rules, r.Rule)) &&
		(f.Category == "" || r.Category == f.Category) &&
		(f.Severity == "" || r.Severity == f.Severity) &&
		(f.Stage == "" || r.Stage == f.Stage || f.Stage == shopwatch.StageNew && r.Stage == "") &&
		(f.State == "" || r.State == f.State) &&
		(f.URL == "" || r.URL == f.URL) &&
		(f.Since.IsZero() || !r.LastSeen.Before(f.Since)) &&
		(f.Until.IsZero() || !r.FirstSeen.After(f.Until))
}

// findingRec is a finding as stored: one problem, identified by its
// target, URL, rule, location and normalised match (see findingIdentity),
// with the visits that saw it.
type findingRec struct {
	shopwatch.Finding
	// Sweep is the sweep of the first sighting; every sweep that saw the
	// finding has an entry in findings_by_sweep.
	Sweep string `json:"sweep"`
	// Key is the identity; Page the normalised URL of the visited page
	// that last showed the finding, whose full visits can mark it gone.
	Key  string `json:"key,omitempty"`
	Page string `json:"page,omitempty"`
	// Visits are the visits that saw it, oldest first. A row merged from
	// rows stored before identities may name one visit more than once: it
	// then counted the same problem twice, and its Findings count says so.
	Visits []string `json:"visits,omitempty"`
	// Merged are the ids of rows stored before identities that were
	// merged into this one.
	Merged []string `json:"merged,omitempty"`
}

// legacy fills in what a row stored before identities lacks: it was seen
// once, on its own visit.
func (r *findingRec) legacy() {
	if r.FirstSeen.IsZero() {
		r.FirstSeen = r.Time
	}
	if r.LastSeen.IsZero() {
		r.LastSeen = r.Time
	}
	if len(r.Visits) == 0 && r.VisitID != "" {
		r.Visits = []string{r.VisitID}
	}
	if r.TimesSeen == 0 {
		r.TimesSeen = max(1, len(r.Visits))
	}
	if len(r.EvidenceIDs) == 0 && r.EvidenceID != "" {
		r.EvidenceIDs = []string{r.EvidenceID}
	}
	if r.State == "" {
		r.State = shopwatch.FindingOpen
	}
}

// findingIdentity is what makes two findings the same problem: target,
// normalised URL, rule, location and normalised match. The location is the
// class of place the finding was made (the text, or the page as a whole for
// an absence or a finding about markup); byte offsets are not part of it,
// since they shift whenever unrelated text changes.
func findingIdentity(f *shopwatch.Finding) string {
	u, err := NormalizeURL(f.URL)
	if err != nil {
		u = strings.TrimSpace(f.URL)
	}
	return strings.Join([]string{f.TargetID, u, f.Rule, findingLocation(f), normalizeMatch(f.Match)}, "\x00")
}

// findingLocation is the location part of a finding's identity.
func findingLocation(f *shopwatch.Finding) string {
	if f.Offset < 0 {
		return "page"
	}
	return "text"
}

// normalizeMatch folds the ways one matched text is written: NFKC (full
// width to ASCII), lower case, without white space, punctuation, symbols
// and format characters (最 佳, 最.佳 and ＮＯ．１ read 最佳 and no1).
func normalizeMatch(s string) string {
	s = strings.ToLower(norm.NFKC.String(s))
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.In(r, unicode.Cf, unicode.Cc, unicode.Mn) {
			return -1
		}
		return r
	}, s)
}

func identityKey(identity string) []byte {
	h := sha256.Sum256([]byte(identity))
	return h[:]
}

// pagePrefix is the findings_by_page prefix of a target's page.
func pagePrefix(targetID, page string) []byte {
	h := sha256.Sum256([]byte(targetID + "\x00" + page))
	return h[:16]
}

func pageKey(targetID, page string, seq uint64) []byte {
	return append(pagePrefix(targetID, page), u64(seq)...)
}

func normalizedPage(rawURL string) string {
	if u, err := NormalizeURL(rawURL); err == nil {
		return u
	}
	return strings.TrimSpace(rawURL)
}

// findingID is the id of the finding stored under sequence number seq.
func findingID(seq uint64) string { return "f-" + strconv.FormatUint(seq, 10) }

func findingSeq(id string) (uint64, bool) {
	s, ok := strings.CutPrefix(id, "f-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && findingID(n) == id
}

// ensureFindingIndex creates the identity buckets when the database has
// none yet, and merges the findings stored before identities existed (one
// row per visit) into one row per problem: the oldest row keeps its id and
// takes the others' sightings, which are deleted (their ids are listed in
// the row's "merged"). Rows it cannot read are left alone for Check to
// report. It does nothing when the buckets exist.
func ensureFindingIndex(tx *bolt.Tx) error {
	if tx.Bucket(bFindingKeys) != nil {
		return nil
	}
	keys, err := tx.CreateBucket(bFindingKeys)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bFindingKeys, err)
	}
	pages, err := tx.CreateBucketIfNotExists(bFindingsByPage)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bFindingsByPage, err)
	}
	b, bySweep, visits := tx.Bucket(bFindings), tx.Bucket(bFindingsBySwp), tx.Bucket(bVisits)
	type row struct {
		seq uint64
		rec findingRec
	}
	var rows []*row
	if err := b.ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return nil // left as it is, for Check to report
		}
		r := &row{seq: binary.BigEndian.Uint64(k)}
		if _, err := getJSON(b, k, &r.rec); err != nil {
			return nil // left as it is, for Check to report
		}
		rows = append(rows, r)
		return nil
	}); err != nil {
		return fmt.Errorf("index findings: %w", err)
	}
	kept := map[string]*row{}
	var order []*row
	for _, r := range rows {
		f := &r.rec
		f.legacy()
		f.Key = findingIdentity(&f.Finding)
		var vr visitRec
		if ok, _ := getJSON(visits, []byte(f.VisitID), &vr); ok {
			f.Page = normalizedPage(vr.URL)
		} else {
			f.Page = normalizedPage(f.URL)
		}
		into := kept[f.Key]
		if into == nil {
			kept[f.Key] = r
			order = append(order, r)
			continue
		}
		// r is newer (rows are in seq order): it is the latest sighting.
		old := into.rec
		into.rec = *f
		into.rec.ID, into.rec.Sweep = old.ID, old.Sweep
		into.rec.FirstSeen = minTime(old.FirstSeen, f.FirstSeen)
		into.rec.LastSeen = maxTime(old.LastSeen, f.LastSeen)
		into.rec.Visits = append(old.Visits, f.Visits...)
		into.rec.EvidenceIDs = old.EvidenceIDs
		for _, e := range f.EvidenceIDs {
			if !slices.Contains(into.rec.EvidenceIDs, e) {
				into.rec.EvidenceIDs = append(into.rec.EvidenceIDs, e)
			}
		}
		into.rec.TimesSeen = distinct(into.rec.Visits)
		into.rec.Merged = append(old.Merged, f.ID)
		if err := bySweep.Delete(sweepKey(f.Sweep, r.seq)); err != nil {
			return err
		}
		if err := bySweep.Put(sweepKey(f.Sweep, into.seq), nil); err != nil {
			return err
		}
		if err := b.Delete(u64(r.seq)); err != nil {
			return err
		}
	}
	for _, r := range order {
		if err := putJSON(b, u64(r.seq), &r.rec); err != nil {
			return err
		}
		if err := keys.Put(identityKey(r.rec.Key), u64(r.seq)); err != nil {
			return err
		}
		if err := pages.Put(pageKey(r.rec.TargetID, r.rec.Page, r.seq), nil); err != nil {
			return err
		}
	}
	return nil
}

func distinct(ss []string) int {
	seen := map[string]bool{}
	for _, s := range ss {
		seen[s] = true
	}
	return len(seen)
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// recordFindings stores what visit rec found, in the transaction that
// completes it (or fails it keeping its findings, see FailCapture), and
// returns how many findings it newly tied to the visit. A finding whose
// identity is already stored is updated (latest sighting, last seen, times
// seen, evidence ids; a gone one opens again with a note) instead of
// adding a row; the same problem found twice on the page counts once.
//
// Without evidenceID and with missing, the findings are kept marked
// evidence missing for that reason, and rec.Missing names them. A later
// attempt of the same visit that captures the page attaches its evidence
// to those it finds again and clears their mark; those it does not find
// again stay marked, with a note, and remain in rec.Missing.
//
// When full is true the visit read its page completely: then every open
// finding of the same target and page that this visit did not see is
// marked gone. A visit with findings but no evidence is never taken as
// full (its capture did not happen), nor should a failed visit, or one
// whose page was not checked in full, ever pass full.
func (x *txn) recordFindings(rec *visitRec, found []shopwatch.Finding, evidenceID string, full bool, missing string) (int, error) {
	if err := ensureFindingIndex(x.tx); err != nil {
		return 0, err
	}
	b, keys, pages := x.tx.Bucket(bFindings), x.tx.Bucket(bFindingKeys), x.tx.Bucket(bFindingsByPage)
	bySweep := x.tx.Bucket(bFindingsBySwp)
	page := normalizedPage(rec.URL)
	seen := map[uint64]bool{}
	added := 0
	var reopened []string
	for _, f := range found {
		f.VisitID = rec.ID
		f.EvidenceID = evidenceID
		f.EvidenceMissing = ""
		if evidenceID == "" {
			f.EvidenceMissing = missing
		}
		if f.TargetID == "" {
			f.TargetID = rec.TargetID
		}
		if f.URL == "" {
			f.URL = rec.URL
		}
		if f.Kind == "" {
			f.Kind = rec.Kind
		}
		if f.Time.IsZero() {
			f.Time = x.now
		}
		identity := findingIdentity(&f)
		var r findingRec
		var seq uint64
		if v := keys.Get(identityKey(identity)); v != nil {
			seq = binary.BigEndian.Uint64(v)
			if seen[seq] {
				continue // the same problem twice on one page: one finding
			}
			ok, err := getJSON(b, v, &r)
			if err == nil && !ok {
				err = fmt.Errorf("identity index points at %s: %w", findingID(seq), ErrNotFound)
			}
			if err != nil {
				return 0, err
			}
			r.legacy()
			if slices.Contains(r.Visits, rec.ID) {
				// Already recorded from this visit: kept by an attempt
				// whose capture failed, it gets this attempt's evidence,
				// or the reason it still has none.
				seen[seq] = true
				if r.VisitID != rec.ID || r.EvidenceID != "" {
					continue
				}
				switch {
				case evidenceID != "":
					r.EvidenceID, r.EvidenceMissing = evidenceID, ""
					r.Offset, r.Snippet, r.SeenFrom, r.SeenUntil = f.Offset, f.Snippet, f.SeenFrom, f.SeenUntil
					if !slices.Contains(r.EvidenceIDs, evidenceID) {
						r.EvidenceIDs = append(r.EvidenceIDs, evidenceID)
					}
				case missing != "":
					r.EvidenceMissing = missing
				default:
					continue
				}
				if err := putJSON(b, u64(seq), &r); err != nil {
					return 0, err
				}
				continue
			}
			if r.Page != page {
				if err := pages.Delete(pageKey(r.TargetID, r.Page, seq)); err != nil {
					return 0, err
				}
			}
			if r.State == shopwatch.FindingGone {
				r.History = append(r.History, shopwatch.FindingChange{At: f.Time, State: shopwatch.FindingOpen, VisitID: rec.ID,
					Note: fmt.Sprintf("seen again on visit %s after it was gone since %s", rec.ID, r.GoneAt.Format(time.RFC3339))})
				reopened = append(reopened, r.ID)
			}
			prev := r
			r.Finding = f
			r.ID, r.FirstSeen, r.History = prev.ID, minTime(prev.FirstSeen, f.Time), prev.History
			r.LastSeen = maxTime(prev.LastSeen, f.Time)
			r.TimesSeen = prev.TimesSeen + 1
			r.EvidenceIDs = prev.EvidenceIDs
		} else {
			var err error
			if seq, err = b.NextSequence(); err != nil {
				return 0, err
			}
			r = findingRec{Finding: f, Sweep: rec.Sweep, Key: identity}
			r.ID = findingID(seq)
			r.FirstSeen, r.LastSeen, r.TimesSeen = f.Time, f.Time, 1
			r.EvidenceIDs, r.History = nil, nil
		}
		seen[seq] = true
		added++
		r.State, r.GoneAt = shopwatch.FindingOpen, time.Time{}
		r.Page = page
		r.Visits = append(r.Visits, rec.ID)
		if evidenceID != "" && !slices.Contains(r.EvidenceIDs, evidenceID) {
			r.EvidenceIDs = append(r.EvidenceIDs, evidenceID)
		}
		if err := putJSON(b, u64(seq), &r); err != nil {
			return 0, err
		}
		if err := keys.Put(identityKey(identity), u64(seq)); err != nil {
			return 0, err
		}
		if err := pages.Put(pageKey(r.TargetID, page, seq), nil); err != nil {
			return 0, err
		}
		if err := bySweep.Put(sweepKey(rec.Sweep, seq), nil); err != nil {
			return 0, err
		}
	}
	// The findings of this visit that still lack evidence.
	var still []uint64
	for _, seq := range rec.Missing {
		if seen[seq] && evidenceID != "" {
			continue
		}
		if !seen[seq] && evidenceID != "" {
			var r findingRec
			if ok, err := getJSON(b, u64(seq), &r); err != nil || !ok {
				return 0, fmt.Errorf("finding %s kept for visit %s: %w", findingID(seq), rec.ID, errors.Join(err, ErrNotFound))
			}
			if r.VisitID == rec.ID && r.EvidenceID == "" {
				r.EvidenceMissing = fmt.Sprintf("%s; capture %s of attempt %d did not find it again", r.EvidenceMissing, evidenceID, rec.Attempts)
				if err := putJSON(b, u64(seq), &r); err != nil {
					return 0, err
				}
			}
		}
		still = append(still, seq)
	}
	if evidenceID == "" && missing != "" {
		for seq := range seen {
			if !slices.Contains(still, seq) {
				still = append(still, seq)
			}
		}
		slices.Sort(still)
	}
	rec.Missing = still
	if len(reopened) > 0 {
		if err := x.audit("findings.reopened", fmt.Sprintf("visit %s %s saw again: %s", rec.ID, rec.URL, strings.Join(reopened, ", "))); err != nil {
			return 0, err
		}
	}
	if !full || (len(found) > 0 && evidenceID == "") {
		return added, nil
	}
	// A full visit: what it did not see of its page is gone.
	var gone []string
	prefix := pagePrefix(rec.TargetID, page)
	c := pages.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		seq := binary.BigEndian.Uint64(k[len(prefix):])
		if seen[seq] {
			continue
		}
		var r findingRec
		ok, err := getJSON(b, u64(seq), &r)
		if err == nil && !ok {
			err = fmt.Errorf("findings_by_page points at %s: %w", findingID(seq), ErrNotFound)
		}
		if err != nil {
			return 0, err
		}
		r.legacy()
		if r.State == shopwatch.FindingGone {
			continue
		}
		note := fmt.Sprintf("not seen on visit %s, which read the whole page", rec.ID)
		if evidenceID != "" {
			note += " (evidence " + evidenceID + ")"
		}
		r.State, r.GoneAt = shopwatch.FindingGone, x.now
		r.History = append(r.History, shopwatch.FindingChange{At: x.now, State: shopwatch.FindingGone, VisitID: rec.ID, Note: note})
		if err := putJSON(b, u64(seq), &r); err != nil {
			return 0, err
		}
		gone = append(gone, r.ID)
	}
	if len(gone) > 0 {
		if err := x.audit("findings.gone", fmt.Sprintf("visit %s %s no longer shows: %s", rec.ID, rec.URL, strings.Join(gone, ", "))); err != nil {
			return 0, err
		}
	}
	return added, nil
}

// ListFindings returns the findings that match f, one per problem, in the
// order they were first recorded. With f.Sweep set only the findings that
// sweep saw are read; each shows its latest sighting, which may be of a
// later sweep.
func (db *DB) ListFindings(ctx context.Context, f Filter) ([]shopwatch.Finding, error) {
	var out []shopwatch.Finding
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bFindings)
		n := 0
		visit := func(key []byte) (bool, error) {
			if n++; n%scanCheckPeriod == 0 {
				if err := ctx.Err(); err != nil {
					return false, err
				}
			}
			var r findingRec
			ok, err := getJSON(b, key, &r)
			if err != nil {
				return false, err
			}
			if !ok {
				return false, fmt.Errorf("finding index entry %x: %w", key, ErrNotFound)
			}
			r.legacy()
			if f.match(&r) {
				out = append(out, r.Finding)
			}
			return f.Limit <= 0 || len(out) < f.Limit, nil
		}
		if f.Sweep != "" {
			prefix := sweepPrefix(f.Sweep)
			c := tx.Bucket(bFindingsBySwp).Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				if more, err := visit(k[len(prefix):]); err != nil || !more {
					return err
				}
			}
			return nil
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if more, err := visit(k); err != nil || !more {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list findings %+v: %w", f, err)
	}
	return out, nil
}

// GetFinding returns the finding with the given id, or an error wrapping
// ErrNotFound.
func (db *DB) GetFinding(ctx context.Context, id string) (*shopwatch.Finding, error) {
	var r findingRec
	err := db.view(ctx, func(tx *bolt.Tx) error {
		seq, ok := findingSeq(id)
		if !ok {
			return ErrNotFound
		}
		ok, err := getJSON(tx.Bucket(bFindings), u64(seq), &r)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get finding %s: %w", id, err)
	}
	r.legacy()
	return &r.Finding, nil
}

// checkFindings checks the findings against the visits, the evidence and
// their indexes: every visit a finding names is done and indexes the
// finding under its sweep, the latest sighting's evidence is its visit's,
// every evidence id is recorded, the identity and page indexes point at
// the rows that hold them, and each visit's Findings count is the number
// of findings that name it. It counts the findings into count.
func checkFindings(tx *bolt.Tx, visits map[string]*visitRec, count func(string) *Stats, ce *CheckError) {
	findingsB, fBySweep, evidenceB := tx.Bucket(bFindings), tx.Bucket(bFindingsBySwp), tx.Bucket(bEvidence)
	keys, pages := tx.Bucket(bFindingKeys), tx.Bucket(bFindingsByPage)
	perVisit := map[string]int{}
	sweepsOf := map[uint64]map[string]bool{}
	_ = findingsB.ForEach(func(k, _ []byte) error {
		key := fmt.Sprintf("%x", k)
		var r findingRec
		if _, err := getJSON(findingsB, k, &r); err != nil {
			ce.add("findings", key, err.Error())
			return nil
		}
		if len(k) != 8 {
			ce.add("findings", key, "key is not a sequence number")
			return nil
		}
		seq := binary.BigEndian.Uint64(k)
		key = r.ID
		if r.ID != findingID(seq) {
			ce.add("findings", key, fmt.Sprintf("stored under %d", seq))
		}
		indexed := keys != nil
		r.legacy()
		sweepsOf[seq] = map[string]bool{r.Sweep: true}
		if fBySweep.Get(sweepKey(r.Sweep, seq)) == nil {
			ce.add("findings", key, fmt.Sprintf("missing from findings_by_sweep for sweep %s", r.Sweep))
		}
		for i, id := range r.Visits {
			v := visits[id]
			switch {
			case v == nil:
				ce.add("findings", key, fmt.Sprintf("visit %q does not exist", id))
				continue
			case v.State != shopwatch.VisitDone && !v.EvidenceMissing:
				// A visit whose capture failed keeps its findings while
				// it waits for evidence (failed, or put back to retry).
				ce.add("findings", key, fmt.Sprintf("visit %s is %s", id, v.State))
			case i == 0 && v.Sweep != r.Sweep:
				ce.add("findings", key, fmt.Sprintf("recorded in sweep %s, visit %s is in %s", r.Sweep, id, v.Sweep))
			case fBySweep.Get(sweepKey(v.Sweep, seq)) == nil:
				ce.add("findings", key, fmt.Sprintf("seen in sweep %s (visit %s) but missing from findings_by_sweep", v.Sweep, id))
			}
			sweepsOf[seq][v.Sweep] = true
			perVisit[id]++
			count(v.Sweep).Findings++
		}
		if len(r.Visits) == 0 || r.Visits[len(r.Visits)-1] != r.VisitID {
			ce.add("findings", key, fmt.Sprintf("latest visit %s is not the last of %v", r.VisitID, r.Visits))
		} else if v := visits[r.VisitID]; v != nil && v.EvidenceID != r.EvidenceID && r.EvidenceMissing == "" {
			ce.add("findings", key, fmt.Sprintf("evidence %q, visit %s has %q", r.EvidenceID, r.VisitID, v.EvidenceID))
		}
		if r.EvidenceMissing != "" && r.EvidenceID != "" {
			ce.add("findings", key, fmt.Sprintf("evidence %q and marked evidence missing", r.EvidenceID))
		}
		for _, e := range r.EvidenceIDs {
			if evidenceB.Get([]byte(e)) == nil {
				ce.add("findings", key, fmt.Sprintf("evidence %s is not recorded", e))
			}
		}
		switch {
		case r.State != shopwatch.FindingOpen && r.State != shopwatch.FindingGone:
			ce.add("findings", key, fmt.Sprintf("unknown state %q", r.State))
		case (r.State == shopwatch.FindingGone) == r.GoneAt.IsZero():
			ce.add("findings", key, fmt.Sprintf("state %s with gone_at %q", r.State, r.GoneAt))
		}
		if !indexed {
			return nil
		}
		if r.Key == "" {
			ce.add("findings", key, "no identity")
		} else if got := keys.Get(identityKey(r.Key)); !bytes.Equal(got, k) {
			ce.add("findings", key, fmt.Sprintf("identity index has %x", got))
		}
		if pages.Get(pageKey(r.TargetID, r.Page, seq)) == nil {
			ce.add("findings", key, fmt.Sprintf("missing from findings_by_page for %s", r.Page))
		}
		return nil
	})
	_ = fBySweep.ForEach(func(k, _ []byte) error {
		i := bytes.IndexByte(k, 0)
		if i < 0 || len(k) != i+9 {
			ce.add("findings_by_sweep", fmt.Sprintf("%x", k), "malformed key")
			return nil
		}
		seq := binary.BigEndian.Uint64(k[i+1:])
		if !sweepsOf[seq][string(k[:i])] {
			ce.add("findings_by_sweep", fmt.Sprintf("%s/%d", k[:i], seq), "no such finding in that sweep")
		}
		return nil
	})
	if keys != nil {
		_ = keys.ForEach(func(k, v []byte) error {
			if len(v) != 8 || findingsB.Get(v) == nil {
				ce.add("finding_keys", fmt.Sprintf("%x", k), fmt.Sprintf("points at missing finding %x", v))
			}
			return nil
		})
	}
	if pages != nil {
		_ = pages.ForEach(func(k, _ []byte) error {
			if len(k) != 24 || findingsB.Get(k[16:]) == nil {
				ce.add("findings_by_page", fmt.Sprintf("%x", k), "points at a missing finding")
			}
			return nil
		})
	}
	for id, rec := range visits {
		if perVisit[id] != rec.Findings {
			ce.add("visits", id, fmt.Sprintf("says %d finding(s), %d stored", rec.Findings, perVisit[id]))
		}
	}
}

// putEvidence stores a new evidence record, assigning an id when it has
// none; a record with the same id is never overwritten.
func (x *txn) putEvidence(ev *shopwatch.EvidenceRecord) error {
	b := x.tx.Bucket(bEvidence)
	if ev.ID == "" {
		for ev.ID == "" || b.Get([]byte(ev.ID)) != nil {
			ev.ID = "e-" + shortID()
		}
	} else if err := validID(ev.ID); err != nil {
		return fmt.Errorf("%w: evidence: %v", ErrInvalid, err)
	}
	if b.Get([]byte(ev.ID)) != nil {
		return fmt.Errorf("%w: %s", ErrEvidenceExists, ev.ID)
	}
	order := x.tx.Bucket(bEvidenceOrder)
	seq, err := order.NextSequence()
	if err != nil {
		return err
	}
	if err := putJSON(b, []byte(ev.ID), ev); err != nil {
		return err
	}
	if err := order.Put(u64(seq), []byte(ev.ID)); err != nil {
		return err
	}
	return x.audit("evidence.recorded", fmt.Sprintf("evidence %s of visit %s %s: manifest %s %s, %d artifact(s), %d finding(s)",
		ev.ID, ev.VisitID, ev.URL, ev.ManifestKey, ev.ManifestDigest, len(ev.Artifacts), ev.Findings))
}

// PutEvidence records an evidence record made outside a visit, such as a
// one-off capture. An empty rec.ID is filled in. A record with the same id
// is refused with an error wrapping ErrEvidenceExists: evidence records are
// append-only.
func (db *DB) PutEvidence(ctx context.Context, rec *shopwatch.EvidenceRecord) error {
	if rec == nil {
		return fmt.Errorf("put evidence: %w: nil record", ErrInvalid)
	}
	ev := *rec
	err := db.update(ctx, actorFrom(ctx, ""), func(x *txn) error { return x.putEvidence(&ev) })
	if err != nil {
		return fmt.Errorf("put evidence %s (%s): %w", rec.ID, rec.URL, err)
	}
	*rec = ev
	return nil
}

// GetEvidence returns the evidence record with the given id, or an error
// wrapping ErrNotFound.
func (db *DB) GetEvidence(ctx context.Context, id string) (*shopwatch.EvidenceRecord, error) {
	var ev shopwatch.EvidenceRecord
	err := db.view(ctx, func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bEvidence), []byte(id), &ev)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get evidence %s: %w", id, err)
	}
	return &ev, nil
}

// ListEvidence returns every evidence record in the order they were
// recorded.
func (db *DB) ListEvidence(ctx context.Context) ([]shopwatch.EvidenceRecord, error) {
	var out []shopwatch.EvidenceRecord
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bEvidence)
		c := tx.Bucket(bEvidenceOrder).Cursor()
		n := 0
		for k, id := c.First(); k != nil; k, id = c.Next() {
			if n++; n%scanCheckPeriod == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var ev shopwatch.EvidenceRecord
			ok, err := getJSON(b, id, &ev)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("evidence order entry %x: evidence %s: %w", k, id, ErrNotFound)
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list evidence: %w", err)
	}
	return out, nil
}
