package keys

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	k := Generate("")
	if len(k) != 32 || strings.Trim(k, "0123456789abcdef") != "" {
		t.Fatalf("Generate(\"\") = %q", k)
	}
	org := "5e9d9544a1dcd60001d0ed20"
	k2 := Generate(org)
	if !strings.HasPrefix(k2, org) || len(k2) != len(org)+32 {
		t.Fatalf("Generate(org) = %q", k2)
	}
	if a, b := Generate(""), Generate(""); a == b {
		t.Fatal("two generated keys are equal")
	}
}

func TestSum(t *testing.T) {
	want := sha256.Sum256([]byte("abc"))
	if got := Sum("abc"); got != want || got.String() != hex.EncodeToString(want[:]) {
		t.Fatalf("Sum mismatch")
	}
	if h, ok := ParseHash(Sum("abc").String()); !ok || h != want {
		t.Fatal("ParseHash round trip")
	}
	for _, bad := range []string{"", "zz", strings.Repeat("g", 64), strings.Repeat("a", 63)} {
		if _, ok := ParseHash(bad); ok {
			t.Errorf("ParseHash(%q) accepted", bad)
		}
	}
	if len(Sum("x").Short()) != 12 {
		t.Fatal("Short length")
	}
}

func TestSumDoesNotAllocate(t *testing.T) {
	k := Generate("5e9d9544a1dcd60001d0ed20")
	if n := testing.AllocsPerRun(100, func() { _ = Sum(k) }); n != 0 {
		t.Fatalf("Sum allocates %v times", n)
	}
}

func TestValidateCustom(t *testing.T) {
	for _, ok := range []string{"abc", "my-key_1.2", "a:b@c", strings.Repeat("k", MaxLength)} {
		if err := ValidateCustom(ok); err != nil {
			t.Errorf("ValidateCustom(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "ab", "a b", "a/b", "a%2f", "ключ", "a\nb", strings.Repeat("k", MaxLength+1)} {
		if err := ValidateCustom(bad); err == nil {
			t.Errorf("ValidateCustom(%q) accepted", bad)
		}
	}
}

func TestFromCredential(t *testing.T) {
	for in, want := range map[string]string{
		"abc": "abc", "Bearer abc": "abc", "bearer abc": "abc", "BEARER  abc ": "abc", "Basic abc": "Basic abc", "Bearer": "Bearer",
	} {
		if got := FromCredential(in); got != want {
			t.Errorf("FromCredential(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzKeyParsing(f *testing.F) {
	for _, s := range []string{"Bearer abc", "abc", "", "bearer ", strings.Repeat("a", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := FromCredential(s)
		if len(k) > len(s) {
			t.Fatal("credential grew")
		}
		if ValidateCustom(k) == nil {
			if len(k) < MinLength || strings.ContainsAny(k, " /") {
				t.Fatalf("accepted %q", k)
			}
		}
		if h, ok := ParseHash(s); ok && h.String() != strings.ToLower(s) {
			t.Fatalf("ParseHash(%q) round trip = %s", s, h)
		}
		_ = Sum(s)
	})
}

func TestRedactPath(t *testing.T) {
	key := "5e9d9544a1dcd60001d0ed20f00dfeedbeef0123456789abcdef0123"
	hash := Sum(key).String()
	tests := map[string]string{
		"/tyk/keys/" + key:            "/tyk/keys/sha256:" + hash[:12],
		"/api/keys/" + key + "/extra": "/api/keys/sha256:" + hash[:12] + "/extra",
		"/api/apis/a1/keys/" + key:    "/api/apis/a1/keys/sha256:" + hash[:12],
		"/tyk/keys/create":            "/tyk/keys/create",
		"/api/keys/detailed":          "/api/keys/detailed",
		"/tyk/keys/" + hash:           "/tyk/keys/" + hash,
		"/tyk/keys":                   "/tyk/keys",
		"/tyk/apis/x":                 "/tyk/apis/x",
	}
	for in, want := range tests {
		if got := RedactPath(in); got != want {
			t.Errorf("RedactPath(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(RedactPath(in), key) {
			t.Errorf("RedactPath(%q) still holds the key", in)
		}
	}
}
