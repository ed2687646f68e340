package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"shopwatch"
)

// goodRule is a valid rule file; line numbers in the tests below count
// from its first line.
const goodRule = `version: 1
rules:
  - id: t.one
    title: {zh: 甲规则, en: Rule A}
    category: test
    law: 《测试法》
    article: 第一条
    severity: violation
    type: terms
    patterns: [甲乙]
    exceptions: [甲乙丙]
    examples:
      positive: [x甲乙x]
      negative: [甲乙丙]
    penalty: 《测试法》第二条
`

func loadMap(t *testing.T, files map[string]string) (*RuleSet, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys["rules/"+name] = &fstest.MapFile{Data: []byte(text)}
	}
	return LoadFS(fsys, "rules")
}

// wantProblem checks that err is a LoadError holding a problem at file:line
// whose text contains msg.
func wantProblem(t *testing.T, err error, file string, line int, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("load succeeded, want a problem at %s:%d: %s", file, line, msg)
	}
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a *LoadError", err)
	}
	for _, p := range le.Problems {
		if p.File == file && p.Line == line && strings.Contains(p.Msg, msg) {
			if !strings.Contains(err.Error(), p.Error()) {
				t.Errorf("error text %q does not list %q", err, p.Error())
			}
			return
		}
	}
	t.Fatalf("no problem at %s:%d containing %q in:\n%v", file, line, msg, err)
}

func TestLoadGood(t *testing.T) {
	rs, err := loadMap(t, map[string]string{"a.yaml": goodRule})
	if err != nil {
		t.Fatal(err)
	}
	got := rs.Rules()
	if len(got) != 1 {
		t.Fatalf("got %d rules, want 1", len(got))
	}
	r := got[0]
	if r.ID != "t.one" || r.Title.Zh != "甲规则" || r.Title.En != "Rule A" || r.Law != "《测试法》" || r.Article != "第一条" ||
		r.Severity != shopwatch.SeverityViolation || r.Type != TypeTerms || r.Source != "rules/a.yaml:3" {
		t.Errorf("rule = %+v", r)
	}
	// Rules returns copies.
	got[0].Patterns[0] = "changed"
	if rs.Rules()[0].Patterns[0] != "甲乙" {
		t.Error("Rules() shares its slices with the rule set")
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name string
		old  string // replaced in goodRule
		new  string
		line int
		msg  string
	}{
		{"unknown field", "    type: terms\n", "    type: terms\n    colour: red\n", 10, `unknown field "colour"`},
		{"unknown title field", "{zh: 甲规则, en: Rule A}", "{zh: 甲规则, en: Rule A, fr: Règle}", 4, `unknown field "fr"`},
		{"repeated field", "    article: 第一条\n", "    article: 第一条\n    article: 第二条\n", 8, `field "article" repeated`},
		{"missing law", "    law: 《测试法》\n", "", 3, `missing field "law"`},
		{"empty law", "    law: 《测试法》\n", "    law: \"\"\n", 6, `field "law" is empty`},
		{"missing id", "  - id: t.one\n    title", "  - title", 3, `missing field "id"`},
		{"bad id", "id: t.one", "id: T One", 3, "bad rule id"},
		{"bad severity", "severity: violation", "severity: fatal", 8, `unknown severity "fatal"`},
		{"bad type", "type: terms", "type: magic", 9, `unknown type "magic"`},
		{"bad kind", "    type: terms\n", "    type: terms\n    applies_to: {kinds: [shop]}\n", 10, `unknown page kind "shop"`},
		{"missing examples", "    examples:\n      positive: [x甲乙x]\n      negative: [甲乙丙]\n", "", 3, `missing field "examples"`},
		{"empty negative examples", "      negative: [甲乙丙]\n", "      negative: []\n", 14, "want a non-empty list"},
		{"failing positive example", "positive: [x甲乙x]", "positive: [x甲丙x]", 13, "raises no finding"},
		{"failing negative example", "negative: [甲乙丙]", "negative: [甲乙丁]", 14, `raises a finding on "甲乙"`},
		{"example with wrong match", "positive: [x甲乙x]", "positive: [{text: x甲乙x, match: 甲}]", 13, `want "甲"`},
		{"dead exception", "exceptions: [甲乙丙]", "exceptions: [甲乙丙, 丁戊]", 11, `exception "丁戊" contains none`},
		{"pattern with trailing punctuation", "patterns: [甲乙]", "patterns: [甲乙, '丙丁：']", 10, "ends with punctuation"},
		{"pattern that normalises to nothing", "patterns: [甲乙]", "patterns: [甲乙, \"\\u200b\"]", 10, "empty once normalised"},
		{"duplicate pattern", "patterns: [甲乙]", "patterns: [甲乙, 甲 乙]", 10, "repeats"},
		{"regex on a terms rule", "    type: terms\n", "    type: terms\n    regex: ['a+']\n", 10, `field "regex" is not used by terms rules`},
		{"bad regex", "    type: terms\n    patterns: [甲乙]\n", "    type: regex\n    regex: ['甲乙', '(unclosed']\n", 10, `bad regex "(unclosed"`},
		{"regex matching empty", "    type: terms\n    patterns: [甲乙]\n", "    type: regex\n    regex: ['甲乙', 'x*']\n", 10, "matches the empty string"},
		{"window on terms", "    type: terms\n", "    type: terms\n    window: 10\n", 10, `field "window" is not used`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(goodRule, tt.old) {
				t.Fatalf("test setup: %q not in goodRule", tt.old)
			}
			text := strings.Replace(goodRule, tt.old, tt.new, 1)
			_, err := loadMap(t, map[string]string{"a.yaml": text})
			wantProblem(t, err, "rules/a.yaml", tt.line, tt.msg)
			if !strings.HasPrefix(err.Error(), "load rules rules: ") {
				t.Errorf("error %q does not name the directory", err)
			}
		})
	}
}

// A YAML syntax error names the file and the line the parser reports
// (go.yaml.in/yaml/v3 reports some flow-collection errors one line early,
// at the line before the one holding the bracket).
func TestLoadYAMLSyntaxError(t *testing.T) {
	text := strings.Replace(goodRule, "    category: test\n", "    category: [test\n", 1)
	_, err := loadMap(t, map[string]string{"a.yaml": text})
	var le *LoadError
	if !errors.As(err, &le) || len(le.Problems) != 1 {
		t.Fatalf("error %v, want one problem", err)
	}
	p := le.Problems[0]
	if p.File != "rules/a.yaml" || p.Line < 4 || p.Line > 5 || !strings.Contains(p.Msg, "yaml:") {
		t.Errorf("problem %+v, want rules/a.yaml at line 4 or 5", p)
	}
}

func TestLoadDuplicateIDAcrossFiles(t *testing.T) {
	_, err := loadMap(t, map[string]string{"a.yaml": goodRule, "b.yaml": goodRule})
	wantProblem(t, err, "rules/b.yaml", 3, "duplicate rule id (first defined at rules/a.yaml:3)")
}

// One load reports every problem of every file, sorted by file and line.
func TestLoadReportsAllProblems(t *testing.T) {
	bad1 := strings.Replace(goodRule, "severity: violation", "severity: fatal", 1)
	bad1 = strings.Replace(bad1, "    type: terms\n", "    type: terms\n    colour: red\n", 1)
	bad2 := strings.Replace(goodRule, "id: t.one", "id: t.two", 1)
	bad2 = strings.Replace(bad2, "    law: 《测试法》\n", "", 1)
	bad2 = strings.Replace(bad2, "exceptions: [甲乙丙]", "exceptions: [甲乙丙, 丁戊]", 1)
	_, err := loadMap(t, map[string]string{"a.yaml": bad1, "b.yaml": bad2})
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a *LoadError", err)
	}
	want := []string{
		`rules/a.yaml:8:15: rule t.one: unknown severity "fatal"`,
		`rules/a.yaml:10:5: rule t.one: rule: unknown field "colour"`,
		`rules/b.yaml:3:5: rule t.two: missing field "law"`,
		`rules/b.yaml:10:23: rule t.two: exception "丁戊" contains none`,
	}
	if len(le.Problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(le.Problems), len(want), err)
	}
	for i, p := range le.Problems {
		if !strings.HasPrefix(p.Error(), want[i]) {
			t.Errorf("problem %d = %q, want prefix %q", i, p.Error(), want[i])
		}
	}
	var p Problem
	if !errors.As(err, &p) || p.File != "rules/a.yaml" {
		t.Errorf("errors.As(Problem) = %+v", p)
	}
}

func TestLoadDirNamesPaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ok.yaml"), []byte(goodRule), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(dir); err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	bad := strings.Replace(goodRule, "    type: terms\n    patterns: [甲乙]\n", "    type: regex\n    regex: ['[z-a]']\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "ok.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDir(dir)
	wantProblem(t, err, filepath.Join(dir, "ok.yaml"), 10, "bad regex")
}

func TestLoadNoFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "no *.yaml") || !strings.Contains(err.Error(), dir) {
		t.Errorf("empty directory: %v, want an error naming %s and saying there are no rule files", err, dir)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := LoadDir(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing directory: %v, want an error naming it", err)
	}
}

func TestDefaultLoads(t *testing.T) {
	rs, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Default()
	if rs != again {
		t.Error("Default() loads the rule set again on every call")
	}
	// The v1 rule catalogue is a contract with the marketplace simulator:
	// those rules keep their ids, legal basis and severity.
	want := map[string]struct {
		category string
		severity shopwatch.Severity
		law      string
		article  string
	}{
		"ad.absolute-term":              {"advertising", "violation", "《中华人民共和国广告法》", "第九条第三项"},
		"ad.medical-claim-food":         {"advertising", "violation", "《中华人民共和国食品安全法》", "第七十三条"},
		"ad.medical-claim-cosmetics":    {"advertising", "violation", "《化妆品监督管理条例》", "第三十七条"},
		"licence.business-info-missing": {"licence", "violation", "《中华人民共和国电子商务法》", "第十五条"},
		"licence.uscc-invalid":          {"licence", "review", "《中华人民共和国电子商务法》", "第十五条"},
		"licence.food-permit-missing":   {"licence", "violation", "《中华人民共和国电子商务法》", "第十五条"},
		"licence.icp-missing":           {"licence", "review", "《非经营性互联网信息服务备案管理办法》", "第十三条"},
	}
	got := map[string]Rule{}
	for _, r := range rs.Rules() {
		got[r.ID] = r
		if r.Title.Zh == "" || r.Title.En == "" || r.Law == "" || r.Article == "" || r.Penalty == "" {
			t.Errorf("%s: incomplete legal basis or title: %+v", r.ID, r)
		}
		if len(r.Examples.Positive) == 0 || len(r.Examples.Negative) == 0 {
			t.Errorf("%s: rule without positive and negative examples", r.ID)
		}
	}
	for id, w := range want {
		r, ok := got[id]
		if !ok {
			t.Errorf("v1 rule %s missing", id)
			continue
		}
		if r.Category != w.category || r.Severity != w.severity || r.Law != w.law || r.Article+r.Item != w.article {
			t.Errorf("%s: %s %s %s %s%s, want %+v", r.ID, r.Category, r.Severity, r.Law, r.Article, r.Item, w)
		}
	}
}

func writeFile(path, text string) error { return os.WriteFile(path, []byte(text), 0o644) }
