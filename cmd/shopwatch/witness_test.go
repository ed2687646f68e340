package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"shopwatch/evidence"
	"shopwatch/evidence/ledger"
	"shopwatch/evidence/tsa"
)

// startWitnessProcess runs `shopwatch witness serve` as a child process
// listening on addr, with extra flags, and returns the URL it says it
// serves.
func startWitnessProcess(t *testing.T, bin, dir, addr, logKey string, extra ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"witness", "serve", "--dir", dir, "--listen", addr, "--log-key", logKey}, extra...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("witness serve did not stop cleanly on SIGINT: %v", err)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Error("witness serve did not stop within 15s of SIGINT")
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case l := <-lines:
		m := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("witness serve said %q", l)
		}
		return m[1]
	case <-time.After(30 * time.Second):
		t.Fatal("witness serve did not say where it listens within 30s")
	}
	return ""
}

// A capture node and a witness running as a separate process
// (`shopwatch witness serve`) on loopback. The node's sweep runs while the
// witness is not up yet: the sweep succeeds and logs the failed
// submission. Once the witness runs, the export submits the checkpoint,
// the bundle carries the co-signature, trust export lists the witness,
// and the bundle verifies as TRUSTED under that trust file, naming the
// witness. Then the audit log is cut behind the head the latest
// checkpoint recorded, directly in bbolt with the sequence set back:
// audit verify and db check report it as truncated.
func TestWitnessServeAndAuditHead(t *testing.T) {
	bin := buildShopwatch(t)
	wdir := t.TempDir()
	wid := strings.TrimSpace(mustSW(t, "witness", "init", "--dir", wdir))
	if !regexp.MustCompile(`^ed25519:[0-9a-f]{16}$`).MatchString(wid) {
		t.Fatalf("witness init printed %q", wid)
	}
	if again := strings.TrimSpace(mustSW(t, "witness", "init", "--dir", wdir)); again != wid {
		t.Fatalf("witness init made a new key %s over %s", again, wid)
	}
	if _, _, code := sw(t, "witness", "serve", "--dir", wdir); code != exitUsage {
		t.Errorf("witness serve without a log key: exit %d, want %d", code, exitUsage)
	}
	// A loopback port nothing listens on until the witness starts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(t.TempDir(), "shopwatch.yaml")
	if err := os.WriteFile(cfg, []byte("witnesses:\n  - {url: \"http://"+addr+"\", key_id: \""+wid+"\", name: witness-east}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, base := market(t, 1)
	data := t.TempDir()
	mustSW(t, "--config", cfg, "--data", data, "target", "add", base+"/shop/1/", "--category", "food", "--platform", "淘宝", "--jurisdiction", "杭州市西湖区")
	_, e, code := sw(t, "--config", cfg, "--data", data, "--allow-private", "sweep")
	if code != exitOK || !strings.Contains(e, "witness did not co-sign") {
		t.Fatalf("sweep with the witness down: exit %d, want 0 and a logged failed submission:\n%s", code, e)
	}
	// The witness checks the checkpoints' tokens against the node's
	// authority.
	url := startWitnessProcess(t, bin, wdir, addr, filepath.Join(data, "keys", evidence.SignerPubFile),
		"--tsa-root", filepath.Join(data, "tsa", tsa.RootCertFile), "--max-skew", "5m")
	if url != "http://"+addr {
		t.Fatalf("witness listens on %s, want %s", url, addr)
	}

	id := evidenceIDs(t, data)[0]
	bundle := filepath.Join(t.TempDir(), id+".zip")
	mustSW(t, "--config", cfg, "--data", data, "evidence", "export", id, "-o", bundle, "--no-pdf")
	var proof ledger.Proof
	if err := json.Unmarshal([]byte(bundleFile(t, bundle, evidence.LedgerProofFile)), &proof); err != nil || len(proof.Cosignatures) != 1 || proof.Cosignatures[0].WitnessKeyID != wid {
		t.Fatalf("ledger-proof.json carries co-signatures %+v (%v), want one by %s", proof.Cosignatures, err, wid)
	}
	trust := filepath.Join(t.TempDir(), "trust.yaml")
	mustSW(t, "--config", cfg, "--data", data, "trust", "export", "--office", "东区分局", "-o", trust)
	if o := mustSW(t, "evidence", "verify", "--trust", trust, bundle); !strings.Contains(o, "TRUSTED under "+trust) || !strings.Contains(o, "co-signed by witness witness-east ("+wid+")") {
		t.Errorf("verify --trust with the witness listed:\n%s", o)
	}

	var v struct {
		Verdict   string
		Witnesses []string
	}
	if err := json.Unmarshal([]byte(mustSW(t, "evidence", "verify", "--json", "--trust", trust, bundle)), &v); err != nil ||
		v.Verdict != evidence.VerdictTrusted || len(v.Witnesses) != 1 || !strings.Contains(v.Witnesses[0], wid) {
		t.Errorf("verify --json --trust: %+v, %v", v, err)
	}

	// The audit log is intact and reaches the checkpoint's head.
	// The export's own custody entry came after the checkpoint: verify
	// says it is not sealed yet; audit seal seals it, co-signed.
	if o := mustSW(t, "--data", data, "audit", "verify"); !strings.Contains(o, "not yet sealed: ") {
		t.Errorf("audit verify after the export does not name the entries not yet sealed:\n%s", o)
	}
	o := mustSW(t, "--config", cfg, "--data", data, "audit", "seal")
	m := regexp.MustCompile(`^audit log sealed: entries 1 to (\d+) by ledger checkpoint \d+ of .*, co-signed by 1 witness\(es\)\n$`).FindStringSubmatch(o)
	if m == nil {
		t.Fatalf("audit seal said %q", o)
	}
	if o := mustSW(t, "--data", data, "audit", "verify"); !strings.Contains(o, "sealed: entries 1 to "+m[1]+" by ledger checkpoint") || strings.Contains(o, "not yet sealed") {
		t.Errorf("audit verify after audit seal:\n%s", o)
	}
	if o, e, code := sw(t, "--data", t.TempDir(), "audit", "seal"); code == exitOK {
		t.Errorf("audit seal of a node without records: exit 0\n%s%s", o, e)
	}
	var head *ledger.AuditHead
	b, err := os.ReadFile(filepath.Join(data, "ledger", ledger.CheckpointsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var cp ledger.Checkpoint
		if err := json.Unmarshal([]byte(l), &cp); err != nil {
			t.Fatal(err)
		}
		if cp.Audit != nil {
			head = cp.Audit
		}
	}
	if head == nil || head.Size < 2 {
		t.Fatalf("no checkpoint records an audit head of 2 entries or more: %+v", head)
	}
	if strconv.FormatUint(head.Size, 10) != m[1] {
		t.Fatalf("the latest checkpoint records audit head %d, audit seal said %s", head.Size, m[1])
	}
	// Cut the log back to head.Size-2 entries, as an intruder with the
	// file would, keeping the chain itself whole: the last of them was
	// sealed only by audit seal.
	bdb, err := bolt.Open(filepath.Join(data, "shopwatch.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("audit"))
		var cut [][]byte
		c := bk.Cursor()
		for k, _ := c.Last(); k != nil && binary.BigEndian.Uint64(k) > head.Size-2; k, _ = c.Prev() {
			cut = append(cut, append([]byte(nil), k...))
		}
		for _, k := range cut {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		return bk.SetSequence(head.Size - 2)
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	o, e, code = sw(t, "--data", data, "audit", "verify")
	if code != exitFailed || !strings.Contains(o+e, "audit log truncated") || !strings.Contains(o+e, "gone") {
		t.Errorf("audit verify of a cut log: exit %d\n%s%s", code, o, e)
	}
	o, e, code = sw(t, "--data", data, "db", "check")
	if code != exitFailed || !strings.Contains(o+e, "audit log truncated") {
		t.Errorf("db check of a cut log: exit %d\n%s%s", code, o, e)
	}
}
