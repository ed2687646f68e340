package licence

import "testing"

// The licence block is read from each layout shops use, and a code that
// fails its check character names no party.
func TestParseBlock(t *testing.T) {
	c, err := USCCCheckChar("91330106MA2B1C3D4")
	if err != nil {
		t.Fatal(err)
	}
	code := "91330106MA2B1C3D4" + string(c)
	bad := "91330106MA2B1C3D4" + string("0123456789ABCDEFGHJKLMNPQRTUWXY"[(1+indexOf(c))%31])
	for _, tc := range []struct {
		name, text string
		want       Block
	}{
		{"lines", "营业执照信息\n企业名称\n杭州某某食品有限公司\n统一社会信用代码\n" + code + "\n住所\n杭州市西湖区某路1号\n法定代表人\n张三",
			Block{Name: "杭州某某食品有限公司", USCC: code, Address: "杭州市西湖区某路1号", LegalRep: "张三"}},
		{"table", "全网最佳\n企业名称 杭州某某食品有限公司\n统一社会信用代码 " + code + "\n", Block{Name: "杭州某某食品有限公司", USCC: code}},
		{"colons", "企业名称：杭州某某食品有限公司\n统一社会信用代码：" + code, Block{Name: "杭州某某食品有限公司", USCC: code}},
		{"run together", "企业名称：杭州某某食品有限公司统一社会信用代码：" + code + "住所：杭州", Block{Name: "杭州某某食品有限公司", USCC: code, Address: "杭州"}},
		{"lower case", "统一社会信用代码: " + string([]byte{code[0], code[1]}) + "330106ma2b1c3d4" + string(c), Block{USCC: code}},
		{"bad check character", "企业名称：甲公司\n统一社会信用代码：" + bad, Block{Name: "甲公司"}},
		{"empty label", "企业名称\n统一社会信用代码\n" + code, Block{USCC: code}},
		{"none", "全网最佳口碑 旗舰店", Block{}},
	} {
		if got := ParseBlock(tc.text); got != tc.want {
			t.Errorf("%s: ParseBlock = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func indexOf(c byte) int {
	for i := range len(usccAlphabet) {
		if usccAlphabet[i] == c {
			return i
		}
	}
	return -1
}
