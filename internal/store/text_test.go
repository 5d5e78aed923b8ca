package store

import (
	"testing"
	"unicode/utf8"
)

func TestPrefixUpperBound(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
		ok             bool
	}{
		{"ascii", "ab/", "ab0", true},
		{"hex f", "ff", "fg", true},
		{"DEL stays UTF-8", "a\x7f", "a\u0080", true},
		{"two-byte rune", "aé", "aê", true},
		{"below surrogates", "a\ud7ff", "a\ue000", true},
		{"highest rune carries", "a\U0010ffff", "b", true},
		{"only highest runes", "\U0010ffff\U0010ffff", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := PrefixUpperBound(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("PrefixUpperBound(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
			if ok && !utf8.ValidString(got) {
				t.Errorf("PrefixUpperBound(%q) = %q is not UTF-8", tt.in, got)
			}
		})
	}
}

func TestFoldAlias(t *testing.T) {
	if got := FoldAlias("Ünï\x00CODE"); got != "ünï\ufffdcode" {
		t.Fatalf("FoldAlias = %q", got)
	}
}
