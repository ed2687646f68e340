package rules

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"shopwatch"
	"shopwatch/configs"
)

// Problem is one thing wrong with a rule file, located by file, line and
// column (1-based; 0 when unknown).
type Problem struct {
	File   string
	Line   int
	Column int
	Rule   string // id of the rule concerned, when known
	Msg    string
}

// Error formats the problem as file:line:column: rule id: message.
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	}
	b.WriteString(": ")
	if p.Rule != "" {
		fmt.Fprintf(&b, "rule %s: ", p.Rule)
	}
	b.WriteString(p.Msg)
	return b.String()
}

// LoadError lists every problem found while loading a rule set. Loading
// goes on past the first problem so that one run shows them all. Problems
// are sorted by file and line. errors.As finds the LoadError in the error
// LoadFS and LoadDir return, and, through Unwrap, each Problem.
type LoadError struct {
	Problems []Problem
}

// Error lists the problems, one per line after the first.
func (e *LoadError) Error() string {
	switch len(e.Problems) {
	case 0:
		return "no problems"
	case 1:
		return e.Problems[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems, so errors.As can reach each one.
func (e *LoadError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// LoadFS loads every *.yaml and *.yml file directly in dir of fsys (in name
// order) as one rule set. It compiles the rules, then runs every rule's own
// examples. Any problem — a YAML syntax error, an unknown or repeated
// field, a missing id, title, law or severity, an unknown severity, type or
// page kind, a bad regular expression, a duplicate rule id, an exception
// that can never apply, an example that does not behave — makes it fail
// with a *LoadError (wrapped, naming dir) that lists every problem found.
func LoadFS(fsys fs.FS, dir string) (*RuleSet, error) {
	return LoadFSWith(fsys, dir, Options{})
}

// LoadDir is LoadFS on a directory of the local file system. Problems name
// files by their path under dir.
func LoadDir(dir string) (*RuleSet, error) {
	return LoadDirWith(dir, Options{})
}

// Options change how a rule set is loaded.
type Options struct {
	// SkipExamples loads the rules without running their examples; every
	// other check still applies. RuleSet.RunExamples runs them later.
	SkipExamples bool
}

// LoadFSWith is LoadFS with options.
func LoadFSWith(fsys fs.FS, dir string, opt Options) (*RuleSet, error) {
	return loadFS(fsys, dir, dir, func(name string) string { return path.Join(dir, name) }, opt)
}

// LoadDirWith is LoadDir with options.
func LoadDirWith(dir string, opt Options) (*RuleSet, error) {
	return loadFS(os.DirFS(dir), ".", dir, func(name string) string { return filepath.Join(dir, name) }, opt)
}

// LoadFiles loads the named rule files of the local file system as one rule
// set, as LoadDir loads a directory. Problems name files as given.
func LoadFiles(paths []string, opt Options) (*RuleSet, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("load rules: no files")
	}
	l := &loader{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			l.problems = append(l.problems, Problem{File: p, Msg: err.Error()})
			continue
		}
		l.file = p
		l.parseFile(data)
	}
	return l.finish(strings.Join(paths, ", "), opt)
}

var defaultSet = sync.OnceValues(func() (*RuleSet, error) {
	return LoadFS(configs.FS, "rules")
})

// Default returns the built-in rule set (configs/rules). It is loaded once;
// every call returns the same RuleSet, which is safe for concurrent use.
func Default() (*RuleSet, error) {
	return defaultSet()
}

// loadFS loads dir of fsys; label names the directory in errors and
// display names a file in problems.
func loadFS(fsys fs.FS, dir, label string, display func(string) string, opt Options) (*RuleSet, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("load rules %s: %w", label, err)
	}
	l := &loader{}
	nfiles := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		nfiles++
		data, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			l.problems = append(l.problems, Problem{File: display(name), Msg: err.Error()})
			continue
		}
		l.file = display(name)
		l.parseFile(data)
	}
	if nfiles == 0 && len(l.problems) == 0 {
		return nil, fmt.Errorf("load rules %s: no *.yaml rule files", label)
	}
	return l.finish(label, opt)
}

// finish compiles the parsed rules and reports every problem found.
func (l *loader) finish(label string, opt Options) (*RuleSet, error) {
	l.skipExamples = opt.SkipExamples
	rs := l.build()
	if len(l.problems) > 0 {
		slices.SortStableFunc(l.problems, func(a, b Problem) int {
			if a.File != b.File {
				return strings.Compare(a.File, b.File)
			}
			return a.Line - b.Line
		})
		return nil, fmt.Errorf("load rules %s: %w", label, &LoadError{Problems: l.problems})
	}
	return rs, nil
}

// srcItem is one string from a rule file with its position.
type srcItem struct {
	val       string
	line, col int
}

// ruleSrc is a parsed rule with the positions needed to report problems
// found while compiling it.
type ruleSrc struct {
	Rule
	file       string
	line, col  int
	fields     map[string]*yaml.Node
	patterns   []srcItem
	regex      []srcItem
	exceptions []excSrc
	needs      []excSrc
	unless     []srcItem
	yieldsTo   []srcItem
	defersTo   []srcItem
	onlyWith   []srcItem
	positive   []exampleSrc
	negative   []exampleSrc
	dup        bool // a later rule with an id already taken
}

// excSrc is a parsed exception with its position and the positions of its
// parts.
type excSrc struct {
	Exception
	line, col int
	re        srcItem // the expression of a context exception
	refer     srcItem
	forItems  []srcItem
	list      string // the lexicon list a text exception was drawn from
}

type exampleSrc struct {
	Example
	line, col int
}

type loader struct {
	file         string
	problems     []Problem
	rules        []*ruleSrc
	skipExamples bool
}

// pos is a position in a rule file.
type pos struct{ line, col int }

func nodePos(n *yaml.Node) pos {
	if n == nil {
		return pos{}
	}
	return pos{n.Line, n.Column}
}

func (l *loader) problem(n *yaml.Node, rule, format string, args ...any) {
	l.problemAt(l.file, nodePos(n), rule, format, args...)
}

func (l *loader) problemAt(file string, p pos, rule, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: file, Line: p.line, Column: p.col, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func (l *loader) parseFile(data []byte) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p := Problem{File: l.file, Msg: err.Error()}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
		}
		l.problems = append(l.problems, p)
		return
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		l.problems = append(l.problems, Problem{File: l.file, Msg: "empty rule file"})
		return
	}
	top := l.fields(doc.Content[0], "", "rule file", "version", "description", "rules")
	if top == nil {
		return
	}
	if v := top["version"]; v != nil {
		if s, ok := l.scalar(v, ""); ok && s != "1" {
			l.problem(v, "", "unsupported rule file version %q (want 1)", s)
		}
	}
	if d := top["description"]; d != nil {
		l.scalar(d, "")
	}
	rules := top["rules"]
	if rules == nil {
		l.problem(doc.Content[0], "", "missing field \"rules\"")
		return
	}
	rules = resolve(rules)
	if rules.Kind != yaml.SequenceNode {
		l.problem(rules, "", "rules: want a list of rules")
		return
	}
	for _, n := range rules.Content {
		if r := l.parseRule(n); r != nil {
			l.rules = append(l.rules, r)
		}
	}
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// fields checks that n is a mapping with only the known keys, each once,
// and returns the values by key. It reports problems and returns nil when n
// is not a mapping.
func (l *loader) fields(n *yaml.Node, rule, what string, known ...string) map[string]*yaml.Node {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		l.problem(n, rule, "%s: want a mapping", what)
		return nil
	}
	m := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if !slices.Contains(known, key) {
			l.problem(k, rule, "%s: unknown field %q (known: %s)", what, key, strings.Join(known, ", "))
			continue
		}
		if prev, dup := m[key]; dup {
			l.problem(k, rule, "%s: field %q repeated (first at line %d)", what, key, prev.Line)
			continue
		}
		m[key] = v
	}
	return m
}

// scalar returns the text of a scalar node.
func (l *loader) scalar(n *yaml.Node, rule string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.problem(n, rule, "want a single value")
		return "", false
	}
	var s string
	if err := n.Decode(&s); err != nil {
		l.problem(n, rule, "%v", err)
		return "", false
	}
	return s, true
}

// list returns the scalars of a sequence node; a single scalar counts as a
// list of one.
func (l *loader) list(n *yaml.Node, rule, what string) []srcItem {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		s, _ := l.scalar(n, rule)
		return []srcItem{{s, n.Line, n.Column}}
	}
	if n.Kind != yaml.SequenceNode {
		l.problem(n, rule, "%s: want a list", what)
		return nil
	}
	out := make([]srcItem, 0, len(n.Content))
	for _, c := range n.Content {
		c = resolve(c)
		if s, ok := l.scalar(c, rule); ok {
			out = append(out, srcItem{s, c.Line, c.Column})
		}
	}
	return out
}

var ruleFields = []string{
	"id", "title", "category", "law", "article", "item", "also", "penalty", "severity", "applies_to", "type",
	"scope", "regions", "validator", "patterns", "lexicon", "regex", "exceptions", "needs", "unless", "yields_to", "defers_to", "only_with", "enabled",
	"window", "reason", "examples",
}

var ruleIDPattern = regexp.MustCompile(`^[a-z0-9]+(\.[a-z0-9]+(-[a-z0-9]+)*)+$`)

func (l *loader) parseRule(n *yaml.Node) *ruleSrc {
	n = resolve(n)
	r := &ruleSrc{file: l.file, line: n.Line, col: n.Column}
	r.Source = fmt.Sprintf("%s:%d", l.file, n.Line)
	// The id first, so that every later problem can name the rule.
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "id" {
				if s, ok := l.scalar(n.Content[i+1], ""); ok {
					r.ID = s
				}
				break
			}
		}
	}
	f := l.fields(n, r.ID, "rule", ruleFields...)
	if f == nil {
		return nil
	}
	r.fields = f
	id := r.ID
	str := func(key string, required bool) string {
		v := f[key]
		if v == nil {
			if required {
				l.problem(n, id, "missing field %q", key)
			}
			return ""
		}
		s, _ := l.scalar(v, id)
		s = strings.TrimSpace(s)
		if s == "" && required {
			l.problem(v, id, "field %q is empty", key)
		}
		return s
	}
	if f["id"] == nil {
		l.problem(n, "", "missing field \"id\"")
	} else if !ruleIDPattern.MatchString(id) {
		l.problem(f["id"], "", "bad rule id %q (want lower-case dotted words, e.g. ad.absolute-term)", id)
	}
	if t := f["title"]; t == nil {
		l.problem(n, id, "missing field \"title\"")
	} else if tf := l.fields(t, id, "title", "zh", "en"); tf != nil {
		for _, lang := range []string{"zh", "en"} {
			v := tf[lang]
			if v == nil {
				l.problem(t, id, "title: missing %q", lang)
				continue
			}
			s, _ := l.scalar(v, id)
			if strings.TrimSpace(s) == "" {
				l.problem(v, id, "title: %q is empty", lang)
			}
			if lang == "zh" {
				r.Title.Zh = strings.TrimSpace(s)
			} else {
				r.Title.En = strings.TrimSpace(s)
			}
		}
	}
	r.Category = strings.ToLower(str("category", true))
	r.Law = str("law", true)
	r.Article = str("article", true)
	r.Item = str("item", false)
	r.Penalty = str("penalty", true)
	r.Reason = str("reason", false)
	r.Validator = str("validator", false)
	if v := f["enabled"]; v != nil {
		if s, ok := l.scalar(v, id); ok {
			switch s {
			case "true":
			case "false":
				r.Disabled = true
			default:
				l.problem(v, id, "enabled %q: want true or false", s)
			}
		}
	}
	if sc := str("scope", false); sc != "" {
		switch s := Scope(sc); s {
		case ScopeText, ScopeImages, ScopeLinks:
			r.Scope = s
		default:
			l.problem(f["scope"], id, "unknown scope %q (want text, images or links)", sc)
		}
	}
	if v := f["regions"]; v != nil {
		items := l.list(v, id, "regions")
		if len(items) == 0 {
			l.problem(v, id, "regions: want at least one region")
		}
		for _, it := range items {
			rg, err := shopwatch.ParseRegion(it.val)
			if err != nil {
				l.problems = append(l.problems, Problem{File: l.file, Line: it.line, Column: it.col, Rule: id, Msg: err.Error()})
				continue
			}
			if slices.Contains(r.Regions, rg) {
				l.problems = append(l.problems, Problem{File: l.file, Line: it.line, Column: it.col, Rule: id, Msg: fmt.Sprintf("region %q listed twice", rg)})
				continue
			}
			r.Regions = append(r.Regions, rg)
		}
	} else if r.Category != "" {
		r.Regions = DefaultRegions(r.Category)
	}
	if v := f["also"]; v != nil {
		for _, it := range l.list(v, id, "also") {
			r.Also = append(r.Also, strings.TrimSpace(it.val))
		}
	}
	if sev := str("severity", true); sev != "" {
		switch s := shopwatch.Severity(sev); s {
		case shopwatch.SeverityViolation, shopwatch.SeverityReview, shopwatch.SeverityInfo:
			r.Severity = s
		default:
			l.problem(f["severity"], id, "unknown severity %q (want violation, review or info)", sev)
		}
	}
	if typ := str("type", true); typ != "" {
		switch t := Type(typ); t {
		case TypeTerms, TypeRegex, TypeRequire, TypeCode:
			r.Type = t
		case TypeUSCC:
			r.Type = TypeCode
			if r.Validator == "" {
				r.Validator = "uscc"
			}
		default:
			l.problem(f["type"], id, "unknown type %q (want terms, regex, require or code)", typ)
		}
	}
	if a := f["applies_to"]; a != nil {
		if af := l.fields(a, id, "applies_to", "kinds", "categories", "not_categories"); af != nil {
			if v := af["kinds"]; v != nil {
				for _, it := range l.list(v, id, "applies_to.kinds") {
					k, err := shopwatch.ParseKind(it.val)
					if err != nil {
						l.problems = append(l.problems, Problem{File: l.file, Line: it.line, Column: it.col, Rule: id, Msg: err.Error()})
						continue
					}
					r.AppliesTo.Kinds = append(r.AppliesTo.Kinds, k)
				}
			}
			if v := af["categories"]; v != nil {
				for _, it := range l.list(v, id, "applies_to.categories") {
					c := normCategory(it.val)
					if c == "" {
						l.problems = append(l.problems, Problem{File: l.file, Line: it.line, Column: it.col, Rule: id, Msg: "empty product category"})
						continue
					}
					r.AppliesTo.Categories = append(r.AppliesTo.Categories, c)
				}
			}
			if v := af["not_categories"]; v != nil {
				for _, it := range l.list(v, id, "applies_to.not_categories") {
					c := normCategory(it.val)
					if c == "" {
						l.problems = append(l.problems, Problem{File: l.file, Line: it.line, Column: it.col, Rule: id, Msg: "empty product category"})
						continue
					}
					r.AppliesTo.NotCategories = append(r.AppliesTo.NotCategories, c)
				}
			}
		}
	}
	if v := f["patterns"]; v != nil {
		r.patterns = l.list(v, id, "patterns")
	}
	if v := f["lexicon"]; v != nil {
		// Word lists of the lexicon (configs/lexicon/claims.yaml) as more
		// patterns, each at the position of the list's name.
		have := map[string]bool{}
		for _, it := range r.patterns {
			have[it.val] = true
		}
		for _, it := range l.list(v, id, "lexicon") {
			words, ok := lex().lists[it.val]
			if !ok {
				l.problem(v, id, "lexicon: unknown list %q (known: %s)", it.val, strings.Join(listNames(), ", "))
				continue
			}
			r.Lexicon = append(r.Lexicon, it.val)
			for _, w := range words {
				if !have[w] {
					have[w] = true
					r.patterns = append(r.patterns, srcItem{w, it.line, it.col})
				}
			}
		}
	}
	if v := f["regex"]; v != nil {
		r.regex = l.list(v, id, "regex")
	}
	if v := f["exceptions"]; v != nil {
		r.exceptions = l.exceptions(v, id)
	}
	if v := f["needs"]; v != nil {
		for _, x := range l.exceptions(v, id) {
			if x.Text != "" || x.Refer != "" || len(x.forItems) > 0 {
				l.problem(v, id, "needs: want before, after, clause or sentence expressions (and a note), not text, for or refer")
				continue
			}
			r.needs = append(r.needs, x)
		}
	}
	if v := f["unless"]; v != nil {
		r.unless = l.list(v, id, "unless")
	}
	if v := f["yields_to"]; v != nil {
		r.yieldsTo = l.list(v, id, "yields_to")
	}
	if v := f["defers_to"]; v != nil {
		r.defersTo = l.list(v, id, "defers_to")
	}
	if v := f["only_with"]; v != nil {
		r.onlyWith = l.list(v, id, "only_with")
	}
	for _, it := range r.patterns {
		r.Patterns = append(r.Patterns, it.val)
	}
	for _, it := range r.regex {
		r.Regex = append(r.Regex, it.val)
	}
	for _, x := range r.exceptions {
		r.Exceptions = append(r.Exceptions, x.Exception)
	}
	for _, x := range r.needs {
		r.Needs = append(r.Needs, x.Exception)
	}
	for _, it := range r.unless {
		r.Unless = append(r.Unless, it.val)
	}
	for _, it := range r.yieldsTo {
		r.YieldsTo = append(r.YieldsTo, it.val)
	}
	for _, it := range r.defersTo {
		r.DefersTo = append(r.DefersTo, it.val)
	}
	for _, it := range r.onlyWith {
		r.OnlyWith = append(r.OnlyWith, it.val)
	}
	if v := f["window"]; v != nil {
		if s, ok := l.scalar(v, id); ok {
			w, err := strconv.Atoi(s)
			if err != nil || w < 1 || w > 200 {
				l.problem(v, id, "window %q: want a whole number of characters from 1 to 200", s)
			} else {
				r.Window = w
			}
		}
	}
	if e := f["examples"]; e == nil {
		l.problem(n, id, "missing field \"examples\" (every rule needs positive and negative examples)")
	} else if ef := l.fields(e, id, "examples", "positive", "negative"); ef != nil {
		r.positive = l.examples(ef["positive"], e, id, "positive")
		r.negative = l.examples(ef["negative"], e, id, "negative")
		for _, x := range r.positive {
			r.Examples.Positive = append(r.Examples.Positive, x.Example)
		}
		for _, x := range r.negative {
			r.Examples.Negative = append(r.Examples.Negative, x.Example)
		}
	}
	return r
}

func (l *loader) examples(n, parent *yaml.Node, id, which string) []exampleSrc {
	if n == nil {
		l.problem(parent, id, "examples: missing %q", which)
		return nil
	}
	n = resolve(n)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		l.problem(n, id, "examples.%s: want a non-empty list", which)
		return nil
	}
	var out []exampleSrc
	for _, c := range n.Content {
		c = resolve(c)
		x := exampleSrc{line: c.Line, col: c.Column}
		x.Source = fmt.Sprintf("%s:%d", l.file, c.Line)
		switch c.Kind {
		case yaml.ScalarNode:
			x.Text, _ = l.scalar(c, id)
		case yaml.MappingNode:
			known := []string{"text", "html", "kind", "category"}
			if which == "positive" {
				known = append(known, "match")
			}
			ef := l.fields(c, id, "examples."+which, known...)
			if ef == nil {
				continue
			}
			if v := ef["text"]; v == nil {
				l.problem(c, id, "examples.%s: missing \"text\"", which)
			} else {
				x.Text, _ = l.scalar(v, id)
			}
			if v := ef["match"]; v != nil {
				x.Match, _ = l.scalar(v, id)
			}
			if v := ef["html"]; v != nil {
				x.HTML, _ = l.scalar(v, id)
			}
			if v := ef["category"]; v != nil {
				s, _ := l.scalar(v, id)
				x.Category = normCategory(s)
			}
			if v := ef["kind"]; v != nil {
				s, _ := l.scalar(v, id)
				k, err := shopwatch.ParseKind(s)
				if err != nil {
					l.problem(v, id, "%v", err)
				}
				x.Kind = k
			}
		default:
			l.problem(c, id, "examples.%s: want a text or a mapping with text", which)
			continue
		}
		out = append(out, x)
	}
	return out
}

var exceptionFields = []string{"text", "before", "after", "clause", "sentence", "for", "note", "refer"}

// exceptions parses a rule's exceptions: each a literal text, or a mapping
// with exactly one of text, before, after, clause and sentence, and
// optional for, note and refer.
func (l *loader) exceptions(n *yaml.Node, id string) []excSrc {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		l.problem(n, id, "exceptions: want a list")
		return nil
	}
	var out []excSrc
	for _, c := range n.Content {
		c = resolve(c)
		x := excSrc{line: c.Line, col: c.Column}
		if c.Kind == yaml.ScalarNode {
			s, ok := l.scalar(c, id)
			if !ok {
				continue
			}
			if m := listRef.FindStringSubmatch(s); m != nil && m[0] == s {
				// {{name}}: every word of a lexicon list as a text
				// exception (the catalogue's wording of a claim covers
				// the words of a pattern it holds).
				words, ok := lex().lists[m[1]]
				if !ok {
					l.problem(c, id, "exceptions: unknown lexicon list %q (known: %s)", m[1], strings.Join(listNames(), ", "))
					continue
				}
				for _, w := range words {
					y := x
					y.Text = w
					y.re = srcItem{w, c.Line, c.Column}
					y.list = m[1]
					out = append(out, y)
				}
				continue
			}
			x.Text = s
			x.re = srcItem{s, c.Line, c.Column}
			out = append(out, x)
			continue
		}
		ef := l.fields(c, id, "exception", exceptionFields...)
		if ef == nil {
			continue
		}
		set := 0
		for _, key := range []string{"text", "before", "after", "clause", "sentence"} {
			v := ef[key]
			if v == nil {
				continue
			}
			set++
			s, ok := l.scalar(v, id)
			if !ok {
				continue
			}
			x.re = srcItem{s, v.Line, v.Column}
			switch key {
			case "text":
				x.Text = s
			case "before":
				x.Before = s
			case "after":
				x.After = s
			case "clause":
				x.Clause = s
			case "sentence":
				x.Sentence = s
			}
		}
		if set != 1 {
			l.problem(c, id, "exception: want exactly one of text, before, after, clause and sentence")
			continue
		}
		if v := ef["note"]; v != nil {
			x.Note, _ = l.scalar(v, id)
		}
		if v := ef["refer"]; v != nil {
			if s, ok := l.scalar(v, id); ok {
				x.Refer = s
				x.refer = srcItem{s, v.Line, v.Column}
			}
		}
		if v := ef["for"]; v != nil {
			if x.Text != "" {
				l.problem(v, id, "exception: for only applies to context exceptions (a text exception applies to the patterns it contains)")
			}
			x.forItems = l.list(v, id, "exception.for")
			for _, it := range x.forItems {
				x.For = append(x.For, it.val)
			}
		}
		out = append(out, x)
	}
	return out
}

func normCategory(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}
