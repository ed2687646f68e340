package evidence_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"shopwatch/evidence"
	"shopwatch/evidence/warc"
	"shopwatch/evidence/warc/warctest"
)

// The bundle is a WACZ 1.1.1 package: WARCs stored uncompressed in the zip
// under archive/, a datapackage.json (profile "data-package", wacz_version
// "1.1.1") listing every other file with its sha256 and size, a
// datapackage-digest.json over it, pages.jsonl and a CDXJ index whose
// offsets point at the WARC records. It checks, among the rest, what
// py-wacz's validator (wacz validate) checks: wacz_version, the Frictionless
// resource name and path rules, every file listed with its hash, the
// digest file in the resources' hash type, pages.jsonl's header with
// format and id and each page with url and ts.
func TestBundleIsWACZ(t *testing.T) {
	f := newFixture(t)
	zr, err := zip.OpenReader(f.bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	files := map[string][]byte{}
	var order []string
	for _, zf := range zr.File {
		b := readZipEntry(t, zf)
		files[zf.Name] = b
		order = append(order, zf.Name)
		compressedAlready := strings.HasPrefix(zf.Name, "archive/") || strings.HasSuffix(zf.Name, ".png") || zf.Name == "report.pdf"
		switch {
		case compressedAlready && zf.Method != zip.Store:
			t.Errorf("%s is stored with method %d, want Store (0)", zf.Name, zf.Method)
		case !compressedAlready && zf.Method != zip.Deflate:
			t.Errorf("%s is stored with method %d, want Deflate (8)", zf.Name, zf.Method)
		}
	}
	for _, name := range []string{"manifest.json", "manifest.sig", "signer.pub", "timestamp.tsr", "tsa-root.pem", "ledger-proof.json",
		"report.html", "datapackage.json", "datapackage-digest.json", "pages/pages.jsonl", "indexes/index.cdxj", "archive/capture.warc.gz"} {
		if _, ok := files[name]; !ok {
			t.Errorf("bundle has no %s", name)
		}
	}
	if _, ok := files["report.pdf"]; ok {
		t.Error("bundle exported without a PDF printer has report.pdf")
	}
	// Round trip: every artifact as stored, and the bundle verifies.
	for _, a := range f.rec.Artifacts {
		if !bytes.Equal(files[a.Name], readStored(t, f.store, a.Key)) {
			t.Errorf("bundle %s differs from the stored object", a.Name)
		}
	}
	rep, err := evidence.VerifyBundle(f.bundle)
	if err != nil || !rep.OK() {
		t.Fatalf("fresh bundle does not verify: %v %v", err, rep.Err())
	}
	for _, want := range []string{"datapackage.json", "datapackage-digest.json", "pages/pages.jsonl", "indexes/index.cdxj", "report.html", "README.txt"} {
		if !slices.ContainsFunc(rep.Checks, func(c evidence.Check) bool { return c.Item == want && c.OK }) {
			t.Errorf("verify ran no check on %s", want)
		}
	}

	// datapackage.json
	var dp struct {
		Profile      string `json:"profile"`
		WACZVersion  string `json:"wacz_version"`
		Title        string `json:"title"`
		Description  string `json:"description"`
		Created      string `json:"created"`
		Software     string `json:"software"`
		MainPageURL  string `json:"mainPageUrl"`
		MainPageDate string `json:"mainPageDate"`
		Home         struct {
			URL string `json:"url"`
			TS  string `json:"ts"`
		} `json:"home"`
		Resources []struct {
			Name  string `json:"name"`
			Path  string `json:"path"`
			Hash  string `json:"hash"`
			Bytes int64  `json:"bytes"`
		} `json:"resources"`
	}
	mustJSON(t, files["datapackage.json"], &dp)
	if dp.Profile != "data-package" || dp.WACZVersion != "1.1.1" || !strings.Contains(dp.Title, f.rec.ID) || !strings.Contains(dp.Description, f.page.FinalURL) || !strings.HasPrefix(dp.Software, "shopwatch ") {
		t.Errorf("datapackage.json fields: profile %q wacz_version %q title %q software %q description %q", dp.Profile, dp.WACZVersion, dp.Title, dp.Software, dp.Description)
	}
	if ts, err := time.Parse(time.RFC3339Nano, dp.MainPageDate); err != nil || !ts.Equal(captureTime) || dp.MainPageURL != f.page.FinalURL {
		t.Errorf("mainPageUrl %q mainPageDate %q, want %s at %s", dp.MainPageURL, dp.MainPageDate, f.page.FinalURL, captureTime)
	}
	if created, err := time.Parse(time.RFC3339, dp.Created); err != nil || created.Sub(captureTime) > time.Hour || created.Before(captureTime.Truncate(time.Second)) || created.Location() != time.UTC {
		t.Errorf("created %q: %v", dp.Created, err)
	}
	if ts, err := time.Parse(time.RFC3339Nano, dp.Home.TS); err != nil || !ts.Equal(captureTime) || dp.Home.URL != f.page.FinalURL {
		t.Errorf("home = %+v, want %s at %s", dp.Home, f.page.FinalURL, captureTime)
	}
	var listed []string
	names := map[string]bool{}
	nameRE := regexp.MustCompile(`^[a-z0-9._/-]+$`)
	// Frictionless: a relative POSIX path, not starting with ".", "/" or
	// "~", without "..".
	pathRE := regexp.MustCompile(`^[^./~\\]`)
	for _, r := range dp.Resources {
		listed = append(listed, r.Path)
		b, ok := files[r.Path]
		if !ok {
			t.Errorf("datapackage.json lists %s, which is not in the zip", r.Path)
			continue
		}
		sum := sha256.Sum256(b)
		if r.Hash != "sha256:"+hex.EncodeToString(sum[:]) || r.Bytes != int64(len(b)) {
			t.Errorf("resource %s: hash %s bytes %d, file has sha256:%x and %d bytes", r.Path, r.Hash, r.Bytes, sum, len(b))
		}
		if names[r.Name] || !nameRE.MatchString(r.Name) {
			t.Errorf("resource name %q repeated or not a valid data package name", r.Name)
		}
		names[r.Name] = true
		if !pathRE.MatchString(r.Path) || strings.Contains(r.Path, "..") || strings.Contains(r.Path, "\\") {
			t.Errorf("resource path %q is not a Frictionless relative path", r.Path)
		}
	}
	wantListed := slices.DeleteFunc(slices.Clone(order), func(n string) bool { return n == "datapackage.json" || n == "datapackage-digest.json" })
	if !slices.Equal(listed, wantListed) {
		t.Errorf("datapackage.json lists\n%q\nwant every file but the datapackage files, in zip order\n%q", listed, wantListed)
	}

	// datapackage-digest.json
	var dd struct{ Path, Hash string }
	mustJSON(t, files["datapackage-digest.json"], &dd)
	if typ, _, _ := strings.Cut(dd.Hash, ":"); len(dp.Resources) == 0 || !strings.HasPrefix(dp.Resources[0].Hash, typ+":") {
		t.Errorf("datapackage-digest.json hash %s is not in the hash type of the resources", dd.Hash)
	}
	if sum := sha256.Sum256(files["datapackage.json"]); dd.Path != "datapackage.json" || dd.Hash != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("datapackage-digest.json = %+v", dd)
	}

	// SHA256SUMS covers every file but itself and the datapackage files.
	var summed []string
	for _, l := range strings.Split(strings.TrimSuffix(string(files["SHA256SUMS"]), "\n"), "\n") {
		hexSum, name, _ := strings.Cut(l, "  ")
		summed = append(summed, name)
		if sum := sha256.Sum256(files[name]); hexSum != hex.EncodeToString(sum[:]) {
			t.Errorf("SHA256SUMS line for %s is wrong", name)
		}
	}
	wantSummed := slices.DeleteFunc(slices.Clone(wantListed), func(n string) bool { return n == "SHA256SUMS" })
	if !slices.Equal(summed, wantSummed) {
		t.Errorf("SHA256SUMS covers %q, want %q", summed, wantSummed)
	}

	// pages/pages.jsonl
	lines := strings.Split(strings.TrimSuffix(string(files["pages/pages.jsonl"]), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("pages.jsonl has %d lines, want header and one page:\n%s", len(lines), files["pages/pages.jsonl"])
	}
	var hdr struct{ Format, ID string }
	mustJSON(t, []byte(lines[0]), &hdr)
	var pg struct{ ID, URL, TS, Title string }
	mustJSON(t, []byte(lines[1]), &pg)
	if ts, err := time.Parse(time.RFC3339Nano, pg.TS); hdr.Format != "json-pages-1.0" || hdr.ID == "" || pg.ID != f.rec.ID || pg.URL != f.page.FinalURL || err != nil || !ts.Equal(captureTime) || pg.Title != "旗舰店" {
		t.Errorf("pages.jsonl = %q", lines)
	}

	// indexes/index.cdxj: sorted, and every line points at its record.
	warcFile := files["archive/capture.warc.gz"]
	// gowarc's own offsets, from a strict read of the whole file, are the
	// ones the index gives.
	atOffset := map[int64]warctest.Record{}
	for _, r := range warctest.Check(t, warcFile) {
		atOffset[r.Offset] = r
	}
	idx := strings.Split(strings.TrimSuffix(string(files["indexes/index.cdxj"]), "\n"), "\n")
	if !slices.IsSorted(idx) {
		t.Errorf("index is not sorted:\n%s", strings.Join(idx, "\n"))
	}
	statuses := map[string]int{}
	for _, l := range idx {
		parts := strings.SplitN(l, " ", 3)
		if len(parts) != 3 || len(parts[1]) != 14 {
			t.Fatalf("index line %q is not <key> <14-digit timestamp> <json>", l)
		}
		var c struct {
			URL, Digest, Mime, Filename string
			Offset, Length              int64
			Status                      int
		}
		mustJSON(t, []byte(parts[2]), &c)
		if c.Filename != "capture.warc.gz" || c.Offset+c.Length > int64(len(warcFile)) {
			t.Fatalf("index line %q points outside the WARC", l)
		}
		if r, ok := atOffset[c.Offset]; !ok || r.Size != c.Length || r.Get("WARC-Target-URI") != c.URL {
			t.Errorf("index line %q: gowarc finds no record of %s at %d+%d", l, c.URL, c.Offset, c.Length)
		}
		zr, err := gzip.NewReader(bytes.NewReader(warcFile[c.Offset : c.Offset+c.Length]))
		if err != nil {
			t.Fatalf("record at %d: %v", c.Offset, err)
		}
		zr.Multistream(false)
		recs, err := warc.Read(zr)
		if err != nil || len(recs) != 1 {
			t.Fatalf("record at %d+%d: %d records, %v", c.Offset, c.Length, len(recs), err)
		}
		if got := recs[0].Headers.Get("WARC-Target-URI"); got != c.URL {
			t.Errorf("index line for %s points at the record of %s", c.URL, got)
		}
		if got := recs[0].Headers.Get("WARC-Payload-Digest"); got != c.Digest {
			t.Errorf("index digest %s, record has %s", c.Digest, got)
		}
		if recs[0].Type == "response" {
			statuses[c.URL] = c.Status
			if !strings.HasPrefix(parts[0], "127.0.0.1:8080)/shop/7") {
				t.Errorf("searchable URL %q", parts[0])
			}
		}
	}
	if statuses["http://127.0.0.1:8080/shop/7"] != 301 || statuses["http://127.0.0.1:8080/shop/7/"] != 200 {
		t.Errorf("response statuses in the index: %v", statuses)
	}
}

// Export is deterministic but for its time: two exports at the same time
// are byte for byte the same.
func TestExportIsDeterministic(t *testing.T) {
	f := newFixture(t)
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	export := func() []byte {
		var buf bytes.Buffer
		x := &evidence.Exporter{Notary: f.notary, Now: func() time.Time { return at }, Software: "shopwatch test"}
		if err := x.Export(t.Context(), f.store, f.rec, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b := export(), export()
	if !bytes.Equal(a, b) {
		t.Error("two exports of one capture at one time differ")
	}
	zr, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := zr.Open("datapackage.json")
	dp, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Contains(dp, []byte(`"created": "2026-03-02T08:00:00Z"`)) || !bytes.Contains(dp, []byte(`"software": "shopwatch test"`)) {
		t.Errorf("datapackage.json does not record the export time and software:\n%s", dp)
	}
	rc, _ = zr.Open("README.txt")
	readme, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Contains(readme, []byte("Exported at:   2026-03-02T08:00:00Z")) || !bytes.Contains(readme, []byte("no report.pdf")) {
		t.Errorf("README.txt does not record the export:\n%s", readme)
	}
}

// legacyDatapackage is datapackage.json as shopwatch wrote it before WACZ
// 1.1.1: the WACZ 1.2 draft's profile "wacz", no wacz_version and no
// mainPage fields, these fields in this order.
type legacyDatapackage struct {
	Profile     string `json:"profile"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Created     string `json:"created"`
	Software    string `json:"software"`
	Home        *struct {
		URL string `json:"url"`
		TS  string `json:"ts"`
	} `json:"home,omitempty"`
	Resources []struct {
		Name  string `json:"name"`
		Path  string `json:"path"`
		Hash  string `json:"hash"`
		Bytes int64  `json:"bytes"`
	} `json:"resources"`
}

// setDatapackage replaces datapackage.json with v in the form shopwatch
// writes and datapackage-digest.json with its digest.
func setDatapackage(t *testing.T, es []zipEntry, v any) []zipEntry {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	*entryRef(t, es, "datapackage.json") = buf.Bytes()
	*entryRef(t, es, "datapackage-digest.json") = []byte("{\n  \"path\": \"datapackage.json\",\n  \"hash\": \"" + evidence.SumBytes(evidence.SHA256, buf.Bytes()).String() + "\"\n}\n")
	return es
}

// legacyBundle returns the entries of f's bundle as an export before WACZ
// 1.1.1 wrote them: datapackage.json in the earlier form, its digest to
// match, every other file the same.
func legacyBundle(t *testing.T, f *fixture) []zipEntry {
	t.Helper()
	es := readZip(t, f.bundle)
	var old legacyDatapackage
	mustJSON(t, entry(t, es, "datapackage.json"), &old)
	old.Profile = "wacz"
	return setDatapackage(t, es, old)
}

// Bundles exported before WACZ 1.1.1 (profile "wacz", no wacz_version)
// keep verifying, with a note that players refuse them; a bundle that
// mixes the two forms or names another profile or version does not.
func TestVerifyLegacyWACZProfile(t *testing.T) {
	f := newFixture(t)
	es := legacyBundle(t, f)
	if dp := string(entry(t, es, "datapackage.json")); !strings.HasPrefix(dp, "{\n  \"profile\": \"wacz\",\n  \"title\": ") || strings.Contains(dp, "wacz_version") || strings.Contains(dp, "mainPage") {
		t.Fatalf("legacy datapackage.json is not in the earlier form:\n%s", dp)
	}
	rep := verifyEntries(t, es)
	if !rep.OK() {
		t.Fatalf("bundle with the earlier profile \"wacz\" does not verify:\n%v", rep.Err())
	}
	if !slices.ContainsFunc(rep.Checks, func(c evidence.Check) bool {
		return c.Item == "datapackage.json" && c.OK && strings.Contains(c.Detail, `profile "wacz" of an earlier export`)
	}) {
		t.Errorf("verify does not say the bundle has the earlier profile: %+v", rep.Checks)
	}

	current := func(t *testing.T) *evidence.Datapackage {
		var dp evidence.Datapackage
		mustJSON(t, entry(t, readZip(t, f.bundle), "datapackage.json"), &dp)
		return &dp
	}
	for _, c := range []struct {
		name, want string
		edit       func(dp *evidence.Datapackage)
	}{
		{"data-package without wacz_version", `wacz_version ""`, func(dp *evidence.Datapackage) { dp.WACZVersion = "" }},
		{"another wacz_version", `wacz_version "1.2.0"`, func(dp *evidence.Datapackage) { dp.WACZVersion = "1.2.0" }},
		{"unknown profile", `profile "wacz-package"`, func(dp *evidence.Datapackage) { dp.Profile = "wacz-package" }},
		{"wacz profile with wacz_version", `profile "wacz" with wacz_version`, func(dp *evidence.Datapackage) { dp.Profile = "wacz" }},
		{"mainPageUrl not the page", "mainPageUrl", func(dp *evidence.Datapackage) { dp.MainPageURL = "http://127.0.0.1:8080/other" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dp := current(t)
			c.edit(dp)
			rep := verifyEntries(t, setDatapackage(t, readZip(t, f.bundle), dp))
			checkNamed(t, rep, "datapackage.json")
			if err := rep.Err(); !errors.Is(err, evidence.ErrBadWACZ) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("problems %v, want ErrBadWACZ saying %s", err, c.want)
			}
		})
	}
}

func readZipEntry(t *testing.T, zf *zip.File) []byte {
	t.Helper()
	rc, err := zf.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", zf.Name, err)
	}
	return b
}
