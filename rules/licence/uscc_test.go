package licence

import (
	"errors"
	"strings"
	"testing"
)

// Codes of real, registered organisations, as published on their licences.
var validCodes = []string{
	"91350100M000100Y43",
	"91110000802100433B",
	"91440300708461136T",
}

func TestValidateUSCCValid(t *testing.T) {
	for _, code := range validCodes {
		if err := ValidateUSCC(code); err != nil {
			t.Errorf("ValidateUSCC(%q) = %v, want nil", code, err)
		}
		c, err := USCCCheckChar(code[:17])
		if err != nil || c != code[17] {
			t.Errorf("USCCCheckChar(%q) = %q, %v, want %q", code[:17], c, err, code[17])
		}
	}
}

func TestValidateUSCCInvalid(t *testing.T) {
	tests := []struct {
		name string
		code string
		want error
	}{
		{"empty", "", ErrUSCCLength},
		{"17 characters", "91350100M000100Y4", ErrUSCCLength},
		{"19 characters", "91350100M000100Y430", ErrUSCCLength},
		{"full-width digits count as bytes", "９1350100M000100Y43", ErrUSCCLength},
		{"letter I in body", "91350100M000I00Y43", ErrUSCCChar},
		{"letter O in body", "9135010OM000100Y43", ErrUSCCChar},
		{"letter S in body", "91350100S000100Y43", ErrUSCCChar},
		{"letter V in body", "91350100V000100Y43", ErrUSCCChar},
		{"letter Z in body", "91350100Z000100Y43", ErrUSCCChar},
		{"lower case", "91350100m000100y43", ErrUSCCChar},
		{"punctuation", "91350100-000100Y43", ErrUSCCChar},
		{"check char outside the set", "91350100M000100Y4Z", ErrUSCCChar},
		{"wrong check char", "91350100M000100Y44", ErrUSCCCheck},
		{"wrong check char letter", "91110000802100433C", ErrUSCCCheck},
		{"transposed digits", "91440300708461163T", ErrUSCCCheck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateUSCC(tt.code)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ValidateUSCC(%q) = %v, want an error wrapping %v", tt.code, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.code) {
				t.Errorf("error %q does not name the code %q", err, tt.code)
			}
		})
	}
}

// Every wrong check character is caught, and the one right one is not.
func TestValidateUSCCEveryCheckChar(t *testing.T) {
	for _, code := range validCodes {
		for i := 0; i < len(usccAlphabet); i++ {
			c := usccAlphabet[i]
			err := ValidateUSCC(code[:17] + string(c))
			if c == code[17] && err != nil {
				t.Errorf("%s%c: %v, want nil", code[:17], c, err)
			}
			if c != code[17] && !errors.Is(err, ErrUSCCCheck) {
				t.Errorf("%s%c: %v, want ErrUSCCCheck", code[:17], c, err)
			}
		}
	}
}

// A single changed character in the body changes the check character: the
// weights are non-zero mod 31, so every single substitution is detected.
func TestValidateUSCCSingleSubstitution(t *testing.T) {
	code := validCodes[0]
	for pos := 0; pos < 17; pos++ {
		for i := 0; i < len(usccAlphabet); i++ {
			c := usccAlphabet[i]
			if c == code[pos] {
				continue
			}
			mut := code[:pos] + string(c) + code[pos+1:]
			if err := ValidateUSCC(mut); !errors.Is(err, ErrUSCCCheck) {
				t.Fatalf("ValidateUSCC(%q) = %v, want ErrUSCCCheck", mut, err)
			}
		}
	}
}

func TestUSCCCheckCharErrors(t *testing.T) {
	if _, err := USCCCheckChar("9135"); !errors.Is(err, ErrUSCCLength) {
		t.Errorf("short input: %v, want ErrUSCCLength", err)
	}
	if _, err := USCCCheckChar("91350100M000I00Y4"); !errors.Is(err, ErrUSCCChar) {
		t.Errorf("bad character: %v, want ErrUSCCChar", err)
	}
}
