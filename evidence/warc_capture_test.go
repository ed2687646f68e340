package evidence_test

import (
	"bytes"
	"testing"

	"shopwatch/evidence/warc"
	"shopwatch/evidence/warc/warctest"
)

// The capture's WARC file holds the same bytes as the per-file exchange
// artifacts: a request and a response record per exchange, blocks equal to
// the stored request and response, digests that recompute.
func TestCaptureWARCAgreesWithArtifacts(t *testing.T) {
	f := newFixture(t)
	raw := readStored(t, f.store, key(f.rec, "archive/capture.warc.gz"))
	recs, err := warc.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var responses, requests [][]byte
	for _, r := range recs {
		if err := r.Verify(); err != nil {
			t.Errorf("%s record: %v", r.Type, err)
		}
		switch r.Type {
		case "request":
			requests = append(requests, r.Block)
		case "response":
			responses = append(responses, r.Block)
		}
	}
	for i, name := range []string{"exchanges/001", "exchanges/002"} {
		if i >= len(requests) || i >= len(responses) {
			t.Fatalf("WARC has %d requests and %d responses, want 2 each", len(requests), len(responses))
		}
		if want := readStored(t, f.store, key(f.rec, name+"-request.http")); !bytes.Equal(requests[i], want) {
			t.Errorf("%s: WARC request block differs from the stored request", name)
		}
		if want := readStored(t, f.store, key(f.rec, name+"-response.http")); !bytes.Equal(responses[i], want) {
			t.Errorf("%s: WARC response block differs from the stored response", name)
		}
	}
	if recs[0].Type != "warcinfo" || recs[0].Headers.Get("WARC-Date") != recs[1].Headers.Get("WARC-Date") {
		t.Errorf("first record %s, dates %q / %q", recs[0].Type, recs[0].Headers.Get("WARC-Date"), recs[1].Headers.Get("WARC-Date"))
	}

	// gowarc, which shares no code with shopwatch, reads the same records
	// under strict validation, and the HTTP payloads are the bodies the
	// capture stored.
	ind := warctest.Check(t, raw)
	if len(ind) != len(recs) {
		t.Fatalf("gowarc read %d records, shopwatch's reader %d", len(ind), len(recs))
	}
	for i, r := range ind {
		if r.Type != recs[i].Type || r.ID != recs[i].Headers.Get("WARC-Record-ID") || !bytes.Equal(r.Block, recs[i].Block) {
			t.Errorf("record %d: gowarc read %s %s, shopwatch %s %s, blocks equal: %v", i+1,
				r.Type, r.ID, recs[i].Type, recs[i].Headers.Get("WARC-Record-ID"), bytes.Equal(r.Block, recs[i].Block))
		}
	}
	var n int
	for _, r := range ind {
		if r.Type != "response" {
			continue
		}
		ex := f.page.Exchanges[n]
		n++
		if !bytes.Equal(r.Payload, ex.Body) {
			t.Errorf("response %d (%s): gowarc's payload is %d bytes, the stored body %d", n, r.Get("WARC-Target-URI"), len(r.Payload), len(ex.Body))
		}
		if c := warctest.Concurrent(ind, r.ID); len(c) == 0 || c[0].Type != "request" {
			t.Errorf("response %d: no request record concurrent to it", n)
		}
	}
	if n != len(f.page.Exchanges) {
		t.Errorf("gowarc read %d responses, the page has %d exchanges", n, len(f.page.Exchanges))
	}
}
