package licence

import (
	"errors"
	"fmt"
)

// Errors returned by ValidateOrgCode and ValidateUSCCOrgCode.
var (
	// ErrOrgCodeLength: the organisation code is not 9 characters long.
	ErrOrgCodeLength = errors.New("organisation code must have 9 characters")
	// ErrOrgCodeChar: the code holds a character other than a digit or an
	// upper-case letter, or a check character other than a digit or X.
	ErrOrgCodeChar = errors.New("organisation code holds a character outside GB 11714")
	// ErrOrgCodeCheck: the 9th character is not the check character of the first 8.
	ErrOrgCodeCheck = errors.New("organisation code check character is wrong")
)

// orgWeights are the GB 11714-1997 weights of the eight body characters.
var orgWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}

// orgValue is the GB 11714 value of a body character: digits 0–9, letters
// A–Z 10–35; -1 otherwise.
func orgValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'Z':
		return int(c-'A') + 10
	}
	return -1
}

// OrgCodeCheckChar returns the GB 11714-1997 check character (0–9 or X) of
// the first eight characters of an organisation code.
func OrgCodeCheckChar(first8 string) (byte, error) {
	if len(first8) != 8 {
		return 0, fmt.Errorf("organisation code check character: %w: want 8 characters, got %d", ErrOrgCodeLength, len(first8))
	}
	sum := 0
	for i := 0; i < 8; i++ {
		v := orgValue(first8[i])
		if v < 0 {
			return 0, fmt.Errorf("organisation code check character: %w: %q at position %d", ErrOrgCodeChar, first8[i], i+1)
		}
		sum += v * orgWeights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X', nil
	case 11:
		return '0', nil
	default:
		return '0' + byte(c), nil
	}
}

// ValidateOrgCode checks a 9-character organisation code (GB 11714-1997,
// without the hyphen): character set and check character. It returns nil
// or an error wrapping ErrOrgCodeLength, ErrOrgCodeChar or ErrOrgCodeCheck.
func ValidateOrgCode(code string) error {
	if len(code) != 9 {
		return fmt.Errorf("organisation code %q: %w", code, ErrOrgCodeLength)
	}
	want, err := OrgCodeCheckChar(code[:8])
	if err != nil {
		return fmt.Errorf("organisation code %q: %w", code, err)
	}
	if c := code[8]; c != 'X' && (c < '0' || c > '9') {
		return fmt.Errorf("organisation code %q: %w: check character %q", code, ErrOrgCodeChar, c)
	}
	if code[8] != want {
		return fmt.Errorf("organisation code %q: %w: got %q, want %q", code, ErrOrgCodeCheck, code[8], want)
	}
	return nil
}

// ValidateUSCCOrgCode checks the organisation code embedded in a unified
// social credit code (characters 9 to 17, GB 32100-2015 §4.3). Codes
// issued in some early pilot areas carry bodies that fail this check, so
// a failure calls for verification with the registration authority; it is
// not proof that the code is made up. The caller is expected to have
// checked the credit code itself with ValidateUSCC.
func ValidateUSCCOrgCode(uscc string) error {
	if len(uscc) != 18 {
		return fmt.Errorf("uscc %q: %w", uscc, ErrUSCCLength)
	}
	if err := ValidateOrgCode(uscc[8:17]); err != nil {
		return fmt.Errorf("uscc %q: embedded %w", uscc, err)
	}
	return nil
}
