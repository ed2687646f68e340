package testparts

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// OpenSSLTSA is an RFC 3161 time-stamping authority that shopwatch did not
// write: `openssl ts -reply` behind a small HTTP wrapper on loopback, with
// a CA of its own made by openssl (a root, and a TSA certificate with the
// critical extended key usage timeStamping the root issued).
type OpenSSLTSA struct {
	URL      string // the endpoint to POST DER TimeStampReqs to
	RootFile string // PEM of the root certificate
	RootPEM  []byte
	dir      string
	openssl  string
	mu       sync.Mutex // openssl ts -reply keeps its serial in a file
}

// tsaConfig is the OpenSSL configuration of the authority (the tsa section
// of openssl.cnf), with DIR replaced by its folder.
const tsaConfig = `[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = DIR
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.3161.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
[ tsa_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`

// StartOpenSSLTSA makes the authority's CA with openssl and serves it on a
// loopback port until the test ends, or ends the test when openssl is not
// there. The TSA certificate is valid from now for a day.
func StartOpenSSLTSA(tb testing.TB) *OpenSSLTSA {
	tb.Helper()
	openssl := Tool(tb, "openssl")
	dir := tb.TempDir()
	t := &OpenSSLTSA{dir: dir, openssl: openssl, RootFile: filepath.Join(dir, "root.pem")}
	cnf := filepath.Join(dir, "tsa.cnf")
	if err := os.WriteFile(cnf, []byte(strings.ReplaceAll(tsaConfig, "DIR", dir)), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "serial"), []byte("01\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	run := func(args ...string) {
		tb.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "root.key", "-out", "root.pem", "-days", "30", "-subj", "/O=External TSA test/CN=External TSA test root",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/O=External TSA test/CN=External TSA test authority")
	run("x509", "-req", "-in", "tsa.csr", "-CA", "root.pem", "-CAkey", "root.key", "-set_serial", "2",
		"-days", "1",
		"-extfile", cnf, "-extensions", "tsa_ext", "-out", "tsa.pem")
	var err error
	if t.RootPEM, err = os.ReadFile(t.RootFile); err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(t.serve), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	t.URL = "http://" + ln.Addr().String() + "/tsa"
	return t
}

// serve answers one RFC 3161 query over HTTP with `openssl ts -reply`.
func (t *OpenSSLTSA) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/timestamp-query" {
		http.Error(w, "POST an application/timestamp-query", http.StatusBadRequest)
		return
	}
	q, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	in, out := filepath.Join(t.dir, "query.tsq"), filepath.Join(t.dir, "reply.tsr")
	if err := os.WriteFile(in, q, 0o600); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	cmd := exec.CommandContext(r.Context(), t.openssl, "ts", "-reply", "-config", filepath.Join(t.dir, "tsa.cnf"),
		"-queryfile", in, "-out", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		http.Error(w, "openssl ts -reply: "+err.Error()+": "+string(msg), http.StatusInternalServerError)
		return
	}
	resp, err := os.ReadFile(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Write(resp)
}
