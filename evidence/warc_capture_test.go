package evidence_test

import (
	"bytes"
	"testing"

	"shopwatch/evidence/warc"
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
}
