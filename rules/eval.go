package rules

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"shopwatch"
)

// Class is what a labelled case expects of the rules.
type Class string

// The classes of a case.
const (
	// ClassViolation: the text breaks the law; some rule must fire.
	ClassViolation Class = "violation"
	// ClassReview: the text needs an inspector's review; some rule must
	// fire.
	ClassReview Class = "review"
	// ClassCompliant: the text is lawful; no rule should fire, and a rule
	// of severity violation firing is the error that matters most.
	ClassCompliant Class = "ok"
	// ClassRules: the label names the ids of the rules that must fire, and
	// no other rule should.
	ClassRules Class = "rules"
)

// Case is one labelled text of an evaluation file.
type Case struct {
	Source   string // FILE:LINE
	Label    string // as written in the file
	Class    Class
	Rules    []string // ClassRules: the ids that must fire
	Text     string
	Kind     shopwatch.Kind
	Category string // normal form (food, cosmetics …); "" when the file gives none
	Split    string // dev or test, from the split column; "" without one
	// Columns are the file's other columns (source, date, article …), in
	// file order, kept for reports and not interpreted.
	Columns []Column
}

// Column is one named cell of a case.
type Column struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CaseFileError lists every problem of an evaluation file, each with its
// file and line. ReadCases reads on past the first problem so that one run
// shows them all.
type CaseFileError struct {
	Problems []Problem
}

// Error lists the problems, one per line after the first.
func (e *CaseFileError) Error() string {
	return (&LoadError{Problems: e.Problems}).Error()
}

// Unwrap returns the problems, so errors.As can reach each one.
func (e *CaseFileError) Unwrap() []error {
	return (&LoadError{Problems: e.Problems}).Unwrap()
}

// maxCaseLine is the longest line ReadCases accepts.
const maxCaseLine = 1 << 20

// maxCaseProblems is how many problems ReadCases lists; it counts the
// others.
const maxCaseProblems = 200

// ReadCases reads an evaluation file named name (for messages) in one of
// two formats:
//
//   - tab-separated values with a header row naming the columns, in any
//     order: text and label (required), kind, category and split
//     (optional), and any others (source, date, article …), which are kept
//     in Case.Columns. Every row has as many cells as the header. A cell
//     wholly in double quotes (as spreadsheets write it) is unquoted.
//   - the corpus format of testdata/corpus: no header, three cells a line,
//     LABEL, KIND/CATEGORY and TEXT.
//
// A label is violation, review, ok or compliant, or comma-separated rule
// ids of rs. A kind is storefront, product (the default) or livestream; a
// category is one rs knows, by id or Chinese name (食品 is food); split is
// dev or test. In TEXT, \n stands for a line break. Blank lines and lines
// starting with # are skipped; a leading byte order mark and CRLF line ends
// are accepted. The file must be UTF-8.
//
// Every problem (a missing column, a row with the wrong number of cells, an
// unknown label, rule, kind, category or split, a line that is not UTF-8)
// is reported in a *CaseFileError naming name and the line; a read error is
// returned wrapped.
func ReadCases(r io.Reader, name string, rs *RuleSet) ([]Case, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxCaseLine)
	var (
		cases    []Case
		problems []Problem
		header   []string // nil until the format is known; empty for the corpus format
		col      = map[string]int{}
		known    = rs.Categories()
	)
	more := 0 // problems past maxCaseProblems
	bad := func(line int, format string, args ...any) {
		if len(problems) < maxCaseProblems {
			problems = append(problems, Problem{File: name, Line: line, Msg: fmt.Sprintf(format, args...)})
		} else {
			more++
		}
	}
	n := 0
	for sc.Scan() {
		n++
		raw := sc.Bytes()
		if n == 1 {
			raw = bytes.TrimPrefix(raw, []byte("\ufeff"))
		}
		raw = bytes.TrimSuffix(raw, []byte("\r"))
		if !utf8.Valid(raw) {
			bad(n, "not UTF-8 text (save the file as UTF-8)")
			continue
		}
		line := string(raw)
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cells := strings.Split(line, "\t")
		for i, c := range cells {
			cells[i] = unquoteCell(c)
		}
		if header == nil {
			if isHeader(cells) {
				header = cells
				for i, h := range cells {
					h = strings.ToLower(strings.TrimSpace(h))
					header[i] = h
					if h == "" {
						bad(n, "column %d has no name", i+1)
						continue
					}
					if _, dup := col[h]; dup {
						bad(n, "column %q named twice", h)
						continue
					}
					col[h] = i
				}
				for _, need := range []string{"text", "label"} {
					if _, ok := col[need]; !ok {
						bad(n, "no %s column (the header names %s; want text and label, optionally kind, category, split and others)", need, strings.Join(cells, ", "))
					}
				}
				if len(problems) > 0 {
					return nil, &CaseFileError{Problems: problems}
				}
				continue
			}
			if len(cells) != 3 || looksLikeNames(cells) {
				bad(n, "no header row naming the columns text and label, and not the corpus format LABEL<TAB>KIND/CATEGORY<TAB>TEXT (first row: %s)", strings.Join(cells, ", "))
				return nil, &CaseFileError{Problems: problems}
			}
			header = []string{}
		}
		c := Case{Source: fmt.Sprintf("%s:%d", name, n), Kind: shopwatch.KindProduct}
		var kind, category string
		if len(header) == 0 {
			if len(cells) != 3 {
				bad(n, "want 3 tab-separated cells (LABEL, KIND/CATEGORY, TEXT), got %d", len(cells))
				continue
			}
			c.Label, c.Text = cells[0], cells[2]
			kind, category, _ = strings.Cut(cells[1], "/")
		} else {
			if len(cells) != len(header) {
				bad(n, "want %d tab-separated cells (as the header), got %d", len(header), len(cells))
				continue
			}
			get := func(h string) string {
				if i, ok := col[h]; ok {
					return cells[i]
				}
				return ""
			}
			c.Label, c.Text, kind, category, c.Split = get("label"), get("text"), get("kind"), get("category"), strings.TrimSpace(get("split"))
			for i, h := range header {
				switch h {
				case "text", "label", "kind", "category":
				default:
					c.Columns = append(c.Columns, Column{Name: h, Value: cells[i]})
				}
			}
			if _, ok := col["split"]; ok && c.Split != "dev" && c.Split != "test" {
				bad(n, "unknown split %q (want dev or test)", c.Split)
			}
		}
		c.Text = strings.ReplaceAll(c.Text, `\n`, "\n")
		if strings.TrimSpace(c.Text) == "" {
			bad(n, "empty text")
		}
		if strings.TrimSpace(kind) != "" {
			k, err := shopwatch.ParseKind(kind)
			if err != nil {
				bad(n, "%v", err)
			}
			c.Kind = k
		}
		if category = strings.TrimSpace(category); category != "" {
			id, ok := rs.CategoryID(category)
			if !ok {
				bad(n, "unknown category %q (known: %s)", category, strings.Join(known, ", "))
			}
			c.Category = id
		}
		if err := c.setLabel(rs); err != nil {
			bad(n, "%v", err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			bad(n+1, "line longer than %d bytes", maxCaseLine)
		} else {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
	}
	if header == nil && len(problems) == 0 {
		bad(0, "no cases")
	}
	if more > 0 {
		problems = append(problems, Problem{File: name, Msg: fmt.Sprintf("%d more problems not listed", more)})
	}
	if len(problems) > 0 {
		return nil, &CaseFileError{Problems: problems}
	}
	return cases, nil
}

// isHeader reports whether the first row of a file names its columns.
func isHeader(cells []string) bool {
	for _, c := range cells {
		switch strings.ToLower(strings.TrimSpace(c)) {
		case "text", "label":
			return true
		}
	}
	return false
}

// looksLikeNames reports whether the first row of a file that is not in
// the corpus format is a header naming other columns (content, class …):
// column names, and a first cell that is no label.
func looksLikeNames(cells []string) bool {
	switch l := strings.ToLower(strings.TrimSpace(cells[0])); {
	case l == "violation" || l == "review" || l == "ok" || l == "compliant" || strings.Contains(l, "."):
		return false
	}
	for _, c := range cells {
		for _, r := range c {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == ' ' || r == '-') {
				return false
			}
		}
	}
	return true
}

// unquoteCell removes the double quotes a spreadsheet puts around a cell,
// with "" inside standing for one quote.
func unquoteCell(c string) string {
	if len(c) >= 2 && c[0] == '"' && c[len(c)-1] == '"' {
		return strings.ReplaceAll(c[1:len(c)-1], `""`, `"`)
	}
	return c
}

// setLabel reads c.Label into its class and rule ids.
func (c *Case) setLabel(rs *RuleSet) error {
	l := strings.TrimSpace(c.Label)
	switch strings.ToLower(l) {
	case "violation":
		c.Class = ClassViolation
		return nil
	case "review":
		c.Class = ClassReview
		return nil
	case "ok", "compliant":
		c.Class = ClassCompliant
		return nil
	case "":
		return fmt.Errorf("empty label (want violation, review, ok, compliant or rule ids)")
	}
	c.Class = ClassRules
	var unknown []string
	for _, id := range strings.Split(l, ",") {
		id = strings.TrimSpace(id)
		if _, ok := rs.byID[id]; !ok {
			unknown = append(unknown, fmt.Sprintf("%q", id))
			continue
		}
		if !slices.Contains(c.Rules, id) {
			c.Rules = append(c.Rules, id)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown label or rule id %s (want violation, review, ok, compliant or ids of the rule set)", strings.Join(unknown, ", "))
	}
	return nil
}

// CategoryID returns the normal form of a product category given by an
// inspector: an id rs knows (see Categories), in any case, or a Chinese
// name from configs/lexicon/categories.yaml (食品 is food). It returns
// false for an unknown one: a typo must never switch the category rules
// off.
func (rs *RuleSet) CategoryID(c string) (string, bool) {
	norm := normCategory(c)
	if norm == "" {
		return "", true
	}
	if id, ok := CategoryNamed(c); ok && !slices.Contains(rs.cats, norm) {
		norm = id
	}
	return norm, slices.Contains(rs.cats, norm)
}

// CaseResult is how the rules did on one case.
type CaseResult struct {
	Case
	// Judged is the category the text was judged under: the case's, or,
	// when it gives none, the one detected from the text (as rules check
	// does).
	Judged string
	// Findings are the findings that count: those on a phrase of the text,
	// and absence findings (Offset -1) only of rules the label names.
	Findings []shopwatch.Finding
	// Got are the rule ids of Findings, each once, in order.
	Got []string
	// Missed are what the label expects and the rules did not find: the
	// rule ids that did not fire, or the class (violation, review) when no
	// rule fired.
	Missed []string
	// Unexpected are the rules that fired though the label does not expect
	// them: any rule on a compliant text, a rule the label does not name.
	Unexpected []string
	// ViolationOnCompliant is set when the case is compliant and a rule of
	// severity violation fired on it.
	ViolationOnCompliant bool
}

// Score counts how the rules did on a set of cases.
//
// Recall is Found/ToFind: every rule id a label names is one item to find,
// and a violation or review label is one item, found when any rule fires.
// Precision is Correct/Fired over (case, rule) pairs: a rule firing on a
// case is correct when the label names it, or when the label is violation
// or review (which name no rule). ViolationRate is
// ViolationOnCompliant/Compliant: the share of compliant cases on which a
// rule of severity violation fired.
type Score struct {
	Cases                int `json:"cases"`
	ToFind               int `json:"to_find"`
	Found                int `json:"found"`
	Fired                int `json:"fired"`
	Correct              int `json:"correct"`
	Compliant            int `json:"compliant"`
	ViolationOnCompliant int `json:"violation_on_compliant"`
}

// Recall is Found/ToFind, and false when there was nothing to find.
func (s Score) Recall() (float64, bool) { return ratio(s.Found, s.ToFind) }

// Precision is Correct/Fired, and false when no rule fired.
func (s Score) Precision() (float64, bool) { return ratio(s.Correct, s.Fired) }

// ViolationRate is ViolationOnCompliant/Compliant, and false without
// compliant cases.
func (s Score) ViolationRate() (float64, bool) { return ratio(s.ViolationOnCompliant, s.Compliant) }

func ratio(a, b int) (float64, bool) {
	if b == 0 {
		return 0, false
	}
	return float64(a) / float64(b), true
}

// Group is the score of one part of an evaluation.
type Group struct {
	Name string
	Score
}

// Evaluation is the result of Evaluate.
type Evaluation struct {
	Cases []CaseResult
}

// Evaluate checks the text of every case with rs, as rules check checks a
// text file: the case's kind, its category or, without one, the category
// detected from the text. Only findings on a phrase of the text count,
// and absence findings (a missing licence, Offset -1) only when the label
// names their rule: a phrase checked alone lacks everything a page would
// show around it.
func Evaluate(rs *RuleSet, cases []Case) *Evaluation {
	ev := &Evaluation{Cases: make([]CaseResult, len(cases))}
	for i, c := range cases {
		r := CaseResult{Case: c, Judged: PageCategory(c.Category, "", c.Text, "")}
		for _, f := range rs.Check(Input{URL: c.Source, Kind: c.Kind, Category: r.Judged, Text: c.Text}) {
			if f.Offset < 0 && !slices.Contains(c.Rules, f.Rule) {
				continue
			}
			r.Findings = append(r.Findings, f)
			if !slices.Contains(r.Got, f.Rule) {
				r.Got = append(r.Got, f.Rule)
			}
			if c.Class == ClassCompliant && f.Severity == shopwatch.SeverityViolation {
				r.ViolationOnCompliant = true
			}
		}
		switch c.Class {
		case ClassRules:
			for _, w := range c.Rules {
				if !slices.Contains(r.Got, w) {
					r.Missed = append(r.Missed, w)
				}
			}
			for _, g := range r.Got {
				if !slices.Contains(c.Rules, g) {
					r.Unexpected = append(r.Unexpected, g)
				}
			}
		case ClassCompliant:
			r.Unexpected = slices.Clone(r.Got)
		default:
			if len(r.Got) == 0 {
				r.Missed = []string{string(c.Class)}
			}
		}
		ev.Cases[i] = r
	}
	return ev
}

// add counts case r into s.
func (s *Score) add(r *CaseResult) {
	s.Cases++
	switch r.Class {
	case ClassRules:
		s.ToFind += len(r.Rules)
		s.Found += len(r.Rules) - len(r.Missed)
	case ClassViolation, ClassReview:
		s.ToFind++
		if len(r.Missed) == 0 {
			s.Found++
		}
	case ClassCompliant:
		s.Compliant++
		if r.ViolationOnCompliant {
			s.ViolationOnCompliant++
		}
	}
	s.Fired += len(r.Got)
	s.Correct += len(r.Got) - len(r.Unexpected)
}

// Overall is the score over every case.
func (ev *Evaluation) Overall() Score {
	var s Score
	for i := range ev.Cases {
		s.add(&ev.Cases[i])
	}
	return s
}

// ByCategory scores the cases of each category the file gives (Name ""
// for cases without one), sorted by name.
func (ev *Evaluation) ByCategory() []Group {
	m := map[string]*Group{}
	for i := range ev.Cases {
		r := &ev.Cases[i]
		g := m[r.Category]
		if g == nil {
			g = &Group{Name: r.Category}
			m[r.Category] = g
		}
		g.add(r)
	}
	return sortedGroups(m)
}

// ByRule scores each group of rules, key naming the group of a rule id
// (nil: each rule its own group), sorted by name. A group counts the rule
// ids to find that it holds, the firings of its rules, and the compliant
// cases on which one of its rules of severity violation fired; Compliant
// is every compliant case, so that the groups' violation rates add up to
// at least the overall one. Violation and review cases, which name no
// rule, are to find in the group named "": their recall is that of the
// rule set as a whole.
func (ev *Evaluation) ByRule(key func(id string) string) []Group {
	if key == nil {
		key = func(id string) string { return id }
	}
	m := map[string]*Group{}
	group := func(name string) *Group {
		g := m[name]
		if g == nil {
			g = &Group{Name: name}
			m[name] = g
		}
		return g
	}
	compliant := 0
	for i := range ev.Cases {
		r := &ev.Cases[i]
		touched := map[string]bool{}
		touch := func(name string) *Group {
			g := group(name)
			if !touched[name] {
				touched[name] = true
				g.Cases++
			}
			return g
		}
		switch r.Class {
		case ClassRules:
			for _, w := range r.Rules {
				g := touch(key(w))
				g.ToFind++
				if !slices.Contains(r.Missed, w) {
					g.Found++
				}
			}
		case ClassViolation, ClassReview:
			g := touch("")
			g.ToFind++
			if len(r.Missed) == 0 {
				g.Found++
			}
		case ClassCompliant:
			compliant++
		}
		violated := map[string]bool{}
		for _, f := range r.Findings {
			if r.Class == ClassCompliant && f.Severity == shopwatch.SeverityViolation {
				violated[key(f.Rule)] = true
			}
		}
		for name := range violated {
			touch(name).ViolationOnCompliant++
		}
		for _, id := range r.Got {
			g := touch(key(id))
			g.Fired++
			if !slices.Contains(r.Unexpected, id) {
				g.Correct++
			}
		}
	}
	for _, g := range m {
		g.Compliant = compliant
	}
	return sortedGroups(m)
}

func sortedGroups(m map[string]*Group) []Group {
	out := make([]Group, 0, len(m))
	for _, g := range m {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int { return strings.Compare(a.Name, b.Name) })
	return out
}
