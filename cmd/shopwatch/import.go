package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/sweep/schedule"
)

// importColumns are the columns target import reads, in the order the
// README lists them. Only url is required.
var importColumns = []string{"url", "platform", "kind", "category", "tags", "jurisdiction", "priority", "depth", "schedule", "browser", "mobile"}

// maxImportFile bounds the file target import reads into memory.
const maxImportFile = 512 << 20

// targetImport reads a table of targets, a CSV file or a sheet of an .xlsx
// workbook, whose first non-empty row names its columns (importColumns).
// Every row is checked before anything is stored: when any row is bad,
// every problem is listed with its file and line (sheet and row) and
// nothing is imported. Rows whose URL is already a target are skipped.
func targetImport(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("target import", "target import FILE.csv|FILE.xlsx|- [flags]")
	enc := fs.String("encoding", "auto", "CSV text encoding: auto (UTF-8, else GB18030/GBK), utf-8 or gb18030")
	sheet := fs.String("sheet", "", "worksheet of an .xlsx file (default: the first)")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	switch *enc = strings.ToLower(*enc); *enc {
	case "auto", "utf-8", "gb18030":
	case "utf8":
		*enc = "utf-8"
	case "gbk":
		*enc = "gb18030" // a superset of GBK
	default:
		return usagef("--encoding %q: want auto, utf-8 or gb18030", *enc)
	}
	name := pos[0]
	raw, err := readImportFile(name)
	if err != nil {
		return err
	}
	if name == "-" {
		name = "stdin"
	}
	note := func(format string, args ...any) {
		fmt.Fprintf(a.stderr, "shopwatch target import: "+format+"\n", args...)
	}
	c, err := a.config()
	if err != nil {
		return err
	}
	set, finish := a.counter("import", "rows")
	targets, problems := readImport(name, raw, importOptions{encoding: *enc, sheet: *sheet, tracking: c.Targets.TrackingParams}, note, set)
	if len(problems) == 0 {
		problems, err = a.checkImportTargets(targets)
		if err != nil {
			finish()
			return err
		}
	}
	if len(problems) > 0 {
		finish()
		for _, p := range problems {
			fmt.Fprintln(a.stderr, p)
		}
		return &errExit{code: exitFailed, err: fmt.Errorf("%s: %d %s; nothing imported", name, len(problems), plural(len(problems), "problem", "problems"))}
	}
	var ts []shopwatch.Target
	var repeats []importTarget
	for _, t := range targets {
		if t.repeats == "" {
			ts = append(ts, t.Target)
		} else {
			repeats = append(repeats, t)
		}
	}
	w, err := a.workspace(ctx, false)
	if err != nil {
		finish()
		return err
	}
	existing, err := w.AddTargets(ctx, ts, func(done int) { set("write", done, len(ts)) })
	finish()
	if err != nil {
		return fmt.Errorf("%s: nothing imported: %w", name, err)
	}
	for i, t := range repeats {
		if i == 10 {
			note("%d more rows repeat an earlier row", len(repeats)-i)
			break
		}
		note("%s repeats %s: imported once", t.at, lineName(t.repeats))
	}
	msg := fmt.Sprintf("imported %d targets (%d already present", len(ts)-len(existing), len(existing))
	if len(repeats) > 0 {
		msg += fmt.Sprintf(", %d repeated in the file", len(repeats))
	}
	fmt.Fprintln(a.stdout, msg+")")
	return nil
}

// checkImportTargets refuses unknown categories, naming the line, and
// removes user names and passwords from URLs, saying so: what target add
// does for one target.
func (a *app) checkImportTargets(targets []importTarget) ([]string, error) {
	var problems []string
	for i := range targets {
		t := &targets[i]
		if db.HasCredentials(t.URL) {
			t.URL = db.StripCredentials(t.URL)
			fmt.Fprintf(a.stderr, "%s: warning: removed the user name and password from the URL; the target is %s (credentials are never stored)\n", t.at, t.URL)
		}
		if t.Category == "" {
			continue
		}
		rs, err := a.ruleset()
		if err != nil {
			return nil, err
		}
		cat, err := checkCategory(rs, t.Category)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", t.at, err))
			continue
		}
		t.Category = cat
	}
	return problems, nil
}

// readImportFile reads name, or standard input for "-", up to maxImportFile.
func readImportFile(name string) ([]byte, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("open target list: %w", err)
		}
		defer f.Close()
		r = f
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxImportFile+1))
	if err != nil {
		return nil, fmt.Errorf("read target list %s: %w", name, err)
	}
	if len(raw) > maxImportFile {
		return nil, fmt.Errorf("target list %s is larger than %d MiB: split it", name, maxImportFile>>20)
	}
	return raw, nil
}

type importOptions struct {
	encoding string   // auto, utf-8 or gb18030 (CSV only)
	sheet    string   // worksheet (xlsx only); empty for the first
	tracking []string // query parameters duplicate detection ignores (targets.tracking_params)
}

// importRow is one row of the table: where it is, for messages, and its
// cells as text, or why it could not be read.
type importRow struct {
	at     string // "file:line" or "file: sheet S row N"
	line   int    // line or row number
	cells  []string
	broken string // set when the row could not be split into cells
}

// importTarget is a checked row and the target it makes.
type importTarget struct {
	shopwatch.Target
	at      string
	line    int
	norm    string // normalised URL
	repeats string // where the row it repeats is, empty when it is the first with its URL
}

// readImport parses and checks a whole file and returns the targets its
// rows make (those that repeat an earlier row marked so), or every problem
// found, each starting with its file and line.
func readImport(name string, raw []byte, opt importOptions, note func(string, ...any), set func(string, int, int)) ([]importTarget, []string) {
	var rows []importRow
	var problems []string
	workbook := bytes.HasPrefix(raw, []byte("PK\x03\x04")) // a zip file
	switch {
	case workbook && opt.encoding != "auto":
		return nil, []string{name + ": --encoding is for CSV files; this is a workbook"}
	case workbook:
		rows, problems = readXLSXRows(name, raw, opt.sheet, note)
	case bytes.HasPrefix(raw, []byte("\xd0\xcf\x11\xe0")):
		return nil, []string{name + ": an old binary Excel (.xls) or encrypted workbook: save it as .xlsx (Excel Workbook) or CSV"}
	case strings.EqualFold(filepath.Ext(name), ".xlsx"):
		return nil, []string{name + ": not an .xlsx workbook (it is not a zip file)"}
	default:
		if opt.sheet != "" {
			return nil, []string{name + ": --sheet is for .xlsx workbooks; this is a CSV file"}
		}
		var text string
		text, problems = decodeCSV(name, raw, opt.encoding, note)
		if len(problems) > 0 {
			return nil, problems
		}
		rows, problems = readCSVRows(name, text)
	}
	if len(rows) == 0 {
		return nil, append(problems, name+": no header row (want a first row naming the columns: "+strings.Join(importColumns, ",")+")")
	}
	targets, more := checkImportRows(rows, workbook, opt.tracking, set)
	return targets, append(problems, more...)
}

// decodeCSV returns the text of a CSV file. A UTF-8 byte-order mark is
// dropped. With encoding "auto" the file is read as UTF-8 when it is valid
// UTF-8, as GB18030 (a superset of GBK, what Excel and WPS write on Chinese
// Windows) when it is not and it decodes as GB18030, and refused otherwise;
// choosing GB18030 is said through note. A file that is UTF-8 but for a few
// bytes is refused, not read as GB18030. Every line that does not decode is
// a problem naming the line.
func decodeCSV(name string, raw []byte, encoding string, note func(string, ...any)) (string, []string) {
	switch {
	case bytes.HasPrefix(raw, []byte{0xff, 0xfe}), bytes.HasPrefix(raw, []byte{0xfe, 0xff}):
		return "", []string{name + ": UTF-16 text (Excel's \"Unicode Text\"): save it as \"CSV UTF-8\" or CSV"}
	case bytes.IndexByte(raw, 0) >= 0:
		return "", []string{fmt.Sprintf("%s:%d: a NUL byte: this is not a CSV text file", name, 1+bytes.Count(raw[:bytes.IndexByte(raw, 0)], []byte("\n")))}
	}
	bom := bytes.HasPrefix(raw, []byte("\xef\xbb\xbf"))
	if bom {
		raw = raw[3:]
		if encoding == "gb18030" {
			return "", []string{name + ": starts with a UTF-8 byte-order mark but --encoding gb18030 was given"}
		}
		encoding = "utf-8"
	}
	if encoding == "auto" {
		if utf8.Valid(raw) {
			if p := ambiguousGB18030(name, raw); p != "" {
				return "", []string{p}
			}
			return string(raw), nil
		}
		if valid, invalid := utf8Counts(raw); valid > invalid {
			// Mostly well-formed multi-byte UTF-8: a damaged UTF-8 file,
			// which GB18030 would turn into plausible nonsense.
			return "", badLines(name, raw, func(l []byte) bool { return !utf8.Valid(l) },
				"not valid UTF-8, while the rest of the file is UTF-8 (save the file again as \"CSV UTF-8\")")
		}
		encoding = "gb18030"
		if bad := badLines(name, raw, gb18030Invalid(), "neither UTF-8 nor GB18030/GBK text (save the file as \"CSV UTF-8\")"); len(bad) > 0 {
			return "", bad
		}
		note("%s is not UTF-8: read as GB18030 (GBK); --encoding chooses", name)
	}
	switch encoding {
	case "utf-8":
		if bad := badLines(name, raw, func(l []byte) bool { return !utf8.Valid(l) }, "not valid UTF-8"); len(bad) > 0 {
			return "", bad
		}
		return string(raw), nil
	default:
		if bad := badLines(name, raw, gb18030Invalid(), "not valid GB18030/GBK text"); len(bad) > 0 {
			return "", bad
		}
		text, err := simplifiedchinese.GB18030.NewDecoder().Bytes(raw)
		if err != nil {
			return "", []string{fmt.Sprintf("%s: decode GB18030: %v", name, err)}
		}
		return string(text), nil
	}
}

// ambiguousGB18030 returns a problem when raw, valid UTF-8, could as well
// be GB18030: it decodes cleanly as GB18030 and, as UTF-8, has no character
// beyond U+07FF (CJK text in UTF-8 takes three bytes a character, while
// short GBK text such as 食品, CA B3 C6 B7, is also valid UTF-8: "ʳƷ").
// The problem names the first line that reads differently and shows it
// both ways.
func ambiguousGB18030(name string, raw []byte) string {
	for b := raw; len(b) > 0; {
		r, n := utf8.DecodeRune(b)
		if r >= 0x800 {
			return ""
		}
		b = b[n:]
	}
	if ascii(raw) || len(badLines(name, raw, gb18030Invalid(), "")) > 0 {
		return ""
	}
	dec := simplifiedchinese.GB18030.NewDecoder()
	for n, l := range bytes.Split(raw, []byte("\n")) {
		if ascii(l) {
			continue
		}
		gb, err := dec.Bytes(l)
		if err != nil {
			return ""
		}
		return fmt.Sprintf("%s:%d: reads as UTF-8 (%s) and as GB18030/GBK (%s): say which with --encoding utf-8 or --encoding gb18030",
			name, n+1, clip(string(bytes.TrimRight(l, "\r"))), clip(string(bytes.TrimRight(gb, "\r"))))
	}
	return ""
}

// clip quotes s, shortened to 60 characters.
func clip(s string) string {
	if r := []rune(s); len(r) > 60 {
		s = string(r[:60]) + "…"
	}
	return strconv.Quote(s)
}

// utf8Counts counts the well-formed multi-byte UTF-8 sequences in b and the
// bytes that are not UTF-8.
func utf8Counts(b []byte) (valid, invalid int) {
	for len(b) > 0 {
		if b[0] < utf8.RuneSelf {
			b = b[1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			invalid++
		} else {
			valid++
		}
		b = b[n:]
	}
	return valid, invalid
}

// gb18030Invalid returns a test for a line that is not GB18030 text. The
// decoder writes U+FFFD for what it cannot decode; a U+FFFD in the input is
// itself written 84 31 A4 37 in GB18030.
func gb18030Invalid() func([]byte) bool {
	dec := simplifiedchinese.GB18030.NewDecoder()
	fffd := []byte("\x84\x31\xa4\x37")
	return func(l []byte) bool {
		if ascii(l) {
			return false
		}
		dec.Reset()
		out, err := dec.Bytes(l)
		return err != nil || (bytes.ContainsRune(out, utf8.RuneError) && !bytes.Contains(l, fffd))
	}
}

// badLines returns a problem for every line of raw that bad reports.
func badLines(name string, raw []byte, bad func([]byte) bool, what string) []string {
	var out []string
	for n := 1; len(raw) > 0; n++ {
		l := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			l, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if bad(l) {
			out = append(out, fmt.Sprintf("%s:%d: %s", name, n, what))
		}
	}
	return out
}

// readCSVRows splits CSV text into rows; rows whose cells are all empty
// are left out. A row with broken quoting is marked broken.
func readCSVRows(name, text string) ([]importRow, []string) {
	cr := csv.NewReader(strings.NewReader(text))
	cr.FieldsPerRecord = -1
	var rows []importRow
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
			rows = append(rows, importRow{at: fmt.Sprintf("%s:%d", name, pe.StartLine), line: pe.StartLine, broken: pe.Err.Error()})
			continue
		}
		if err != nil {
			return rows, []string{fmt.Sprintf("%s: %v", name, err)}
		}
		if blankRow(rec) {
			continue
		}
		line, _ := cr.FieldPos(0)
		rows = append(rows, importRow{at: fmt.Sprintf("%s:%d", name, line), line: line, cells: rec})
	}
}

// readXLSXRows reads the rows of one worksheet, the first unless sheet
// names another, as text (the cells' stored values, not their display
// formats). Rows whose cells are all empty are left out.
func readXLSXRows(name string, raw []byte, sheet string, note func(string, ...any)) ([]importRow, []string) {
	f, err := excelize.OpenReader(bytes.NewReader(raw))
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: not a readable .xlsx workbook: %v", name, err)}
	}
	defer f.Close()
	sheets := f.GetSheetList()
	switch {
	case len(sheets) == 0:
		return nil, []string{name + ": the workbook has no worksheet"}
	case sheet == "":
		sheet = sheets[0]
		if len(sheets) > 1 {
			note("%s: reading sheet %q, the first of %d (--sheet chooses another)", name, sheet, len(sheets))
		}
	case !slices.Contains(sheets, sheet):
		return nil, []string{fmt.Sprintf("%s: no sheet %q (the workbook has %s)", name, sheet, quoteFew(sheets))}
	}
	it, err := f.Rows(sheet)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: sheet %q: %v", name, sheet, err)}
	}
	defer it.Close()
	var rows []importRow
	for n := 1; it.Next(); n++ {
		cells, err := it.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return rows, []string{fmt.Sprintf("%s: sheet %q row %d: %v", name, sheet, n, err)}
		}
		if blankRow(cells) {
			continue
		}
		rows = append(rows, importRow{at: fmt.Sprintf("%s: sheet %q row %d", name, sheet, n), line: n, cells: cells})
	}
	if err := it.Error(); err != nil {
		return rows, []string{fmt.Sprintf("%s: sheet %q: %v", name, sheet, err)}
	}
	return rows, nil
}

func blankRow(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// checkImportRows checks the header (rows[0]) and every row after it, and
// returns the targets they make or every problem found. A column with an
// empty header cell holds nothing: a value in it is an extra cell. A row
// whose URL normalises to that of an earlier row is marked as repeating it
// when it asks for the same target, and a problem when it asks for a
// different one.
//
// In a spreadsheet (sheet) a row has every column: empty cells at its end
// are not stored, so a short row is no problem there.
func checkImportRows(rows []importRow, sheet bool, tracking []string, set func(string, int, int)) ([]importTarget, []string) {
	head, body := rows[0], rows[1:]
	if head.broken != "" {
		return nil, []string{fmt.Sprintf("%s: header: %s", head.at, head.broken)}
	}
	var problems []string
	col := map[string]int{}
	width := 0 // columns up to the last named one
	for i, h := range head.cells {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch {
		case h == "":
			continue
		case !slices.Contains(importColumns, h):
			problems = append(problems, fmt.Sprintf("%s: unknown column %q (column %s; known columns: %s)", head.at, head.cells[i], columnName(i, sheet), strings.Join(importColumns, ",")))
		default:
			if j, ok := col[h]; ok {
				problems = append(problems, fmt.Sprintf("%s: column %q appears twice (columns %s and %s)", head.at, h, columnName(j, sheet), columnName(i, sheet)))
				continue
			}
			col[h] = i
		}
		width = i + 1
	}
	if _, ok := col["url"]; !ok {
		return nil, append(problems, fmt.Sprintf("%s: the header has no url column (got %s)", head.at, strings.Join(head.cells, ",")))
	}
	seen := make(map[string]int, len(body))
	out := make([]importTarget, 0, len(body))
	for n, row := range body {
		if n%1000 == 0 {
			set("check", n, len(body))
		}
		if row.broken != "" {
			problems = append(problems, row.at+": "+row.broken)
			continue
		}
		t, bad := checkImportRow(row, head, col, width, sheet, tracking)
		if len(bad) > 0 {
			problems = append(problems, bad...)
			continue
		}
		if j, ok := seen[t.norm]; ok {
			first := &out[j]
			if diff := targetDiff(first.Target, t.Target); diff != "" {
				problems = append(problems, fmt.Sprintf("%s: the same URL as %s (%s) with different %s", row.at, lineName(first.at), t.norm, diff))
				continue
			}
			t.repeats = first.at
		} else {
			seen[t.norm] = len(out)
		}
		out = append(out, t)
	}
	set("check", len(body), len(body))
	if len(problems) > 0 {
		return nil, problems
	}
	return out, nil
}

// checkImportRow makes a target of one row, or says everything wrong with it.
func checkImportRow(row, head importRow, col map[string]int, width int, sheet bool, tracking []string) (importTarget, []string) {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, row.at+": "+fmt.Sprintf(format, args...)) }
	cells := row.cells
	switch {
	case len(cells) > len(head.cells):
		extra := cells[len(head.cells):]
		fail("%d extra %s beyond the header's %d columns (%s)", len(extra), plural(len(extra), "cell", "cells"), len(head.cells), quoteFew(extra))
		cells = cells[:len(head.cells)]
	case len(cells) < width && !sheet:
		fail("short row: %d %s, the header has %d columns", len(cells), plural(len(cells), "cell", "cells"), width)
	}
	for i, c := range cells {
		if strings.TrimSpace(c) != "" && (i >= len(head.cells) || strings.TrimSpace(head.cells[i]) == "") {
			fail("a value in column %s, which has no name in the header (%q)", columnName(i, sheet), c)
		}
	}
	get := func(k string) string {
		if i, ok := col[k]; ok && i < len(cells) {
			return strings.TrimSpace(cells[i])
		}
		return ""
	}
	t := importTarget{at: row.at, line: row.line, Target: shopwatch.Target{URL: get("url"), Platform: get("platform"),
		Category: get("category"), Tags: splitTags(get("tags")), Jurisdiction: get("jurisdiction"), Schedule: get("schedule")}}
	if t.URL == "" {
		fail("empty url")
	} else if norm, err := db.TargetKey(db.StripCredentials(t.URL), tracking); err != nil {
		fail("url: %s", strings.TrimPrefix(err.Error(), db.ErrInvalid.Error()+": "))
	} else {
		t.norm = norm
	}
	kind := get("kind")
	if kind == "" {
		kind = string(shopwatch.KindStorefront)
	}
	k, err := shopwatch.ParseKind(kind)
	if err != nil {
		fail("%v", err)
	}
	t.Kind = k
	if p := get("priority"); p != "" {
		if t.Priority, err = strconv.Atoi(p); err != nil {
			fail("priority %q is not a whole number", p)
		}
	}
	t.Depth = defaultDepth(t.Kind)
	if d := get("depth"); d != "" {
		if t.Depth, err = strconv.Atoi(d); err != nil || t.Depth < 0 {
			fail("depth %q is not a whole number ≥ 0", d)
		}
	}
	if err := schedule.Validate(t.Target); err != nil {
		fail("%v", err)
	}
	if b := get("browser"); b != "" {
		if t.Browser, err = strconv.ParseBool(b); err != nil {
			fail("browser %q is not true or false", b)
		}
	}
	if m := get("mobile"); m != "" {
		if t.Mobile, err = strconv.ParseBool(m); err != nil {
			fail("mobile %q is not true or false", m)
		}
		t.Browser = t.Browser || t.Mobile
	}
	return t, bad
}

// targetDiff names the settings in which two targets with the same URL
// differ, or returns "".
func targetDiff(a, b shopwatch.Target) string {
	var d []string
	for _, c := range db.TargetChanges(a, b) {
		d = append(d, fmt.Sprintf("%s (%s, here %s)", c.Field, c.Old, c.New))
	}
	return strings.Join(d, ", ")
}

// columnName names column i (from 0) for messages: its letter in a
// spreadsheet, its number in CSV.
func columnName(i int, sheet bool) string {
	if sheet {
		if n, err := excelize.ColumnNumberToName(i + 1); err == nil {
			return n
		}
	}
	return strconv.Itoa(i + 1)
}

// lineName is the short form of a row's place ("line 7", "row 7") used
// when another message on the same file refers to it.
func lineName(at string) string {
	if i := strings.LastIndex(at, " row "); i >= 0 {
		return at[i+1:]
	}
	if i := strings.LastIndexByte(at, ':'); i >= 0 {
		return "line " + at[i+1:]
	}
	return at
}

func quoteFew(ss []string) string {
	const max = 5
	q := make([]string, 0, max+1)
	for i, s := range ss {
		if i == max {
			q = append(q, fmt.Sprintf("… %d more", len(ss)-max))
			break
		}
		q = append(q, strconv.Quote(s))
	}
	return strings.Join(q, ", ")
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
