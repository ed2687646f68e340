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
	"slices"
	"strings"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/evidence"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/witness"
	"shopwatch/internal/testparts"
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

// The standard-tools script recomputes the ledger inclusion proof with
// sha256sum and checks the checkpoint's signature and token with openssl;
// under a trust file that lists witnesses it requires a listed witness's
// co-signature, as VerifyBundle does. The capture exported is the third of
// six, so its audit path has both left and right siblings. Each damage is
// made on a bundle whose export is unsigned and whose hash lists are
// rewritten, so that only the ledger step can catch it; VerifyBundle
// agrees on every one.
func TestStandardToolsScriptLedgerAndWitness(t *testing.T) {
	bash := testparts.Tool(t, "bash")
	openssl := testparts.Tool(t, "openssl")
	script, err := filepath.Abs("testdata/verify-bundle.sh")
	if err != nil {
		t.Fatal(err)
	}
	office := builtinNode(t)
	wn := startWitness(t, t.TempDir(), "127.0.0.1:0", office.signer.PublicKey())
	wid := wn.w.KeyID()
	office.withWitness(t, wn.url(), wid)
	var recs []*shopwatch.EvidenceRecord
	for range 6 {
		recs = append(recs, office.capture(t))
	}
	bundle := office.export(t, recs[2])
	trustPath := func(tf *evidence.TrustFile) string {
		p := filepath.Join(t.TempDir(), evidence.TrustFileName)
		if err := os.WriteFile(p, tf.Marshal(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tf := office.witnessTrust(t, wid, "witness-east")
	withWitness := trustPath(tf)
	otherWitness := trustPath(office.witnessTrust(t, "ed25519:0123456789abcdef", "someone-else"))
	noWitness := trustPath(office.trustFile(t, office.notary.TSARoot, nil))
	run := func(es []zipEntry, trust string) (string, int) {
		t.Helper()
		args := []string{script, unpack(t, es)}
		if trust != "" {
			args = append(args, trust)
		}
		return runBash(t, bash, openssl, args)
	}

	es := readZip(t, bundle)
	var proof ledger.Proof
	mustJSON(t, entry(t, es, evidence.LedgerProofFile), &proof)
	if proof.LeafIndex != 2 || proof.TreeSize != 6 || len(proof.AuditPath) != 3 || len(proof.Cosignatures) != 1 {
		t.Fatalf("proof of leaf %d of %d, path %d, %d co-signatures; want leaf 2 of 6, path 3, 1", proof.LeafIndex, proof.TreeSize, len(proof.AuditPath), len(proof.Cosignatures))
	}
	out, code := run(es, withWitness)
	if code != 0 || !strings.Contains(out, "ok   ledger-proof.json: manifest.json is leaf 2 of 6, checkpoint signed by "+office.signer.KeyID()) ||
		!strings.Contains(out, "ok   ledger-proof.json: the checkpoint is co-signed by witness witness-east ("+wid+")") ||
		!strings.Contains(out, "TRUSTED under "+withWitness) || !strings.Contains(out, "co-signed by witness witness-east ("+wid+")\n") {
		t.Fatalf("script on an honest witnessed bundle: exit %d\n%s", code, out)
	}
	if out, code := run(es, noWitness); code != 0 || !strings.Contains(out, "TRUSTED") || strings.Contains(out, "co-signed") {
		t.Errorf("script under a trust file without witnesses: exit %d\n%s", code, out)
	}
	if out, code := run(es, otherWitness); code != 1 || !strings.Contains(out, "FAIL ledger-proof.json: the checkpoint carries no valid co-signature of a witness") {
		t.Errorf("script under a trust file listing another witness: exit %d\n%s", code, out)
	}

	// Damage to the proof, in a bundle whose export is unsigned.
	unsigned := func() []zipEntry {
		return dropFiles(t, readZip(t, bundle), evidence.ExportManifestFile, evidence.ExportSignatureFile, evidence.ExportSignerPubFile,
			evidence.ExportTimestampFile, evidence.ExportTSARootFile)
	}
	if out, code := run(reseal(t, unsigned()), withWitness); code != 0 || !strings.Contains(out, "TRUSTED") {
		t.Fatalf("script on the unsigned export: exit %d\n%s", code, out)
	}
	edit := func(f func(p *ledger.Proof)) []zipEntry {
		es := unsigned()
		var p ledger.Proof
		mustJSON(t, entry(t, es, evidence.LedgerProofFile), &p)
		f(&p)
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		*entryRef(t, es, evidence.LedgerProofFile) = b
		return reseal(t, es)
	}
	cases := []struct {
		name  string
		es    []zipEntry
		trust string
		fail  string
	}{
		{"audit path hash changed", edit(func(p *ledger.Proof) { p.AuditPath[1][0] ^= 1 }), "", "the audit path does not lead from manifest.json to root"},
		{"audit path shortened", edit(func(p *ledger.Proof) { p.AuditPath = p.AuditPath[:2] }), "", "the audit path does not lead"},
		{"leaf index moved", edit(func(p *ledger.Proof) { p.LeafIndex = 3 }), "", "the audit path does not lead"},
		{"checkpoint signature of another note", edit(func(p *ledger.Proof) { p.Checkpoint.Signature[5] ^= 1 }), "", "the checkpoint's signature does not verify with signer.pub"},
		{"checkpoint token flipped", edit(func(p *ledger.Proof) { p.Checkpoint.Timestamp[len(p.Checkpoint.Timestamp)-9] ^= 1 }), "", "checkpoint"},
		{"co-signature flipped", edit(func(p *ledger.Proof) { p.Cosignatures[0].Signature[3] ^= 1 }), withWitness, "carries no valid co-signature"},
		{"co-signature re-dated", edit(func(p *ledger.Proof) { p.Cosignatures[0].Time = p.Cosignatures[0].Time.Add(time.Second) }), withWitness, "carries no valid co-signature"},
		{"co-signature dropped", edit(func(p *ledger.Proof) { p.Cosignatures = nil }), withWitness, "carries no valid co-signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := run(c.es, c.trust)
			if code != 1 || !strings.Contains(out, "FAIL ledger-proof.json: ") || !strings.Contains(out, c.fail) || strings.Contains(out, "VERIFIED") {
				t.Errorf("script: exit %d, want 1 and FAIL ledger-proof.json: …%s…:\n%s", code, c.fail, out)
			}
			opts := []evidence.VerifyOption{}
			if c.trust != "" {
				opts = append(opts, evidence.WithTrust(tf))
			}
			if rep := verifyEntries(t, c.es, opts...); rep.OK() || !slices.Contains(rep.Items(), evidence.LedgerProofFile) {
				t.Errorf("VerifyBundle disagrees with the script: %v", rep.Err())
			}
		})
	}
}
