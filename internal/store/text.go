package store

import (
	"strings"
	"unicode/utf8"
)

// PrefixUpperBound returns the least valid UTF-8 string above every string that
// starts with p, for p valid UTF-8 (false when there is none: p is all U+10FFFF), so
// that a backend can turn a prefix match into the range [p, bound) on an index. It
// steps the last rune that can be stepped, not the last byte, which could leave
// invalid UTF-8 (a\x7f would become a\x80) that PostgreSQL refuses as text. Byte
// order and code point order agree in UTF-8, so the range holds exactly the strings
// with prefix p.
func PrefixUpperBound(p string) (string, bool) {
	for i := len(p); i > 0; {
		r, size := utf8.DecodeLastRuneInString(p[:i])
		i -= size
		switch {
		case r == utf8.MaxRune:
			continue // nothing above it: carry into the rune before
		case r == 0xd7ff:
			r = 0xe000 // the surrogates between are not valid in UTF-8
		default:
			r++
		}
		return p[:i] + string(r), true
	}
	return "", false
}

// FoldAlias is the form of a key alias that KeyFilter.Query searches: lower case
// (Unicode), with NUL (which PostgreSQL text cannot hold) as U+FFFD. Every backend
// folds the same way, so a search finds the same keys on each.
func FoldAlias(a string) string { return strings.ReplaceAll(strings.ToLower(a), "\x00", "\ufffd") }
