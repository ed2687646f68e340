package evidence_test

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shopwatch/evidence"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/witness"
)

// witnessNode is a witness serving on loopback from its own folder.
type witnessNode struct {
	dir  string
	addr string
	w    *witness.Witness
	srv  *http.Server
}

// startWitness starts the witness kept in dir (its key made when missing)
// on addr ("127.0.0.1:0" for any port), accepting checkpoints signed by
// keys.
func startWitness(t *testing.T, dir, addr string, keys ...ed25519.PublicKey) *witnessNode {
	t.Helper()
	if _, err := witness.Init(dir); err != nil {
		t.Fatal(err)
	}
	w, err := witness.Open(dir, keys, witness.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("witness on %s: %v", addr, err)
	}
	wn := &witnessNode{dir: dir, addr: ln.Addr().String(), w: w, srv: &http.Server{Handler: w.Handler()}}
	go wn.srv.Serve(ln)
	t.Cleanup(wn.stop)
	return wn
}

func (wn *witnessNode) stop() { wn.srv.Close() }

func (wn *witnessNode) url() string { return "http://" + wn.addr }

// withWitness makes the node submit its checkpoints to the witness at url
// whose key id is keyID.
func (n *node) withWitness(t *testing.T, url, keyID string) *witness.Node {
	t.Helper()
	wn, err := witness.NewNode(n.notary.Ledger, filepath.Join(n.dir, "ledger"), []*witness.Client{{URL: url, KeyID: keyID}},
		witness.WithNodeLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	n.notary.Witnesses = wn
	return wn
}

// witnessTrust is the office's trust file listing the witness.
func (n *node) witnessTrust(t *testing.T, id, name string) *evidence.TrustFile {
	t.Helper()
	return n.trustFile(t, n.notary.TSARoot, func(tf *evidence.TrustFile) {
		tf.WitnessKeys = []evidence.TrustedWitness{{ID: id, Name: name}}
	})
}

// rewriteLedger does what an intruder holding the capture node's key
// does: it throws the ledger's records and checkpoints away, keeping the
// log id, and starts the same log again, signed with the same key.
func (n *node) rewriteLedger(t *testing.T) {
	t.Helper()
	dir := filepath.Join(n.dir, "ledger")
	if err := n.notary.Ledger.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ledger.LeavesFile, ledger.CheckpointsFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(n.notary.TSARoot)
	lg, err := ledger.Open(dir, n.signer, n.notary.TSA, ledger.WithTSARoots(roots))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	n.notary.Ledger = lg
}

func wantNotWitnessed(t *testing.T, bundle string, tf *evidence.TrustFile, mention string) {
	t.Helper()
	rep, text := verifyWith(t, bundle, evidence.WithTrust(tf))
	if rep.OK() || rep.Verdict() != evidence.VerdictFailed || !errors.Is(rep.Err(), evidence.ErrNotWitnessed) ||
		!strings.Contains(text, mention) {
		t.Fatalf("want NOT VERIFIED naming the missing co-signature (%q), got %s:\n%s", mention, rep.Verdict(), text)
	}
}

// Two nodes on loopback: a capture node and a witness. An honest capture
// is co-signed and verifies as TRUSTED under a trust file listing the
// witness, which the verdict names; under a trust file listing another
// witness it fails, and without witness keys it verifies as before. Then
// an intruder with the capture node's own key rewrites the ledger: the
// witness refuses the rewritten checkpoints (same size, other root; and a
// consistency proof that does not lead from what it saw), also after a
// restart, and the bundles made from the rewritten ledger fail under the
// trust file.
func TestWitnessCatchesRewrittenLedger(t *testing.T) {
	office := builtinNode(t)
	wdir := t.TempDir()
	wn := startWitness(t, wdir, "127.0.0.1:0", office.signer.PublicKey())
	wid := wn.w.KeyID()
	office.withWitness(t, wn.url(), wid)

	honest := office.captureNow(t)
	tf := office.witnessTrust(t, wid, "witness-east")
	rep, text := verifyWith(t, honest, evidence.WithTrust(tf))
	if rep.Verdict() != evidence.VerdictTrusted || !strings.Contains(text, "co-signed by witness witness-east ("+wid+")") {
		t.Fatalf("honest bundle: want TRUSTED naming the witness, got %s:\n%s", rep.Verdict(), text)
	}
	if len(rep.Witnesses) != 1 {
		t.Fatalf("report names witnesses %v", rep.Witnesses)
	}
	// Without witness keys in the trust file nothing changes.
	if rep, text := verifyWith(t, honest, evidence.WithTrust(office.trustFile(t, office.notary.TSARoot, nil))); rep.Verdict() != evidence.VerdictTrusted {
		t.Fatalf("without witness keys: want TRUSTED, got %s:\n%s", rep.Verdict(), text)
	}
	// A trust file listing only another witness does not accept it.
	other := office.witnessTrust(t, "ed25519:0123456789abcdef", "someone-else")
	wantNotWitnessed(t, honest, other, "ed25519:"+strings.TrimPrefix(wid, "ed25519:")+" is not a witness of")

	seen, ok := wn.w.Latest(office.notary.Ledger.LogID(), office.notary.Ledger.KeyID())
	if !ok || seen.Checkpoint.Size != 1 {
		t.Fatalf("the witness holds %+v, want the checkpoint of size 1", seen)
	}

	// The intruder rewrites the ledger and captures a forgery.
	office.rewriteLedger(t)
	wnode := office.withWitness(t, wn.url(), wid)
	forged := office.captureNow(t)
	wantNotWitnessed(t, forged, tf, "carries no co-signature")
	err := wnode.Submit(context.Background())
	var se *witness.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusConflict || !strings.Contains(se.Message, "differs from the witnessed") {
		t.Fatalf("same size, other root: want 409 from the witness, got %v", err)
	}

	// The witness restarts; it still holds the honest checkpoint, and a
	// longer rewritten log whose proof starts from a rewritten size-1
	// tree is refused as inconsistent.
	wn.stop()
	wn = startWitness(t, wdir, wn.addr, office.signer.PublicKey())
	forged2 := office.captureNow(t)
	wantNotWitnessed(t, forged2, tf, "carries no co-signature")
	err = wnode.Submit(context.Background())
	if !errors.As(err, &se) || se.Status != http.StatusConflict || !strings.Contains(se.Message, "from the witnessed size 1") {
		t.Fatalf("after restart, rewritten log of size 2: want 409 naming the witnessed size, got %v", err)
	}
	if seen, _ := wn.w.Latest(office.notary.Ledger.LogID(), office.notary.Ledger.KeyID()); seen.Checkpoint.Size != 1 {
		t.Fatalf("the witness moved on to size %d", seen.Checkpoint.Size)
	}
	// Starting the ledger afresh, under a new log id and the same key,
	// is refused too.
	if err := office.notary.Ledger.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(office.dir, "ledger", ledger.HeaderFile)); err != nil {
		t.Fatal(err)
	}
	office.rewriteLedger(t)
	wnode = office.withWitness(t, wn.url(), wid)
	fresh := office.captureNow(t)
	wantNotWitnessed(t, fresh, tf, "carries no co-signature")
	err = wnode.Submit(context.Background())
	if !errors.As(err, &se) || se.Status != http.StatusConflict || !strings.Contains(se.Message, "cannot start log "+office.notary.Ledger.LogID()) {
		t.Fatalf("a new log under the same key: want 409, got %v", err)
	}

	// The honest bundle still verifies.
	if rep, text := verifyWith(t, honest, evidence.WithTrust(tf)); rep.Verdict() != evidence.VerdictTrusted {
		t.Fatalf("honest bundle after the rewrite: %s\n%s", rep.Verdict(), text)
	}
}

// A witness that is down stops no capture: the bundle made meanwhile has
// no co-signature (and fails under a trust file listing the witness), and
// once the witness is back the next export carries its co-signature; the
// witness has kept its state over the restart.
func TestWitnessDownDuringCapture(t *testing.T) {
	office := builtinNode(t)
	wdir := t.TempDir()
	wn := startWitness(t, wdir, "127.0.0.1:0", office.signer.PublicKey())
	wid := wn.w.KeyID()
	node := office.withWitness(t, wn.url(), wid)
	tf := office.witnessTrust(t, wid, "witness-east")
	first := office.captureNow(t)
	if rep, text := verifyWith(t, first, evidence.WithTrust(tf)); rep.Verdict() != evidence.VerdictTrusted {
		t.Fatalf("first bundle: %s\n%s", rep.Verdict(), text)
	}

	wn.stop()
	down := office.captureNow(t)
	wantNotWitnessed(t, down, tf, "carries no co-signature")
	if err := node.Submit(context.Background()); err == nil {
		t.Fatal("Submit to a stopped witness succeeded")
	}

	wn = startWitness(t, wdir, wn.addr, office.signer.PublicKey())
	back := office.captureNow(t)
	rep, text := verifyWith(t, back, evidence.WithTrust(tf))
	if rep.Verdict() != evidence.VerdictTrusted || !strings.Contains(text, "witness-east") {
		t.Fatalf("after the witness came back: %s\n%s", rep.Verdict(), text)
	}
	seen, ok := wn.w.Latest(office.notary.Ledger.LogID(), office.notary.Ledger.KeyID())
	if !ok || seen.Checkpoint.Size != 3 {
		t.Fatalf("the witness holds %+v, want size 3", seen)
	}
	// Nothing was lost: the co-signatures are kept beside the ledger.
	b, err := os.ReadFile(filepath.Join(office.dir, "ledger", witness.CosignaturesFile))
	if err != nil || strings.Count(string(b), "\n") != 2 {
		t.Fatalf("%s holds %d lines (%v), want the 2 co-signatures", witness.CosignaturesFile, strings.Count(string(b), "\n"), err)
	}
}
