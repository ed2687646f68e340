package witness_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shopwatch/evidence"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/tsa"
	"shopwatch/evidence/witness"
)

var quiet = slog.New(slog.DiscardHandler)

// newLog opens a ledger signed by a fresh key, with a built-in authority.
func newLog(t *testing.T) *ledger.Log { return newLogB(t) }

func newLogB(t testing.TB) *ledger.Log {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	s, err := evidence.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	au, err := tsa.LoadOrCreateAuthority(filepath.Join(t.TempDir(), "tsa"), tsa.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	lg, err := ledger.Open(filepath.Join(t.TempDir(), "ledger"), s, au, ledger.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	return lg
}

func grow(t *testing.T, lg *ledger.Log, n int) *ledger.Checkpoint {
	t.Helper()
	for range n {
		i := lg.Size()
		if _, err := lg.Append(context.Background(), []byte(fmt.Sprintf("sha256:%064x", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := lg.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func startWitness(t *testing.T, keys ...ed25519.PublicKey) (*witness.Witness, *httptest.Server) {
	return startWitnessB(t, keys...)
}

func startWitnessB(t testing.TB, keys ...ed25519.PublicKey) (*witness.Witness, *httptest.Server) {
	t.Helper()
	dir := t.TempDir()
	if _, err := witness.Init(dir); err != nil {
		t.Fatal(err)
	}
	w, err := witness.Open(dir, keys, witness.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler()) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return w, srv
}

func post(t *testing.T, url string, body []byte) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url+witness.CosignPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("status %d: answer is not JSON: %q", resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

func request(t *testing.T, cp *ledger.Checkpoint, from uint64, proof []ledger.Hash) []byte {
	t.Helper()
	b, err := json.Marshal(witness.Request{Checkpoint: *cp, FromSize: from, Consistency: proof})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Bad input gets a clear 4xx answer with a JSON reason, and changes
// nothing: a body that is not JSON or has unknown fields (400), a body
// larger than the limit (413), a checkpoint of a log key the witness does
// not accept or with a broken signature (403), a checkpoint that goes
// back or does not follow from the witnessed one (409, naming the
// witnessed size), and GETs without a log or for an unknown one.
func TestWitnessRejectsBadInput(t *testing.T) {
	lg := newLog(t)
	w, srv := startWitness(t, lg.PublicKey())
	cp1 := grow(t, lg, 3)
	code, m := post(t, srv.URL, request(t, cp1, 0, nil))
	if code != http.StatusOK {
		t.Fatalf("first checkpoint: %d %v", code, m)
	}
	cs, err := (&witness.Client{URL: srv.URL, KeyID: w.KeyID()}).Latest(context.Background(), lg.LogID(), lg.KeyID())
	if err != nil || cs == nil || cs.Checkpoint.Size != 3 || cs.Cosignature.Verify(cp1.Note) != nil {
		t.Fatalf("latest after co-signing: %+v, %v", cs, err)
	}

	other := newLog(t)
	foreign := grow(t, other, 1)
	broken := *cp1
	broken.Signature = bytes.Clone(cp1.Signature)
	broken.Signature[0] ^= 1
	cp2 := grow(t, lg, 2)
	proof, err := lg.ConsistencyProof(context.Background(), 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(proof[0])
	bad[0] ^= 1
	badProof := append([]ledger.Hash{bad}, proof[1:]...)

	cases := []struct {
		name    string
		body    []byte
		status  int
		mention string
	}{
		{"not JSON", []byte(`{"checkpoint": `), http.StatusBadRequest, "malformed request"},
		{"unknown field", []byte(`{"checkpoint": {}, "extra": 1}`), http.StatusBadRequest, "unknown field"},
		{"empty checkpoint", []byte(`{"checkpoint": {"log_id": "` + lg.LogID() + `"}}`), http.StatusBadRequest, "needs size, root"},
		{"huge body", append([]byte(`{"checkpoint": {"note": "`), bytes.Repeat([]byte("a"), witness.MaxRequestSize)...), http.StatusRequestEntityTooLarge, "larger than"},
		{"unknown log key", request(t, foreign, 0, nil), http.StatusForbidden, "not accepted by this witness: " + other.KeyID()},
		{"broken signature", request(t, &broken, 0, nil), http.StatusForbidden, "signature does not verify"},
		{"proof from elsewhere", request(t, cp2, 2, proof), http.StatusConflict, "starts at size 2, the witness holds size 3"},
		{"proof that fails", request(t, cp2, 3, badProof), http.StatusConflict, "from the witnessed size 3"},
	}
	for _, c := range cases {
		code, m := post(t, srv.URL, c.body)
		msg, _ := m["error"].(string)
		if code != c.status || !strings.Contains(msg, c.mention) {
			t.Errorf("%s: got %d %q, want %d mentioning %q", c.name, code, msg, c.status, c.mention)
		}
		if code == http.StatusConflict && m["witnessed_size"] != float64(3) {
			t.Errorf("%s: witnessed_size %v, want 3", c.name, m["witnessed_size"])
		}
	}
	if seen, _ := w.Latest(lg.LogID(), lg.KeyID()); seen.Checkpoint.Size != 3 {
		t.Fatalf("bad input moved the witness to size %d", seen.Checkpoint.Size)
	}
	// The right proof is accepted; going back to size 3 is then refused.
	if code, m := post(t, srv.URL, request(t, cp2, 3, proof)); code != http.StatusOK {
		t.Fatalf("consistent checkpoint: %d %v", code, m)
	}
	if code, m := post(t, srv.URL, request(t, cp1, 0, nil)); code != http.StatusConflict || !strings.Contains(m["error"].(string), "goes back") {
		t.Fatalf("older checkpoint: %d %v", code, m)
	}

	for q, want := range map[string]int{"": http.StatusBadRequest, "?log=" + other.LogID() + "&key=" + other.KeyID(): http.StatusNotFound} {
		resp, err := http.Get(srv.URL + witness.CheckpointPath + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %q: %d, want %d", q, resp.StatusCode, want)
		}
	}
}

// A witness keeps its state over a restart: opened again from its folder
// it holds the last checkpoint it co-signed and still refuses one that
// goes back; a last line left incomplete by a crash is ignored, and a
// witness without a key or without log keys does not open.
func TestWitnessKeepsStateOverRestart(t *testing.T) {
	ctx := context.Background()
	lg := newLog(t)
	dir := t.TempDir()
	if _, err := witness.Open(dir, []ed25519.PublicKey{lg.PublicKey()}); err == nil || !strings.Contains(err.Error(), "witness init") {
		t.Fatalf("Open without a key: %v", err)
	}
	if _, err := witness.Init(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := witness.Open(dir, nil); err == nil {
		t.Fatal("Open without log keys succeeded")
	}
	w, err := witness.Open(dir, []ed25519.PublicKey{lg.PublicKey()}, witness.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	cp1 := grow(t, lg, 2)
	if _, err := w.Cosign(ctx, &witness.Request{Checkpoint: *cp1}); err != nil {
		t.Fatal(err)
	}
	cp2 := grow(t, lg, 3)
	proof, err := lg.ConsistencyProof(ctx, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Cosign(ctx, &witness.Request{Checkpoint: *cp2, FromSize: 2, Consistency: proof}); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of the next write.
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("log files %v", files)
	}
	f, err := os.OpenFile(files[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"checkpoint": {"size": 9`)
	f.Close()

	w, err = witness.Open(dir, []ed25519.PublicKey{lg.PublicKey()}, witness.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	seen, ok := w.Latest(lg.LogID(), lg.KeyID())
	if !ok || seen.Checkpoint.Size != 5 || seen.Cosignature.Verify(cp2.Note) != nil {
		t.Fatalf("after the restart the witness holds %+v", seen)
	}
	_, err = w.Cosign(ctx, &witness.Request{Checkpoint: *cp1})
	var ce *witness.ConflictError
	if !errors.As(err, &ce) || ce.WitnessedSize != 5 || !errors.Is(err, witness.ErrInconsistent) {
		t.Fatalf("an older checkpoint after the restart: %v", err)
	}
	// The next co-signature lands on a line of its own.
	cp3 := grow(t, lg, 1)
	if proof, err = lg.ConsistencyProof(ctx, 5, 6); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Cosign(ctx, &witness.Request{Checkpoint: *cp3, FromSize: 5, Consistency: proof}); err != nil {
		t.Fatal(err)
	}
	w, err = witness.Open(dir, []ed25519.PublicKey{lg.PublicKey()}, witness.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if seen, _ := w.Latest(lg.LogID(), lg.KeyID()); seen.Checkpoint.Size != 6 {
		t.Fatalf("after a second restart the witness holds size %d, want 6", seen.Checkpoint.Size)
	}
}

// A capture node keeps the co-signatures it received over a restart; a
// last line left incomplete by a crash is dropped before the next one is
// appended, and a node with no witnesses only reads them.
func TestNodeKeepsCosignatures(t *testing.T) {
	ctx := context.Background()
	lg := newLog(t)
	w, srv := startWitness(t, lg.PublicKey())
	dir := t.TempDir()
	clients := []*witness.Client{{URL: srv.URL, KeyID: w.KeyID()}}
	n, err := witness.NewNode(lg, dir, clients, witness.WithNodeLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	cp1 := grow(t, lg, 2)
	if err := n.Submit(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, witness.CosignaturesFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"log_id": "`)
	f.Close()

	reader, err := witness.NewNode(lg, dir, nil, witness.WithNodeLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if cs := reader.Cosignatures(cp1); len(cs) != 1 || cs[0].WitnessKeyID != w.KeyID() {
		t.Fatalf("a reading node finds co-signatures %+v", cs)
	}
	n, err = witness.NewNode(lg, dir, clients, witness.WithNodeLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	cp2 := grow(t, lg, 1)
	if err := n.Submit(ctx); err != nil {
		t.Fatal(err)
	}
	// Submitting again asks nothing: the co-signature is kept.
	srv.Close()
	if err := n.Submit(ctx); err != nil {
		t.Fatalf("Submit of a checkpoint already co-signed asked the witness: %v", err)
	}
	n, err = witness.NewNode(lg, dir, clients, witness.WithNodeLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range []*ledger.Checkpoint{cp1, cp2} {
		if cs := n.Cosignatures(cp); len(cs) != 1 || cs[0].Verify(cp.Note) != nil {
			t.Fatalf("checkpoint of size %d: co-signatures %+v", cp.Size, cs)
		}
	}
	if _, err := witness.NewNode(lg, dir, []*witness.Client{{URL: srv.URL}}); err == nil {
		t.Fatal("NewNode took a witness without a key id")
	}
}

// openWitness opens a fresh witness folder with opts.
func openWitness(t *testing.T, key ed25519.PublicKey, opts ...witness.Option) *witness.Witness {
	t.Helper()
	dir := t.TempDir()
	if _, err := witness.Init(dir); err != nil {
		t.Fatal(err)
	}
	w, err := witness.Open(dir, []ed25519.PublicKey{key}, append(opts, witness.WithLogger(quiet))...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// clockLog opens a ledger whose checkpoints are dated by *clock while its
// authority stamps them with the real time.
func clockLog(t *testing.T, clock *time.Time) (*ledger.Log, *tsa.Authority, ed25519.PublicKey) {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	s, err := evidence.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	au, err := tsa.LoadOrCreateAuthority(filepath.Join(t.TempDir(), "tsa"), tsa.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	lg, err := ledger.Open(filepath.Join(t.TempDir(), "ledger"), s, au, ledger.WithLogger(quiet),
		ledger.WithClock(func() time.Time { return *clock }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	return lg, au, pub
}

// A witness holds a checkpoint's time to its own clock, to the time of the
// previous checkpoint it co-signed of the log, and, given TSA roots, to a
// token over the note: a capture node cannot date its checkpoints ahead,
// back, or other than a trusted authority saw them.
func TestWitnessChecksCheckpointTime(t *testing.T) {
	ctx := context.Background()
	clock := time.Now()
	lg, au, pub := clockLog(t, &clock)

	// Dated an hour ahead: refused by any witness, with or without roots.
	clock = time.Now().Add(time.Hour)
	ahead := grow(t, lg, 2)
	for name, w := range map[string]*witness.Witness{"clock": openWitness(t, pub), "roots": openWitness(t, pub, witness.WithTSARoots(au.Roots()))} {
		if _, err := w.Cosign(ctx, &witness.Request{Checkpoint: *ahead}); !errors.Is(err, witness.ErrBadTime) {
			t.Errorf("%s: checkpoint dated an hour ahead: err %v, want ErrBadTime", name, err)
		}
	}
	_, srv := startWitness(t, pub)
	if code, m := post(t, srv.URL, request(t, ahead, 0, nil)); code != http.StatusForbidden || !strings.Contains(fmt.Sprint(m["error"]), "ahead of the witness's clock") {
		t.Errorf("HTTP: checkpoint dated ahead: %d %v, want 403 naming the clock", code, m)
	}

	// Dated an hour back, stamped now: a witness without roots accepts an
	// old checkpoint (a node that was offline submits it late), one that
	// checks tokens refuses it.
	clock = time.Now().Add(-time.Hour)
	back := grow(t, lg, 1)
	if _, err := openWitness(t, pub).Cosign(ctx, &witness.Request{Checkpoint: *back}); err != nil {
		t.Errorf("witness without roots refused an old checkpoint: %v", err)
	}
	_, err := openWitness(t, pub, witness.WithTSARoots(au.Roots())).Cosign(ctx, &witness.Request{Checkpoint: *back})
	if !errors.Is(err, witness.ErrBadTime) || !strings.Contains(err.Error(), "apart") {
		t.Errorf("checkpoint dated an hour before its token: err %v, want ErrBadTime naming the gap", err)
	}

	// Dated now: accepted under the authority's roots, refused under the
	// roots of another authority.
	clock = time.Now()
	now := grow(t, lg, 1)
	if _, err := openWitness(t, pub, witness.WithTSARoots(au.Roots())).Cosign(ctx, &witness.Request{Checkpoint: *now}); err != nil {
		t.Errorf("checkpoint dated now with a valid token: %v", err)
	}
	other, err := tsa.LoadOrCreateAuthority(filepath.Join(t.TempDir(), "other"), tsa.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openWitness(t, pub, witness.WithTSARoots(other.Roots())).Cosign(ctx, &witness.Request{Checkpoint: *now}); !errors.Is(err, witness.ErrBadTime) {
		t.Errorf("token of an authority the witness does not trust: err %v, want ErrBadTime", err)
	}

	// Time going back from the witnessed checkpoint: a conflict, even
	// though the tree extends it.
	w := openWitness(t, pub)
	if _, err := w.Cosign(ctx, &witness.Request{Checkpoint: *now}); err != nil {
		t.Fatal(err)
	}
	clock = now.Time.Add(-time.Minute)
	earlier := grow(t, lg, 1)
	proof, err := lg.ConsistencyProof(ctx, now.Size, earlier.Size)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Cosign(ctx, &witness.Request{Checkpoint: *earlier, FromSize: now.Size, Consistency: proof})
	var ce *witness.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, witness.ErrInconsistent) || !strings.Contains(err.Error(), "goes back") {
		t.Errorf("checkpoint dated before the witnessed one: err %v, want a conflict naming the time", err)
	}
	if got, _ := w.Latest(now.LogID, now.KeyID); got.Checkpoint.Size != now.Size {
		t.Errorf("after the refusal the witness holds size %d, want %d", got.Checkpoint.Size, now.Size)
	}
}
