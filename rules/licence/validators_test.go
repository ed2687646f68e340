package licence

import (
	"errors"
	"testing"
)

func TestOrgCode(t *testing.T) {
	// The organisation codes inside the valid credit codes of uscc_test.go.
	for _, code := range []string{"M000100Y4", "802100433", "708461136"} {
		if err := ValidateOrgCode(code); err != nil {
			t.Errorf("ValidateOrgCode(%q) = %v", code, err)
		}
	}
	for _, code := range validCodes {
		if err := ValidateUSCCOrgCode(code); err != nil {
			t.Errorf("ValidateUSCCOrgCode(%q) = %v", code, err)
		}
	}
	// Check value 10 is X, 11 is 0.
	for _, tt := range []struct {
		first8 string
		want   byte
	}{{"00000000", '0'}, {"40000000", 'X'}} {
		if got, err := OrgCodeCheckChar(tt.first8); err != nil || got != tt.want {
			t.Errorf("OrgCodeCheckChar(%q) = %q, %v, want %q", tt.first8, got, err, tt.want)
		}
	}
	tests := []struct {
		code string
		want error
	}{
		{"M000100Y5", ErrOrgCodeCheck},
		{"M000100Y", ErrOrgCodeLength},
		{"m000100Y4", ErrOrgCodeChar},
		{"M000100YA", ErrOrgCodeChar},
	}
	for _, tt := range tests {
		if err := ValidateOrgCode(tt.code); !errors.Is(err, tt.want) {
			t.Errorf("ValidateOrgCode(%q) = %v, want %v", tt.code, err, tt.want)
		}
	}
	// A credit code whose own check character is right but whose embedded
	// organisation code is not: 9135010000000001X with a valid 18th char.
	first17 := "91350100" + "12345678" + "0" // org check of 12345678 is not 0
	c, err := USCCCheckChar(first17)
	if err != nil {
		t.Fatal(err)
	}
	code := first17 + string(c)
	if err := ValidateUSCC(code); err != nil {
		t.Fatalf("setup: %v", err)
	}
	if err := ValidateUSCCOrgCode(code); !errors.Is(err, ErrOrgCodeCheck) {
		t.Errorf("ValidateUSCCOrgCode(%q) = %v, want ErrOrgCodeCheck", code, err)
	}
}

func TestRegNo(t *testing.T) {
	// Build numbers with the algorithm's own check digit, then every
	// single-digit change of any position must be caught.
	for _, first14 := range []string{"33010600001234", "11010800000001", "44030110309741", "00000000000000"} {
		d, err := RegNoCheckDigit(first14)
		if err != nil {
			t.Fatal(err)
		}
		no := first14 + string(d)
		if err := ValidateRegNo(no); err != nil {
			t.Fatalf("ValidateRegNo(%q) = %v", no, err)
		}
		for i := 0; i < 15; i++ {
			for x := byte('0'); x <= '9'; x++ {
				if x == no[i] {
					continue
				}
				bad := no[:i] + string(x) + no[i+1:]
				if err := ValidateRegNo(bad); !errors.Is(err, ErrRegNoCheck) {
					t.Fatalf("ValidateRegNo(%q) = %v, want ErrRegNoCheck", bad, err)
				}
			}
		}
	}
	// The hybrid system's defining property: the check digit makes the
	// running value end at 1.
	if d, _ := RegNoCheckDigit("00000000000000"); d != '0'+byte((11-hybridP("00000000000000"))%10) {
		t.Errorf("check digit %q", d)
	}
	for _, bad := range []string{"33010600001234", "3301060000123X5", "33010600001234X"} {
		if err := ValidateRegNo(bad); !errors.Is(err, ErrRegNoFormat) {
			t.Errorf("ValidateRegNo(%q) = %v, want ErrRegNoFormat", bad, err)
		}
	}
}

// hybridP runs ISO 7064 MOD 11,10 over digits and returns the final P.
func hybridP(digits string) int {
	p := 10
	for i := 0; i < len(digits); i++ {
		s := (p + int(digits[i]-'0')) % 10
		if s == 0 {
			s = 10
		}
		p = s * 2 % 11
	}
	return p
}

func TestFoodPermits(t *testing.T) {
	for _, no := range []string{"JY13301060012345", "jy14301041240227", "YB13301060012345", "JY24401060000017"} {
		if err := ValidateFoodPermit(no); err != nil {
			t.Errorf("ValidateFoodPermit(%q) = %v", no, err)
		}
	}
	for _, tt := range []struct {
		no   string
		want error
	}{
		{"JY1330106001234", ErrFormat},
		{"JY43301060012345", ErrFormat},
		{"JY19901060012345", ErrRegion},
		{"SC13301060012345", ErrFormat},
		{"JY1330106001234A", ErrFormat},
	} {
		if err := ValidateFoodPermit(tt.no); !errors.Is(err, tt.want) {
			t.Errorf("ValidateFoodPermit(%q) = %v, want %v", tt.no, err, tt.want)
		}
	}
	for _, no := range []string{"SC10633011000012", "SC20144030500051"} {
		if err := ValidateFoodProductionPermit(no); err != nil {
			t.Errorf("ValidateFoodProductionPermit(%q) = %v", no, err)
		}
	}
	for _, tt := range []struct {
		no   string
		want error
	}{
		{"SC1063301100001", ErrFormat},
		{"SC50633011000012", ErrFormat},
		{"SC10699011000012", ErrRegion},
	} {
		if err := ValidateFoodProductionPermit(tt.no); !errors.Is(err, tt.want) {
			t.Errorf("ValidateFoodProductionPermit(%q) = %v, want %v", tt.no, err, tt.want)
		}
	}
}

func TestICP(t *testing.T) {
	for _, no := range []string{"沪ICP备12345678号-2", "京ICP证030173号", "浙icp备2021034567号", "蜀ICP备20111379号-2"} {
		if err := ValidateICP(no); err != nil {
			t.Errorf("ValidateICP(%q) = %v", no, err)
		}
	}
	for _, tt := range []struct {
		no   string
		want error
	}{
		{"中ICP备12345678号", ErrRegion},
		{"ICP备12345678号", ErrRegion},
		{"沪ICP12345678号", ErrFormat},
		{"沪ICP备号", ErrFormat},
		{"沪ICP备1234567a号", ErrFormat},
		{"沪ICP备12345678号-", ErrFormat},
		{"京ICP证030173号-1", ErrFormat},
	} {
		if err := ValidateICP(tt.no); !errors.Is(err, tt.want) {
			t.Errorf("ValidateICP(%q) = %v, want %v", tt.no, err, tt.want)
		}
	}
}

func TestPSB(t *testing.T) {
	if err := ValidatePSB('京', "11010502030143"); err != nil {
		t.Error(err)
	}
	if err := ValidatePSB('浙', "33010602011234"); err != nil {
		t.Error(err)
	}
	for _, tt := range []struct {
		prefix rune
		digits string
		want   error
	}{
		{'京', "1101050203014", ErrFormat},
		{'京', "1101050203014X", ErrFormat},
		{'京', "99010502030143", ErrRegion},
		{'沪', "11010502030143", ErrRegion},
	} {
		if err := ValidatePSB(tt.prefix, tt.digits); !errors.Is(err, tt.want) {
			t.Errorf("ValidatePSB(%c, %q) = %v, want %v", tt.prefix, tt.digits, err, tt.want)
		}
	}
	if ProvinceOf('粤') != "44" || ProvinceOf('中') != "" || !IsProvinceCode("65") || IsProvinceCode("70") {
		t.Error("province tables")
	}
}
