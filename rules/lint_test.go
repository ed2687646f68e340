package rules

import (
	"strings"
	"testing"
)

// Lint names a pattern two rules judging the same pages share, and a
// pattern its own exception always covers; rules judging different
// categories may share patterns.
func TestLint(t *testing.T) {
	two := strings.Replace(goodRule, "t.one", "t.two", 1)
	rs, err := loadMap(t, map[string]string{"a.yaml": goodRule, "b.yaml": two})
	if err != nil {
		t.Fatal(err)
	}
	ps := rs.Lint()
	var shared bool
	for _, p := range ps {
		if p.Rule == "t.two" && p.File == "rules/b.yaml" && p.Line > 0 && strings.Contains(p.Msg, "also a pattern of t.one") {
			shared = true
		}
	}
	if !shared {
		t.Errorf("no shared-pattern problem: %v", ps)
	}

	apart := strings.Replace(two, "    type: terms\n", "    applies_to: {categories: [drug]}\n    type: terms\n", 1)
	first := strings.Replace(goodRule, "    type: terms\n", "    applies_to: {categories: [food]}\n    type: terms\n", 1)
	rs, err = loadMap(t, map[string]string{"a.yaml": first, "b.yaml": apart})
	if err != nil {
		t.Fatal(err)
	}
	if ps := rs.Lint(); len(ps) != 0 {
		t.Errorf("rules of different categories: %v", ps)
	}

	if ps := builtin(t).Lint(); len(ps) != 0 {
		for _, p := range ps {
			t.Errorf("built-in rules: %s", p.Error())
		}
	}
}

// A pattern its own exception equals can never fire.
func TestLintShadowedPattern(t *testing.T) {
	src := strings.Replace(goodRule, "    patterns: [甲乙]\n", "    patterns: [甲乙, 丙丁]\n", 1)
	src = strings.Replace(src, "    exceptions: [甲乙丙]\n", "    exceptions: [甲乙丙, 丙 丁]\n", 1)
	rs, err := loadMap(t, map[string]string{"a.yaml": src})
	if err != nil {
		t.Fatal(err)
	}
	ps := rs.Lint()
	if len(ps) != 1 || !strings.Contains(ps[0].Msg, `"丙丁" can never fire`) || ps[0].Line != 3 {
		t.Errorf("lint: %v", ps)
	}
}
