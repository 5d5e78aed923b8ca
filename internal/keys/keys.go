// Package keys mints API keys, hashes them for storage and lookup, reads them from
// requests' credential strings, and shortens them for logs. A key is a bearer secret:
// only its SHA-256 is ever stored or logged.
package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unsafe"
)

// Hash is the SHA-256 of a key: the only form in which a key is stored.
type Hash [32]byte

// String is the lower-case hex form used in APIs and the store.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Short is a non-secret handle for logs: the first 12 hex characters of the hash.
func (h Hash) Short() string { return h.String()[:12] }

// Sum hashes a key. It does not allocate: the key's bytes are read in place (sha256
// never writes to its input), which matters because it runs on every request.
func Sum(key string) Hash {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(key), len(key)))
}

// ParseHash reads a 64-character hex hash.
func ParseHash(s string) (Hash, bool) {
	var h Hash
	if len(s) != 64 {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, false
	}
	return h, true
}

// Generate mints a key in Tyk's legacy format: the org id followed by 32 lower-case
// hex characters (128 bits from crypto/rand). With an empty org it is 32 hex
// characters, like the keys in Tyk's tutorials.
func Generate(orgID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return orgID + hex.EncodeToString(b[:])
}

// MinLength and MaxLength bound custom keys. Tyk treats keys shorter than 3 as not
// found; an upper bound keeps hostile input out of memory and logs.
const (
	MinLength = 3
	MaxLength = 256
)

// ValidateCustom checks a key id chosen by a client (POST /tyk/keys/{id}). Keys are
// bearer secrets in headers and URLs, so only printable ASCII without spaces,
// slashes, quotes or URL delimiters is accepted.
func ValidateCustom(id string) error {
	if len(id) < MinLength || len(id) > MaxLength {
		return fmt.Errorf("a custom key must be %d to %d characters long", MinLength, MaxLength)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`/\?#%"'<>,;`, c) >= 0 {
			return fmt.Errorf("a custom key may contain only printable ASCII letters, digits and -._~+=:@!$&*()[]{}|^`")
		}
	}
	return nil
}

// FromCredential returns the key in an Authorization-style value: a leading
// "Bearer " (any case) is dropped, as Tyk does; nothing else is parsed.
func FromCredential(v string) string {
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		v = v[7:]
	}
	return strings.TrimSpace(v)
}

// RedactPath hides a key that a management path carries (…/keys/{key}…) so that the
// path can be logged: the segment after "keys" becomes "sha256:" and the first 12
// hex characters of its hash, which still tells an operator which key it was. The
// fixed sub-resources (create, preview, detailed) and 64-hex hashes are kept.
func RedactPath(path string) string {
	i := strings.Index(path, "/keys/")
	if i < 0 {
		return path
	}
	start := i + len("/keys/")
	end := strings.IndexByte(path[start:], '/')
	if end < 0 {
		end = len(path)
	} else {
		end += start
	}
	seg := path[start:end]
	switch {
	case seg == "" || seg == "create" || seg == "preview" || seg == "detailed":
		return path
	case len(seg) == 64 && strings.Trim(seg, "0123456789abcdef") == "":
		return path // already a hash
	}
	return path[:start] + "sha256:" + Sum(seg).Short() + path[end:]
}
