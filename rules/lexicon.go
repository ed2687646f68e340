package rules

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"shopwatch/configs"
)

// The lexicon is the data the normaliser and the category detector read:
// configs/lexicon/traditional.yaml (traditional → simplified characters),
// variants.yaml (look-alike characters and evasion spellings) and
// categories.yaml (product categories and the words that name them). It is
// built into the binary and loaded once; a broken lexicon is a build
// defect, so the functions that need it panic when it does not load and
// TestLexicon reports why.

// lexicon is the parsed lexicon.
type lexicon struct {
	// cjkFold maps an ideograph in U+4E00–U+9FFF (index r-0x4E00) to its
	// folded form, or 0 when it is kept.
	cjkFold [0x9FFF - 0x4E00 + 1]rune
	// fold maps every other folded rune to its folded form (one or more
	// runes, already normalised).
	fold map[rune][]rune
	// spellings are the evasion spellings of pattern text, normalised.
	spellings []spelling
	// categories are the product categories and their words, normalised.
	categories []categoryWords
	// traditional holds the characters traditional.yaml folds (for
	// explaining a fold, not for folding).
	traditional map[rune]bool
	// lists are the word lists of claims.yaml (diseases, effect verbs …)
	// and diseases.yaml (diseases-std)
	// that rules draw patterns from (lexicon:) and expressions name
	// ({{name}}), as written.
	lists map[string][]string
}

type spelling struct {
	key  string
	alts []string
}

type categoryWords struct {
	id    string
	words []string
}

var (
	lexOnce sync.Once
	lexVal  *lexicon
	lexErr  error
)

// builtinLexicon loads the built-in lexicon once.
func builtinLexicon() (*lexicon, error) {
	lexOnce.Do(func() { lexVal, lexErr = loadLexicon(configs.FS, "lexicon") })
	return lexVal, lexErr
}

// lex returns the built-in lexicon.
func lex() *lexicon {
	l, err := builtinLexicon()
	if err != nil {
		panic("rules: built-in lexicon: " + err.Error())
	}
	return l
}

// foldOf returns the folded form of r, or nil when r is kept.
func (l *lexicon) foldOf(r rune) []rune {
	if 0x4E00 <= r && r <= 0x9FFF {
		if f := l.cjkFold[r-0x4E00]; f != 0 {
			return []rune{f}
		}
		return nil
	}
	return l.fold[r]
}

type lexFile struct {
	Version     int                 `yaml:"version"`
	Traditional string              `yaml:"traditional"`
	Characters  map[string]string   `yaml:"characters"`
	Spellings   map[string][]string `yaml:"spellings"`
	Categories  map[string][]string `yaml:"categories"`
	Lists       map[string][]string `yaml:"lists"`
}

// lexiconFiles are the files of the lexicon, in the order they are read.
// diseases.yaml is generated (rules/internal/diseasegen).
var lexiconFiles = []string{"traditional.yaml", "variants.yaml", "categories.yaml", "claims.yaml", "diseases.yaml"}

// maxLexiconFile bounds a lexicon file: the tables are read into memory
// and folded into the normaliser, so a runaway file is refused.
const maxLexiconFile = 4 << 20

var listName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// listNames are the names of the lexicon's word lists, sorted.
func listNames() []string {
	var out []string
	for id := range lex().lists {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

var listRef = regexp.MustCompile(`\{\{([a-z][a-z0-9-]*)\}\}`)

// expandLists replaces each {{name}} in a regular expression with a group
// matching any word of the lexicon's list name, longest first.
func expandLists(src string) (string, error) {
	var bad error
	out := listRef.ReplaceAllStringFunc(src, func(m string) string {
		name := listRef.FindStringSubmatch(m)[1]
		words, ok := lex().lists[name]
		if !ok {
			if bad == nil {
				bad = fmt.Errorf("unknown lexicon list {{%s}} (known: %s)", name, strings.Join(listNames(), ", "))
			}
			return m
		}
		ws := slices.Clone(words)
		slices.SortStableFunc(ws, func(a, b string) int { return len(b) - len(a) })
		for i, w := range ws {
			ws[i] = regexp.QuoteMeta(w)
		}
		return "(?:" + strings.Join(ws, "|") + ")"
	})
	return out, bad
}

// yamlAt is path:line of the first line a YAML error names, or path.
func yamlAt(path string, err error) string {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		return path + ":" + m[1]
	}
	return path
}

func loadLexicon(fsys fs.FS, dir string) (*lexicon, error) {
	l := &lexicon{fold: map[rune][]rune{}, traditional: map[rune]bool{}}
	raw := map[rune]string{}
	var spellings map[string][]string
	var cats map[string][]string
	var catOrder []string
	for _, name := range lexiconFiles {
		path := dir + "/" + name
		data, err := fs.ReadFile(fsys, path)
		if err != nil {
			return nil, fmt.Errorf("lexicon: %w", err)
		}
		if len(data) > maxLexiconFile {
			return nil, fmt.Errorf("lexicon %s:1: %d bytes, more than the %d a lexicon file may hold", path, len(data), maxLexiconFile)
		}
		var f lexFile
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("lexicon %s: %w", yamlAt(path, err), err)
		}
		if f.Version != 1 {
			return nil, fmt.Errorf("lexicon %s: version %d, want 1", name, f.Version)
		}
		for _, pair := range strings.Fields(f.Traditional) {
			rs := []rune(pair)
			if len(rs) != 2 {
				return nil, fmt.Errorf("lexicon %s: entry %q is not two characters", name, pair)
			}
			raw[rs[0]] = string(rs[1])
			l.traditional[rs[0]] = true
		}
		for k, v := range f.Characters {
			rs := []rune(k)
			if len(rs) != 1 || v == "" {
				return nil, fmt.Errorf("lexicon %s: characters: %q: want one character mapped to a non-empty text", name, k)
			}
			if prev, dup := raw[rs[0]]; dup && prev != v {
				return nil, fmt.Errorf("lexicon %s: characters: %q mapped to %q and %q", name, k, prev, v)
			}
			raw[rs[0]] = v
		}
		if f.Spellings != nil {
			spellings = f.Spellings
		}
		for id, words := range f.Lists {
			if !listName.MatchString(id) {
				return nil, fmt.Errorf("lexicon %s: list name %q: want lower-case letters, digits and hyphens", path, id)
			}
			if _, dup := l.lists[id]; dup {
				return nil, fmt.Errorf("lexicon %s: list %q given twice", path, id)
			}
			seen := map[string]bool{}
			for _, w := range words {
				if strings.TrimSpace(w) == "" || seen[w] {
					return nil, fmt.Errorf("lexicon %s: list %q: empty or repeated word %q", path, id, w)
				}
				seen[w] = true
			}
			if l.lists == nil {
				l.lists = map[string][]string{}
			}
			l.lists[id] = words
		}
		if f.Categories != nil {
			cats = f.Categories
			// Keep the file's order for ties between equally long words.
			var doc yaml.Node
			if err := yaml.Unmarshal(data, &doc); err == nil && len(doc.Content) > 0 {
				for i := 0; i+1 < len(doc.Content[0].Content); i += 2 {
					if doc.Content[0].Content[i].Value == "categories" {
						m := doc.Content[0].Content[i+1]
						for j := 0; j+1 < len(m.Content); j += 2 {
							catOrder = append(catOrder, m.Content[j].Value)
						}
					}
				}
			}
		}
	}
	// Resolve the folds: a folded form is itself folded (chains end, and a
	// cycle is an error), then lower-cased, so that folding is idempotent.
	for r := range raw {
		out, err := resolveFold(raw, r)
		if err != nil {
			return nil, fmt.Errorf("lexicon: %w", err)
		}
		if 0x4E00 <= r && r <= 0x9FFF && len(out) == 1 {
			l.cjkFold[r-0x4E00] = out[0]
		} else {
			l.fold[r] = out
		}
	}
	norm := func(s string) string {
		b := normBuf{lx: l}
		b.run(s)
		return string(b.out)
	}
	for k, alts := range spellings {
		nk := norm(k)
		if nk == "" {
			return nil, fmt.Errorf("lexicon: spelling key %q is empty once normalised", k)
		}
		s := spelling{key: nk}
		for _, a := range alts {
			na := norm(a)
			if na == "" || na == nk {
				return nil, fmt.Errorf("lexicon: spelling %q of %q is empty or the same once normalised", a, k)
			}
			s.alts = append(s.alts, na)
		}
		l.spellings = append(l.spellings, s)
	}
	// Longer keys first, so that 第一 is tried before a key inside it.
	slices.SortFunc(l.spellings, func(a, b spelling) int {
		if d := len(b.key) - len(a.key); d != 0 {
			return d
		}
		return strings.Compare(a.key, b.key)
	})
	if len(catOrder) != len(cats) {
		catOrder = catOrder[:0]
		for id := range cats {
			catOrder = append(catOrder, id)
		}
		slices.Sort(catOrder)
	}
	for _, id := range catOrder {
		cw := categoryWords{id: normCategory(id)}
		for _, w := range cats[id] {
			nw := norm(w)
			if nw == "" {
				return nil, fmt.Errorf("lexicon: category %s: word %q is empty once normalised", id, w)
			}
			cw.words = append(cw.words, nw)
		}
		l.categories = append(l.categories, cw)
	}
	return l, nil
}

// resolveFold follows r through the raw fold table to a rune sequence no
// entry changes, lower-cased.
func resolveFold(raw map[rune]string, r rune) ([]rune, error) {
	var out []rune
	var walk func(r rune, depth int) error
	walk = func(r rune, depth int) error {
		if depth > 8 {
			return fmt.Errorf("fold of %q does not end", r)
		}
		to, ok := raw[r]
		if !ok || depth > 0 && to == string(r) {
			out = append(out, unicode.ToLower(r))
			return nil
		}
		for _, x := range to {
			lx := unicode.ToLower(x)
			if lx == r || x == r {
				out = append(out, lx)
				continue
			}
			if err := walk(lx, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(r, 0); err != nil {
		return nil, err
	}
	for _, x := range out {
		if !utf8.ValidRune(x) {
			return nil, fmt.Errorf("fold of %q holds an invalid rune", r)
		}
	}
	return out, nil
}

// expandSpellings returns the other spellings of a normalised pattern:
// every way of replacing occurrences of spelling keys with their
// alternatives (or keeping them), at most limit of them, without p itself.
func (l *lexicon) expandSpellings(p string, limit int) []string {
	var out []string
	var walk func(done string, rest string)
	walk = func(done, rest string) {
		if len(out) >= limit {
			return
		}
		if rest == "" {
			if done != p && !slices.Contains(out, done) {
				out = append(out, done)
			}
			return
		}
		for _, s := range l.spellings {
			if strings.HasPrefix(rest, s.key) {
				for _, a := range s.alts {
					walk(done+a, rest[len(s.key):])
				}
			}
		}
		_, n := utf8.DecodeRuneInString(rest)
		walk(done+rest[:n], rest[n:])
	}
	walk("", p)
	return out
}
