package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"

	"shopwatch"
	"shopwatch/db"
)

// importHeader is the header of a test file with every column.
const importHeader = "url,platform,kind,category,tags,jurisdiction,priority,depth,schedule,browser,mobile\n"

// importBody is three rows in Chinese; 𠮷 (U+20BB7, in 𠮷野家) is beyond
// GBK and takes four bytes in GB18030.
const importBody = "https://shop.example.com/,淘宝,storefront,食品,\"618,双十一\",上海市徐汇区,5,2,0 */6 * * *,false,false\n" +
	"https://item.example.com/1,京东,product,化妆品,美白,北京市朝阳区,3,,,true,\n" +
	"https://h5.example.com/p/9,拼多多,product,保健食品,𠮷野家,广东省深圳市,,,,,true\n"

// writeImport writes content to a file named name in a new folder.
func writeImport(t *testing.T, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func encode(t *testing.T, e encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode test file: %v", err)
	}
	return b
}

// storedTargets opens the data folder's database and returns its targets
// by URL and the number of target.added audit entries.
func storedTargets(t *testing.T, data string) (map[string]shopwatch.Target, int) {
	t.Helper()
	d, err := db.Open(filepath.Join(data, "shopwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	ts, err := d.ListTargets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]shopwatch.Target{}
	for _, x := range ts {
		out[x.URL] = x
	}
	es, err := d.ListAudit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	added := 0
	for _, e := range es {
		if e.Action == "target.added" {
			added++
		}
	}
	return out, added
}

// wantImported checks that the three targets of importBody are stored as
// written, the third with tag, their categories named in Chinese stored
// as the category ids (食品 is food).
func wantImported(t *testing.T, data, tag string) {
	t.Helper()
	got, added := storedTargets(t, data)
	if len(got) != 3 || added != 3 {
		t.Fatalf("%d targets stored, %d audit entries; want 3 and 3: %v", len(got), added, got)
	}
	shop, item, h5 := got["https://shop.example.com/"], got["https://item.example.com/1"], got["https://h5.example.com/p/9"]
	if shop.Platform != "淘宝" || shop.Kind != shopwatch.KindStorefront || shop.Category != "food" ||
		strings.Join(shop.Tags, "|") != "618|双十一" || shop.Jurisdiction != "上海市徐汇区" || shop.Priority != 5 ||
		shop.Depth != 2 || shop.Schedule != "0 */6 * * *" || shop.Browser || shop.Mobile {
		t.Errorf("storefront stored as %+v", shop)
	}
	if item.Platform != "京东" || item.Kind != shopwatch.KindProduct || item.Category != "cosmetics" || item.Depth != 0 || !item.Browser || item.Mobile {
		t.Errorf("product stored as %+v", item)
	}
	if h5.Platform != "拼多多" || h5.Category != "healthfood" || strings.Join(h5.Tags, "|") != tag || !h5.Mobile || !h5.Browser {
		t.Errorf("H5 page stored as %+v", h5)
	}
}

func TestImportEncodings(t *testing.T) {
	text := importHeader + importBody
	for _, tc := range []struct {
		name    string
		content []byte
		args    []string
		note    string // what stderr must say, if anything
		tag     string
	}{
		{"utf-8", []byte(text), nil, "", "𠮷野家"},
		{"utf-8 with BOM", append([]byte("\xef\xbb\xbf"), text...), nil, "", "𠮷野家"},
		{"utf-8 with CRLF", []byte(strings.ReplaceAll(text, "\n", "\r\n")), nil, "", "𠮷野家"},
		{"GB18030", encode(t, simplifiedchinese.GB18030, text), nil, "read as GB18030", "𠮷野家"},
		{"GB18030 named", encode(t, simplifiedchinese.GB18030, text), []string{"--encoding", "gb18030"}, "", "𠮷野家"},
		// GBK has no 𠮷: GBK files write 吉野家.
		{"GBK", encode(t, simplifiedchinese.GBK, strings.ReplaceAll(text, "𠮷", "吉")), nil, "read as GB18030", "吉野家"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			f := writeImport(t, "targets.csv", tc.content)
			o, e, code := sw(t, append(append([]string{"--data", data, "target", "import"}, tc.args...), f)...)
			if code != 0 || !strings.Contains(o, "imported 3 targets") {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, o, e)
			}
			if tc.note != "" && !strings.Contains(e, tc.note) {
				t.Errorf("stderr does not say %q: %s", tc.note, e)
			}
			wantImported(t, data, tc.tag)
		})
	}
}

func TestImportRefusesUndecodableText(t *testing.T) {
	gb := encode(t, simplifiedchinese.GB18030, importHeader+importBody)
	for _, tc := range []struct {
		name    string
		content []byte
		args    []string
		want    []string
	}{
		// Latin-1 é (E9) before a comma: neither UTF-8 nor GB18030.
		{"latin-1 lines in a GBK file", append(slices.Clone(gb), "https://caf\xe9.example.com/,x\xe9,\n"...), nil,
			[]string{":5: neither UTF-8 nor GB18030/GBK"}},
		{"two bad lines", []byte(importHeader + "https://a.example.com/,caf\xe9,\nhttps://b.example.com/,ok,\nhttps://c.example.com/,\xe9t\xe9,\n"), nil,
			[]string{":2: neither UTF-8 nor GB18030", ":4: neither UTF-8 nor GB18030"}},
		{"a stray byte in a UTF-8 file", []byte(importHeader + importBody + "https://d.example.com/,天猫\xff,\n"), nil,
			[]string{":5: not valid UTF-8, while the rest of the file is UTF-8"}},
		{"UTF-8 named, GBK given", gb, []string{"--encoding", "utf-8"},
			[]string{":2: not valid UTF-8", ":3: not valid UTF-8", ":4: not valid UTF-8"}},
		{"GBK that is also valid UTF-8", encode(t, simplifiedchinese.GBK, "url,category\nhttps://a.example.com/,食品\n"), nil,
			[]string{":2: reads as UTF-8", `"https://a.example.com/,食品"`, "--encoding"}},
		{"UTF-16", append([]byte{0xff, 0xfe}, "u\x00r\x00l\x00"...), nil, []string{"UTF-16"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			f := writeImport(t, "t.csv", tc.content)
			o, e, code := sw(t, append(append([]string{"--data", data, "target", "import"}, tc.args...), f)...)
			if code != exitFailed {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitFailed, o, e)
			}
			for _, w := range tc.want {
				if !strings.Contains(e, w) {
					t.Errorf("stderr does not say %q:\n%s", w, e)
				}
			}
			if !strings.Contains(e, "nothing imported") {
				t.Errorf("stderr does not say nothing was imported:\n%s", e)
			}
			if got, added := storedTargets(t, data); len(got) != 0 || added != 0 {
				t.Errorf("%d targets stored, %d audit entries, want none", len(got), added)
			}
		})
	}

	// Said which it is, the ambiguous file imports.
	data := t.TempDir()
	f := writeImport(t, "t.csv", encode(t, simplifiedchinese.GBK, "url,category\nhttps://a.example.com/,食品\n"))
	mustSW(t, "--data", data, "target", "import", "--encoding", "gbk", f)
	if got, _ := storedTargets(t, data); got["https://a.example.com/"].Category != "food" {
		t.Errorf("stored %+v", got)
	}
}

// TestImportListsEveryProblem: one file with many kinds of bad rows; every
// problem is reported with file:line, and nothing is imported.
func TestImportListsEveryProblem(t *testing.T) {
	data := t.TempDir()
	mustSW(t, "--data", data, "target", "add", "https://kept.example.com/")
	f := writeImport(t, "bad.csv", []byte("url,kind,category,colour,priority\n"+
		"https://ok.example.com/1,product,food,,1\n"+ // 2: fine
		"https://ok.example.com/2,product,food,,1,surplus\n"+ // 3: extra cell
		"https://ok.example.com/3,product\n"+ // 4: short row
		"https://ok.example.com/4,shop,food,,high\n"+ // 5: bad kind and bad priority
		"ok.example.com/5,product,food,,1\n"+ // 6: not absolute
		",product,food,,1\n"+ // 7: no url
		"HTTPS://OK.example.com:443/1#top,product,toys,,1\n"+ // 8: same URL as line 2, other category
		"\"https://ok.example.com/6,product\n")) // 9: unterminated quote
	o, e, code := sw(t, "--data", data, "target", "import", f)
	if code != exitFailed {
		t.Errorf("exit %d, want %d\nstdout: %s", code, exitFailed, o)
	}
	for _, w := range []string{
		`bad.csv:1: unknown column "colour" (column 4;`,
		"bad.csv:3: 1 extra cell beyond the header's 5 columns (\"surplus\")",
		"bad.csv:4: short row: 2 cells, the header has 5 columns",
		`bad.csv:5: unknown page kind "shop"`,
		`bad.csv:5: priority "high" is not a whole number`,
		`bad.csv:6: url: URL "ok.example.com/5" is not absolute`,
		"bad.csv:7: empty url",
		"bad.csv:8: the same URL as line 2 (https://ok.example.com/1) with different category (food, here toys)",
		"bad.csv:9: extraneous or missing \" in quoted-field",
		"bad.csv: 9 problems; nothing imported",
	} {
		if !strings.Contains(e, w) {
			t.Errorf("stderr does not say %q", w)
		}
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", e)
	}
	if got, added := storedTargets(t, data); len(got) != 1 || added != 1 {
		t.Errorf("after a refused import: %d targets, %d audit entries; want only the one added before", len(got), added)
	}
}

func TestImportDuplicates(t *testing.T) {
	data := t.TempDir()
	mustSW(t, "--data", data, "target", "add", "https://old.example.com/shop", "--category", "food", "--priority", "7")
	f := writeImport(t, "dups.csv", []byte("url,kind,category\n"+
		"https://new.example.com/a,product,cosmetics\n"+
		"https://old.example.com/shop,storefront,baby\n"+ // stored already: skipped, not changed
		"https://NEW.example.com:443/a#reviews,product,cosmetics\n"+ // repeats line 2: imported once
		"https://new.example.com/b,product,\n"))
	o, e, code := sw(t, "--data", data, "target", "import", f)
	if code != 0 || !strings.Contains(o, "imported 2 targets (1 already present, 1 repeated in the file)") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, o, e)
	}
	if !strings.Contains(e, "dups.csv:4 repeats line 2") {
		t.Errorf("stderr does not name the repeated row:\n%s", e)
	}
	got, added := storedTargets(t, data)
	if len(got) != 3 || added != 3 {
		t.Errorf("%d targets, %d audit entries; want 3 and 3", len(got), added)
	}
	if old := got["https://old.example.com/shop"]; old.Category != "food" || old.Priority != 7 {
		t.Errorf("the stored target was changed by the import: %+v", old)
	}
	if o := mustSW(t, "--data", data, "target", "import", f); !strings.Contains(o, "imported 0 targets (3 already present, 1 repeated in the file)") {
		t.Errorf("importing again: %s", o)
	}
}

// xlsxFile makes a workbook whose first sheet holds rows (numbers and
// booleans as such, the rest as text) and returns its path.
func xlsxFile(t *testing.T, sheets map[string][][]any, order ...string) string {
	t.Helper()
	x := excelize.NewFile()
	defer x.Close()
	for i, name := range order {
		if i == 0 {
			if err := x.SetSheetName("Sheet1", name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := x.NewSheet(name); err != nil {
			t.Fatal(err)
		}
		for r, row := range sheets[name] {
			cell, _ := excelize.CoordinatesToCellName(1, r+1)
			if err := x.SetSheetRow(name, cell, &row); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := filepath.Join(t.TempDir(), "targets.xlsx")
	if err := x.SaveAs(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportXLSX(t *testing.T) {
	good := [][]any{
		{"URL", "Platform", "Kind", "Category", "Tags", "Jurisdiction", "Priority", "Depth", "Schedule", "Browser", "Mobile"},
		{"https://shop.example.com/", "淘宝", "storefront", "食品", "618,双十一", "上海市徐汇区", 5, 2, "0 */6 * * *", false, false},
		{},
		{"https://item.example.com/1", "京东", "product", "化妆品", "美白", "北京市朝阳区", 3, nil, nil, true},
		{"https://h5.example.com/p/9", "拼多多", "product", "保健食品", "𠮷野家", "广东省深圳市", nil, nil, nil, nil, true},
	}
	bad := [][]any{
		{"url", "kind", "priority", "颜色"},
		{"https://a.example.com/", "product", 1},
		{"https://b.example.com/", "product", "high"},
		{"https://c.example.com/", "product", 2, nil, "surplus"},
		{nil, "product"},
	}

	data := t.TempDir()
	f := xlsxFile(t, map[string][][]any{"目标": good, "notes": {{"anything"}}}, "目标", "notes")
	o, e, code := sw(t, "--data", data, "target", "import", f)
	if code != 0 || !strings.Contains(o, "imported 3 targets") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, o, e)
	}
	if !strings.Contains(e, `reading sheet "目标", the first of 2`) {
		t.Errorf("stderr does not say which sheet was read:\n%s", e)
	}
	wantImported(t, data, "𠮷野家")

	data = t.TempDir()
	f = xlsxFile(t, map[string][][]any{"good": good, "bad": bad}, "good", "bad")
	o, e, code = sw(t, "--data", data, "target", "import", "--sheet", "bad", f)
	if code != exitFailed {
		t.Errorf("exit %d, want %d\nstdout: %s", code, exitFailed, o)
	}
	for _, w := range []string{
		`targets.xlsx: sheet "bad" row 1: unknown column "颜色" (column D;`,
		`targets.xlsx: sheet "bad" row 3: priority "high" is not a whole number`,
		`targets.xlsx: sheet "bad" row 4: 1 extra cell beyond the header's 4 columns ("surplus")`,
		`targets.xlsx: sheet "bad" row 5: empty url`,
		"targets.xlsx: 4 problems; nothing imported",
	} {
		if !strings.Contains(e, w) {
			t.Errorf("stderr does not say %q", w)
		}
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", e)
	}
	if got, added := storedTargets(t, data); len(got) != 0 || added != 0 {
		t.Errorf("%d targets stored, %d audit entries, want none", len(got), added)
	}
	if _, e, code := sw(t, "--data", data, "target", "import", "--sheet", "none", f); code != exitFailed || !strings.Contains(e, `no sheet "none" (the workbook has "good", "bad")`) {
		t.Errorf("unknown sheet: exit %d, %s", code, e)
	}
	notZip := writeImport(t, "t.xlsx", []byte(importHeader))
	if _, e, code := sw(t, "--data", data, "target", "import", notZip); code != exitFailed || !strings.Contains(e, "not an .xlsx workbook") {
		t.Errorf("CSV named .xlsx: exit %d, %s", code, e)
	}
}

func TestImportFromStdin(t *testing.T) {
	old := stdin
	stdin = bytes.NewReader([]byte(importHeader + importBody))
	t.Cleanup(func() { stdin = old })
	data := t.TempDir()
	mustSW(t, "--data", data, "target", "import", "-")
	wantImported(t, data, "𠮷野家")
}

func TestCounterLines(t *testing.T) {
	var buf bytes.Buffer
	set, finish := counterLines(&buf, "import", "rows", 0)
	set("check", 0, 3)
	set("check", 3, 3)
	set("write", 2, 3)
	finish()
	want := "import: check 0/3 rows\nimport: check 3/3 rows\nimport: write 2/3 rows\n"
	if got := buf.String(); got != want {
		t.Errorf("lines = %q, want %q", got, want)
	}

	// A job that ends before the first line is due prints nothing.
	buf.Reset()
	set, finish = counterLines(&buf, "import", "rows", 1<<62)
	set("check", 1, 3)
	set("write", 3, 3)
	finish()
	if buf.Len() != 0 {
		t.Errorf("a quick job printed %q", buf.String())
	}
}

// BenchmarkTargetImport runs the whole command on a 100,000-row GBK CSV
// into a fresh data folder, durably: decode, parse, check every row, one
// transaction.
func BenchmarkTargetImport(b *testing.B) {
	const rows = 100_000
	var sb strings.Builder
	sb.WriteString(importHeader)
	for i := range rows {
		fmt.Fprintf(&sb, "https://shop%d.example.com/item/%d,淘宝,product,食品,\"618,双十一\",上海市徐汇区,%d,0,0 */6 * * *,false,false\n", i%977, i, i%10)
	}
	raw, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	f := filepath.Join(b.TempDir(), "targets.csv")
	if err := os.WriteFile(f, raw, 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		data := b.TempDir()
		b.StartTimer()
		var o, e bytes.Buffer
		if code := Run(context.Background(), []string{"--data", data, "target", "import", f}, &o, &e); code != 0 {
			b.Fatalf("exit %d: %s", code, e.String())
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// An import treats URLs as target add does: credentials are removed with a
// warning and never stored; URLs that differ only in tracking parameters
// are one target.
func TestImportCredentialsAndTracking(t *testing.T) {
	data := t.TempDir()
	f := writeImport(t, "t.csv", []byte("url,kind\n"+
		"https://inspector:secret@a.example.com/item?id=1&spm=a1.b2,product\n"+
		"https://a.example.com/item?id=1&spm=zz,product\n"))
	o, e, code := sw(t, "--data", data, "target", "import", f)
	if code != 0 || !strings.Contains(o, "imported 1 targets") || !strings.Contains(e, "t.csv:3 repeats line 2") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, o, e)
	}
	if !strings.Contains(e, "t.csv:2: warning: removed the user name and password") || strings.Contains(e, "secret") {
		t.Errorf("stderr: %s", e)
	}
	got, _ := storedTargets(t, data)
	for u := range got {
		if strings.Contains(u, "secret") || strings.Contains(u, "inspector") {
			t.Errorf("stored %s", u)
		}
	}
	if len(got) != 1 {
		t.Errorf("%d targets stored: %v", len(got), got)
	}
	if b, err := os.ReadFile(filepath.Join(data, "shopwatch.db")); err != nil || bytes.Contains(b, []byte("secret")) {
		t.Errorf("the database holds the password (read err %v)", err)
	}
}
