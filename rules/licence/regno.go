package licence

import (
	"errors"
	"fmt"
)

// Errors returned by ValidateRegNo.
var (
	// ErrRegNoFormat: the registration number is not 15 digits.
	ErrRegNoFormat = errors.New("registration number must be 15 digits")
	// ErrRegNoCheck: the 15th digit is not the ISO 7064 MOD 11,10 check digit.
	ErrRegNoCheck = errors.New("registration number check digit is wrong")
)

// RegNoCheckDigit returns the check digit of the first 14 digits of a
// 15-digit business registration number (the pre-2015 营业执照注册号,
// GS 15-2006), computed with ISO 7064 hybrid MOD 11,10.
func RegNoCheckDigit(first14 string) (byte, error) {
	if len(first14) != 14 {
		return 0, fmt.Errorf("registration number check digit: %w: want 14 digits, got %d", ErrRegNoFormat, len(first14))
	}
	p := 10
	for i := 0; i < 14; i++ {
		c := first14[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("registration number check digit: %w: %q at position %d", ErrRegNoFormat, c, i+1)
		}
		s := (p + int(c-'0')) % 10
		if s == 0 {
			s = 10
		}
		p = s * 2 % 11
	}
	// The check digit d makes (p + d) mod 10 equal 1.
	return byte('0' + (11-p)%10), nil
}

// ValidateRegNo checks a 15-digit business registration number. It returns
// nil or an error wrapping ErrRegNoFormat or ErrRegNoCheck.
func ValidateRegNo(no string) error {
	if len(no) != 15 {
		return fmt.Errorf("registration number %q: %w", no, ErrRegNoFormat)
	}
	want, err := RegNoCheckDigit(no[:14])
	if err != nil {
		return fmt.Errorf("registration number %q: %w", no, err)
	}
	if no[14] != want {
		if no[14] < '0' || no[14] > '9' {
			return fmt.Errorf("registration number %q: %w", no, ErrRegNoFormat)
		}
		return fmt.Errorf("registration number %q: %w: got %q, want %q", no, ErrRegNoCheck, no[14], want)
	}
	return nil
}
