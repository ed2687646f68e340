package evidence

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDigestKnownVectors(t *testing.T) {
	// FIPS 180-4 and GB/T 32905-2016 example "abc".
	cases := []struct {
		alg  Algorithm
		want string
	}{
		{SHA256, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{SM3, "sm3:66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"},
	}
	for _, c := range cases {
		if got := SumBytes(c.alg, []byte("abc")).String(); got != c.want {
			t.Errorf("SumBytes(%s, abc) = %s, want %s", c.alg, got, c.want)
		}
	}
	s := SumAll([]byte("a"), []byte("bc"))
	if s.Size != 3 || s.SHA256.String() != cases[0].want || s.SM3.String() != cases[1].want {
		t.Errorf("SumAll(a, bc) = %+v, want size 3 and the abc digests", s)
	}
}

func TestParseDigest(t *testing.T) {
	for _, s := range []string{
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sm3:66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
	} {
		d, err := ParseDigest(s)
		if err != nil {
			t.Fatalf("ParseDigest(%q) = %v", s, err)
		}
		if d.String() != s || d != MustParseDigest(s) || len(d.Sum()) != 32 || !strings.HasSuffix(s, d.Hex()) {
			t.Errorf("ParseDigest(%q) round trip gave %s", s, d)
		}
	}
	for _, s := range []string{
		"", "sha256", "sha256:", "md5:900150983cd24fb0d6963f7d28e17f72",
		"sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
		"sha256:ba7816bf", "sha256:zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha256-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	} {
		if _, err := ParseDigest(s); !errors.Is(err, ErrInvalidDigest) || !strings.Contains(err.Error(), s) {
			t.Errorf("ParseDigest(%q) = %v, want ErrInvalidDigest naming the input", s, err)
		}
	}
}

func TestDigestJSON(t *testing.T) {
	type doc struct {
		D Digest `json:"d"`
		Z Digest `json:"z"`
	}
	in := doc{D: SumBytes(SM3, []byte("x"))}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"d":"sm3:`) || !strings.Contains(string(b), `"z":""`) {
		t.Errorf("JSON = %s", b)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Errorf("round trip = %+v, %v; want %+v", out, err, in)
	}
	if err := json.Unmarshal([]byte(`{"d":"sha256:00"}`), &out); !errors.Is(err, ErrInvalidDigest) {
		t.Errorf("unmarshal of a short digest = %v, want ErrInvalidDigest", err)
	}
}

func TestValidateKey(t *testing.T) {
	for _, k := range []string{"a", "evidence/ev-1/page.html", "exchanges/001-request.http", "证据/页面.html"} {
		if err := ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", k, err)
		}
	}
	for k, reason := range map[string]string{
		"":                               "empty",
		"/etc/passwd":                    "absolute",
		"a/../b":                         `".."`,
		"..":                             `".."`,
		"./a":                            `"."`,
		"a//b":                           "empty path element",
		"a/":                             "empty path element",
		".tmp/x":                         "starts with a dot",
		"a\\b":                           "backslash",
		"a\tb":                           "control",
		"\xff":                           "UTF-8",
		strings.Repeat("a", MaxKeyLen+1): "longer",
	} {
		err := ValidateKey(k)
		var ke *KeyError
		if !errors.Is(err, ErrInvalidKey) || !errors.As(err, &ke) || ke.Key != k || !strings.Contains(err.Error(), reason) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey saying %q", k, err, reason)
		}
	}
	for _, p := range []string{"", "evidence/", "evidence/ev-2026", "a/b/"} {
		if err := ValidatePrefix(p); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"../", "/a", "a//", ".x"} {
		if err := ValidatePrefix(p); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidatePrefix(%q) = %v, want ErrInvalidKey", p, err)
		}
	}
}
