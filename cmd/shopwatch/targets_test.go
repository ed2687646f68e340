package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shopwatch"
)

func TestMobileTargets(t *testing.T) {
	data := t.TempDir()
	mustSW(t, "--data", data, "target", "add", "http://127.0.0.1:9/h5/shop/1", "--mobile")
	csv := filepath.Join(t.TempDir(), "t.csv")
	os.WriteFile(csv, []byte("url,kind,mobile\nhttp://127.0.0.1:9/h5/a,product,true\nhttp://127.0.0.1:9/b,product,false\n"), 0o644)
	mustSW(t, "--data", data, "target", "import", csv)
	var ts []shopwatch.Target
	if err := json.Unmarshal([]byte(mustSW(t, "--data", data, "target", "list", "--json")), &ts); err != nil {
		t.Fatal(err)
	}
	got := map[string][2]bool{}
	for _, tg := range ts {
		got[tg.URL] = [2]bool{tg.Mobile, tg.Browser}
	}
	for url, want := range map[string][2]bool{
		"http://127.0.0.1:9/h5/shop/1": {true, true}, // mobile implies the browser path
		"http://127.0.0.1:9/h5/a":      {true, true},
		"http://127.0.0.1:9/b":         {false, false},
	} {
		if got[url] != want {
			t.Errorf("%s: mobile, browser = %v, want %v", url, got[url], want)
		}
	}
	os.WriteFile(csv, []byte("url,mobile\nhttp://127.0.0.1:9/c,sometimes\n"), 0o644)
	if _, e, code := sw(t, "--data", data, "target", "import", csv); code == 0 || !strings.Contains(e, "t.csv:2") {
		t.Errorf("bad mobile column: exit %d, %s", code, e)
	}
}

func TestCAFileIsChecked(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "shopwatch.yaml")
	notPEM := filepath.Join(dir, "roots.pem")
	os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644)
	os.WriteFile(cfg, []byte("crawler:\n  ca_file: "+notPEM+"\n"), 0o644)
	_, e, code := sw(t, "--data", dir, "--config", cfg, "scan", "http://127.0.0.1:9/")
	if code == 0 || !strings.Contains(e, "ca_file") || !strings.Contains(e, "roots.pem") {
		t.Errorf("scan with a ca_file holding no certificate: exit %d, %s", code, e)
	}
}
