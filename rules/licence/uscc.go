// Package licence validates the identifiers that Chinese online shops must
// display: the 18-character unified social credit code (GB 32100-2015) and
// the organisation code inside it (GB 11714-1997), the 15-digit business
// registration number of older licences (ISO 7064 MOD 11,10), food business
// and production permit numbers (JY, YB, SC), ICP filing numbers and
// public-security filing numbers. Every validator returns nil or an error
// wrapping one of the package's sentinel errors, so callers can tell a
// wrong check character from a wrong format.
package licence

import (
	"errors"
	"fmt"
	"strings"
)

// usccAlphabet is the GB 32100-2015 code character set: digits and upper-case
// letters without I, O, S, V and Z. A character's value is its index.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccWeights are 3^(i-1) mod 31 for positions 1 to 17.
var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// Errors returned by ValidateUSCC.
var (
	// ErrUSCCLength: the code is not 18 characters long.
	ErrUSCCLength = errors.New("unified social credit code must have 18 characters")
	// ErrUSCCChar: the code holds a character outside the GB 32100 set.
	ErrUSCCChar = errors.New("unified social credit code holds a character outside the GB 32100 set")
	// ErrUSCCCheck: the 18th character is not the check character of the first 17.
	ErrUSCCCheck = errors.New("unified social credit code check character is wrong")
)

// USCCCheckChar returns the GB 32100-2015 check character for the first 17
// characters of a unified social credit code.
func USCCCheckChar(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, fmt.Errorf("uscc check character: %w: want 17 characters, got %d", ErrUSCCLength, len(first17))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := strings.IndexByte(usccAlphabet, first17[i])
		if v < 0 {
			return 0, fmt.Errorf("uscc check character: %w: %q at position %d", ErrUSCCChar, first17[i], i+1)
		}
		sum += v * usccWeights[i]
	}
	c := (31 - sum%31) % 31
	return usccAlphabet[c], nil
}

// ValidateUSCC checks a unified social credit code: length, character set and
// check character. It returns nil for a valid code and an error wrapping
// ErrUSCCLength, ErrUSCCChar or ErrUSCCCheck otherwise.
func ValidateUSCC(code string) error {
	if len(code) != 18 {
		return fmt.Errorf("uscc %q: %w", code, ErrUSCCLength)
	}
	want, err := USCCCheckChar(code[:17])
	if err != nil {
		return fmt.Errorf("uscc %q: %w", code, err)
	}
	if strings.IndexByte(usccAlphabet, code[17]) < 0 {
		return fmt.Errorf("uscc %q: %w: %q at position 18", code, ErrUSCCChar, code[17])
	}
	if code[17] != want {
		return fmt.Errorf("uscc %q: %w: got %q, want %q", code, ErrUSCCCheck, code[17], want)
	}
	return nil
}
