package evidence_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"shopwatch/evidence"
)

// FuzzParseManifest feeds arbitrary manifest.json bytes to ParseManifest:
// it never panics, its errors wrap ErrBadManifest, and a manifest it
// accepts marshals to bytes it accepts again, unchanged. The committed
// corpus (testdata/fuzz/FuzzParseManifest) holds manifests of real
// captures and damaged ones; make fuzz runs it longer.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"format":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := evidence.ParseManifest(b)
		if err != nil {
			if !errors.Is(err, evidence.ErrBadManifest) || !strings.HasPrefix(err.Error(), "parse manifest") {
				t.Fatalf("error %q does not wrap ErrBadManifest", err)
			}
			return
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed manifest: %v", err)
		}
		m2, err := evidence.ParseManifest(out)
		if err != nil {
			t.Fatalf("a parsed manifest, marshalled, no longer parses: %v\n%s", err, out)
		}
		if out2, _ := m2.Marshal(); !bytes.Equal(out, out2) {
			t.Fatalf("marshal, parse, marshal changed the manifest:\n%s\n%s", out, out2)
		}
	})
}

// verifiedOK caches whether a bundle (by SHA-256) verifies, so that the
// tamper property below verifies the unchanged bundle once per process.
var verifiedOK sync.Map

// fuzzBundle is a bundle as exported, the base the bundle fuzz edits.
const fuzzBundle = "testdata/fuzz-bundle.zip"

var loadFuzzBundle = sync.OnceValues(func() ([]byte, error) { return os.ReadFile(fuzzBundle) })

// FuzzVerifyBundle feeds bundles to VerifyBundleReader: arbitrary bytes,
// and (so that mutations reach the parsers behind the zip's checksums) a
// bundle with one entry replaced by, or added with, arbitrary content; an
// empty bundle argument stands for testdata/fuzz-bundle.zip, an exported
// bundle. It never panics; it fails only on what is not a zip; every
// problem names an item, a check and an error; and an entry changed in a
// bundle that verified is always caught. The committed corpus
// (testdata/fuzz/FuzzVerifyBundle) holds the exported bundle and edits of
// its entries; make fuzz runs it longer.
func FuzzVerifyBundle(f *testing.F) {
	f.Add([]byte("PK\x05\x06"+strings.Repeat("\x00", 18)), "", []byte(nil))
	f.Fuzz(func(t *testing.T, bundle []byte, entry string, content []byte) {
		if len(bundle) == 0 {
			base, err := loadFuzzBundle()
			if err != nil {
				t.Fatal(err)
			}
			bundle = base
		}
		changed := false
		if entry != "" {
			var err error
			if bundle, changed, err = replaceEntry(bundle, entry, content); err != nil {
				return // not a zip to edit; the bytes as given are fuzzed too
			}
		}
		rep, err := evidence.VerifyBundleReader(bytes.NewReader(bundle), int64(len(bundle)))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "open zip: ") {
				t.Fatalf("error %q: VerifyBundleReader fails only on what is not a zip", err)
			}
			return
		}
		for _, p := range rep.Problems {
			if p.Item == "" || p.Check == "" || p.Err == nil {
				t.Fatalf("problem %+v does not say what is wrong", p)
			}
		}
		if err := rep.WriteText(io.Discard); err != nil {
			t.Fatal(err)
		}
		if changed && rep.OK() && bundleVerifies(t, entry, bundle) {
			t.Fatalf("%s changed to %d bytes %q, and the bundle still verifies", entry, len(content), trim(content))
		}
	})
}

// TestFuzzBundleVerifies: the base of the bundle fuzz verifies, so that
// the fuzz's tamper property is not silently idle. A bundle exported by an
// earlier version must keep verifying; if a deliberate format change
// breaks it, regenerate the corpora (see TestWriteFuzzSeeds).
func TestFuzzBundleVerifies(t *testing.T) {
	b, err := loadFuzzBundle()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := evidence.VerifyBundleReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("%s does not verify: %v", fuzzBundle, rep.Err())
	}
}

// bundleVerifies reports whether the bundle before the edit of entry
// verified (it is looked up by the digest of the bundle with entry
// removed, recorded by replaceEntry).
func bundleVerifies(t *testing.T, entry string, edited []byte) bool {
	t.Helper()
	orig, ok := originals.Load(sha256.Sum256(edited))
	if !ok {
		return false
	}
	b := orig.([]byte)
	sum := sha256.Sum256(b)
	if v, ok := verifiedOK.Load(sum); ok {
		return v.(bool)
	}
	rep, err := evidence.VerifyBundleReader(bytes.NewReader(b), int64(len(b)))
	good := err == nil && rep.OK()
	verifiedOK.Store(sum, good)
	return good
}

// originals maps the digest of an edited bundle to the bundle it was made
// from.
var originals sync.Map

// replaceEntry returns bundle with the entry named name holding content
// (added when there is none); changed is false when it held content
// already.
func replaceEntry(bundle []byte, name string, content []byte) (out []byte, changed bool, err error) {
	zr, err := zip.NewReader(bytes.NewReader(bundle), int64(len(bundle)))
	if err != nil {
		return nil, false, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	found := false
	for _, zf := range zr.File {
		if zf.Name != name {
			if err := zw.Copy(zf); err != nil {
				return nil, false, err
			}
			continue
		}
		if found {
			continue // a second entry of that name is left out
		}
		found = true
		old, err := readAll(zf)
		if err != nil {
			return nil, false, err
		}
		changed = !bytes.Equal(old, content)
		if err := writeEntry(zw, zf.FileHeader, content); err != nil {
			return nil, false, err
		}
	}
	if !found {
		changed = true
		if err := writeEntry(zw, zip.FileHeader{Name: name, Method: zip.Deflate}, content); err != nil {
			return nil, false, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, false, err
	}
	originals.Store(sha256.Sum256(buf.Bytes()), bundle)
	return buf.Bytes(), changed, nil
}

func readAll(zf *zip.File) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 64<<20))
}

func writeEntry(zw *zip.Writer, h zip.FileHeader, content []byte) error {
	h.CompressedSize64, h.UncompressedSize64, h.CRC32 = 0, 0, 0
	if h.Method != zip.Store {
		h.Method = zip.Deflate
	}
	w, err := zw.CreateHeader(&h)
	if err != nil {
		return err
	}
	_, err = w.Write(content)
	return err
}

func trim(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// TestWriteFuzzSeeds writes the committed fuzz corpora from a real capture
// and export: manifest.json (FuzzParseManifest), the bundle with entries
// replaced (FuzzVerifyBundle), ledger-proof.json with the bundle's key and
// TSA root (ledger FuzzParseProof) and the WARC file (warc FuzzRead), each
// with damaged variants. Run it when the formats change:
//
//	SHOPWATCH_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds ./evidence
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("SHOPWATCH_FUZZ_SEEDS") == "" {
		t.Skip("writes the fuzz corpora; set SHOPWATCH_FUZZ_SEEDS=1 to regenerate them")
	}
	fx := newFixture(t)
	bundle := readFile(t, fx.bundle)
	zr, err := zip.NewReader(bytes.NewReader(bundle), int64(len(bundle)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, zf := range zr.File {
		files[zf.Name] = readZipEntry(t, zf)
	}
	manifest, proof, pub, root, warcFile := files[evidence.ManifestFile], files[evidence.LedgerProofFile], files[evidence.SignerPubFile], files[evidence.TSARootFile], files[evidence.WARCFile]
	for name, b := range map[string][]byte{"manifest": manifest, "proof": proof, "pub": pub, "root": root, "warc": warcFile} {
		if len(b) == 0 {
			t.Fatalf("the bundle has no %s", name)
		}
	}

	dir := "testdata/fuzz/FuzzParseManifest"
	writeSeed(t, dir, "exported", manifest)
	writeSeed(t, dir, "truncated", manifest[:len(manifest)/2])
	writeSeed(t, dir, "trailing-data", append(bytes.Clone(manifest), "{}"...))
	writeSeed(t, dir, "negative-size", bytes.Replace(manifest, []byte(`"size": `), []byte(`"size": -`), 1))
	writeSeed(t, dir, "unsafe-name", bytes.Replace(manifest, []byte(`"name": "`), []byte(`"name": "../`), 1))

	if err := os.WriteFile(fuzzBundle, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	dir = "testdata/fuzz/FuzzVerifyBundle"
	none := []byte(nil)
	writeSeed(t, dir, "exported", none, "", none)
	writeSeed(t, dir, "exported-raw", bundle, "", none) // the zip layer fuzzed from a valid start
	writeSeed(t, dir, "truncated", bundle[:len(bundle)-200], "", none)
	writeSeed(t, dir, "index-out-of-range", none, evidence.IndexFile,
		[]byte(`a)/ 20260301101500 {"url":"http://a/","offset":1,"length":9223372036854775807,"filename":"capture.warc.gz"}`+"\n"))
	writeSeed(t, dir, "pages-header-only", none, evidence.PagesFile, []byte(`{"format":"json-pages-1.0","id":"pages","title":"x"}`+"\n"))
	writeSeed(t, dir, "datapackage-empty", none, evidence.DatapackageFile, []byte(`{}`))
	writeSeed(t, dir, "sums-garbage", none, evidence.SumsFile, []byte("zz  page.html\n"))
	writeSeed(t, dir, "manifest-truncated", none, evidence.ManifestFile, manifest[:len(manifest)/2])
	writeSeed(t, dir, "proof-garbage", none, evidence.LedgerProofFile, []byte(`{"format":"shopwatch-ledger-proof/1","audit_path":["00"]}`))
	writeSeed(t, dir, "unlisted-entry", none, "extra.txt", []byte("not listed anywhere"))
	writeSeed(t, dir, "warc-truncated", none, evidence.WARCFile, warcFile[:len(warcFile)/2])

	dir = "ledger/testdata/fuzz/FuzzParseProof"
	writeSeed(t, dir, "exported", proof, pub, root)
	writeSeed(t, dir, "other-leaf", bytes.Replace(proof, []byte(`"leaf_index": `), []byte(`"leaf_index": 1`), 1), pub, root)
	writeSeed(t, dir, "truncated", proof[:len(proof)/2], pub, root)
	writeSeed(t, dir, "no-root", proof, pub, []byte(nil))

	zrw, err := gzip.NewReader(bytes.NewReader(warcFile))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zrw)
	if err != nil {
		t.Fatal(err)
	}
	dir = "warc/testdata/fuzz/FuzzRead"
	writeSeed(t, dir, "capture-gzip", warcFile)
	writeSeed(t, dir, "capture-plain", plain)
	writeSeed(t, dir, "gzip-truncated", warcFile[:len(warcFile)*2/3])
	writeSeed(t, dir, "plain-truncated", plain[:len(plain)*2/3])
	writeSeed(t, dir, "huge-length", bytes.Replace(plain, []byte("Content-Length: "), []byte("Content-Length: 9999999999"), 1))
	writeSeed(t, dir, "bare-lf", bytes.ReplaceAll(plain, []byte("\r\n"), []byte("\n")))
}

// writeSeed writes one corpus file in the format go test -fuzz reads.
func writeSeed(t *testing.T, dir, name string, args ...any) {
	t.Helper()
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		default:
			t.Fatalf("seed argument of type %T", a)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
