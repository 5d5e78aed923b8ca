package cli

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// dashboard sends a Dashboard API request as the stack's administrator, for what
// the CLI has no flag for (a custom key, a past expiry), and wants 200.
func (st stack) dashboard(t *testing.T, method, path, body string) string {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+st.p.Dashboard+path, strings.NewReader(body))
	req.Header.Set("Authorization", st.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return string(b)
}

// createKey makes a key for the orders API through the CLI and returns it and its
// hash.
func (st stack) createKey(t *testing.T, args ...string) (key, hash string) {
	t.Helper()
	out, errOut, code := run(t, st.env, append([]string{"keys", "create", "--api", st.apiID, "--json"}, args...)...)
	var k struct {
		Key  string `json:"key"`
		Hash string `json:"key_hash"`
	}
	if err := json.Unmarshal([]byte(out), &k); code != 0 || err != nil || len(k.Hash) != 64 {
		t.Fatalf("keys create: %d %v %s", code, err, errOut)
	}
	return k.Key, k.Hash
}

// customKey creates the key named id (Tyk's POST /api/keys/{id}) for the orders
// API and returns its hash.
func (st stack) customKey(t *testing.T, id, alias string) string {
	t.Helper()
	out := st.dashboard(t, "POST", "/api/keys/"+id, `{"alias":"`+alias+`","access_rights":{"`+st.apiID+`":{"api_id":"`+st.apiID+`","versions":["Default"]}}}`)
	var k struct {
		Hash string `json:"key_hash"`
	}
	if err := json.Unmarshal([]byte(out), &k); err != nil || len(k.Hash) != 64 {
		t.Fatalf("custom key %q: %v %s", id, err, out)
	}
	return k.Hash
}

// collidingKeys finds two custom keys whose hashes share their first 8 hex
// characters (32 bits): a birthday search, so some 80 000 hashes on average,
// and the same pair on every run since hashing is deterministic.
func collidingKeys() (a, b string) {
	seen := map[uint32]string{}
	for i := 0; ; i++ {
		k := fmt.Sprintf("collide-%d", i)
		h := sha256.Sum256([]byte(k))
		p := binary.BigEndian.Uint32(h[:4])
		if other, ok := seen[p]; ok {
			return other, k
		}
		seen[p] = k
	}
}

func sha(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// TestKeyReferences: `keys get` and `keys delete` take what `keys list` prints (a
// unique hash prefix of 8 characters or more, in any case), the key itself, or
// --hashed with the full hash; an ambiguous prefix names how many keys it matches
// and changes nothing; an unknown one is "no such key".
func TestKeyReferences(t *testing.T) {
	st := newStack(t)
	key, hash := st.createKey(t, "--alias", "mine")
	// An alias holding another key's hash prefix is not a match: only hashes are.
	st.createKey(t, "--alias", "see "+hash[:12])
	a, b := collidingKeys()
	ha, hb := st.customKey(t, a, "twin-a"), st.customKey(t, b, "twin-b")
	if ha[:8] != hb[:8] || ha != sha(a) {
		t.Fatalf("custom keys %q and %q: hashes %s and %s do not share 8 characters", a, b, ha, hb)
	}
	// A key whose text is the start of another key's hash: both readings count.
	shadow := st.createKeyNamed(t, hash[:12])

	list, _, code := run(t, st.env, "keys", "list")
	if code != 0 || !strings.Contains(list, hash[:12]) {
		t.Fatalf("keys list does not show %s:\n%s", hash[:12], list)
	}

	rows := []struct {
		name string
		args []string
		code int
		// want: the hash shown (get) or a line of the error.
		want string
	}{
		{"the HASH column", []string{hb[:12]}, 0, hb},
		{"8 characters", []string{hash[:8]}, 0, hash},
		{"upper case", []string{strings.ToUpper(hash[:10])}, 0, hash},
		{"the full hash without --hashed", []string{ha}, 0, ha},
		{"the key itself", []string{key}, 0, hash},
		{"a custom key", []string{a}, 0, ha},
		{"--hashed with the full hash", []string{"--hashed", hash}, 0, hash},
		{"--hashed after the argument", []string{hash, "--hashed"}, 0, hash},
		{"--hashed with a prefix", []string{"--hashed", hash[:12]}, 1, "--hashed takes the full 64-character hash"},
		{"ambiguous prefix", []string{ha[:8]}, 1, fmt.Sprintf("%q matches 2 keys", ha[:8])},
		{"a key that starts another's hash", []string{hash[:12]}, 1, fmt.Sprintf("%q matches 2 keys", hash[:12])},
		{"too short for a prefix", []string{hash[:7]}, 1, "no such key"},
		{"unknown prefix", []string{unknownPrefix(hash, ha, hb, shadow)}, 1, "no such key"},
		{"no argument", nil, 2, "usage: tollgate keys get"},
		{"two arguments", []string{hash[:12], ha[:12]}, 2, "usage: tollgate keys get"},
	}
	for _, r := range rows {
		t.Run("get "+r.name, func(t *testing.T) {
			out, errOut, code := run(t, st.env, append([]string{"keys", "get"}, r.args...)...)
			if code != r.code || !strings.Contains(out+errOut, r.want) {
				t.Errorf("keys get %q: exit %d (want %d), want %q in:\n%s%s", r.args, code, r.code, r.want, out, errOut)
			}
		})
	}
	// The ambiguous error lists both candidates, in full, to pick from.
	_, errOut, _ := run(t, st.env, "keys", "get", ha[:8])
	for _, h := range []string{ha, hb} {
		if !strings.Contains(errOut, h) {
			t.Errorf("ambiguous error does not list %s:\n%s", h, errOut)
		}
	}
	if out, _, code := run(t, st.env, "keys", "get", hash[:12], "--hashed", "--json"); code != 1 || out != "" {
		t.Errorf("--json on a failed lookup printed %q (exit %d)", out, code)
	}
	// --json is Tyk's key object, as the Dashboard API sends it.
	out, _, code := run(t, st.env, "keys", "get", hb[:12], "--json")
	var obj struct {
		Hash string `json:"key_hash"`
		Data struct {
			Alias string `json:"alias"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &obj); code != 0 || err != nil || obj.Hash != hb || obj.Data.Alias != "twin-b" {
		t.Errorf("keys get --json: %d %v\n%s", code, err, out)
	}

	// delete: an ambiguous prefix deletes nothing; a unique one deletes that key.
	if _, errOut, code := run(t, st.env, "keys", "delete", ha[:8]); code != 1 || !strings.Contains(errOut, "matches 2 keys; nothing was done") {
		t.Errorf("delete ambiguous: %d %s", code, errOut)
	}
	for _, h := range []string{ha, hb} {
		if _, errOut, code := run(t, st.env, "keys", "get", "--hashed", h); code != 0 {
			t.Errorf("after an ambiguous delete, %s is gone: %s", h, errOut)
		}
	}
	// As many characters as tell the twins apart.
	unique := distinguishing(ha, hb)
	if out, errOut, code := run(t, st.env, "keys", "delete", unique); code != 0 || !strings.Contains(out, "key deleted: "+ha) {
		t.Fatalf("delete %s: %d %s%s", unique, code, out, errOut)
	}
	if _, errOut, code := run(t, st.env, "keys", "get", "--hashed", ha); code != 1 || !strings.Contains(errOut, "no such key") {
		t.Errorf("deleted key still there: %d %s", code, errOut)
	}
	if _, errOut, code := run(t, st.env, "keys", "get", "--hashed", hb); code != 0 {
		t.Errorf("its twin went too: %s", errOut)
	}
	// The raw key still deletes, as before prefixes.
	if out, errOut, code := run(t, st.env, "keys", "delete", key); code != 0 || !strings.Contains(out, "key deleted: "+hash) {
		t.Fatalf("delete by key: %d %s%s", code, out, errOut)
	}
	if s := call(t, st.p.Gateway, key); s != 403 {
		t.Errorf("deleted key: gateway said %d, want 403", s)
	}
}

// createKeyNamed creates the custom key id and returns its hash.
func (st stack) createKeyNamed(t *testing.T, id string) string { return st.customKey(t, id, "shadow") }

// distinguishing is the shortest start of a (8 characters at least) that b does
// not share.
func distinguishing(a, b string) string {
	n := 8
	for a[:n] == b[:n] {
		n++
	}
	return a[:n]
}

// unknownPrefix is an 8-character prefix none of hashes starts with.
func unknownPrefix(hashes ...string) string {
	for i := 0; ; i++ {
		p := fmt.Sprintf("%08x", i)
		taken := false
		for _, h := range hashes {
			taken = taken || strings.HasPrefix(h, p)
		}
		if !taken {
			return p
		}
	}
}

// TestKeyStatusAndQuota: keys list and keys get say what the web UI says of a key
// (active, expired, inactive) and show the quota used, left and when it renews.
func TestKeyStatusAndQuota(t *testing.T) {
	st := newStack(t)
	metered, mHash := st.createKey(t, "--alias", "metered", "--quota", "3", "--quota-renewal", "3600")
	for i := range 2 {
		if s := call(t, st.p.Gateway, metered); s != 200 {
			t.Fatalf("request %d: %d", i, s)
		}
	}
	lapsed, lHash := st.createKey(t, "--alias", "lapsed")
	// A past expiry is accepted on update: the way to expire a key now.
	st.dashboard(t, "PUT", "/api/keys/"+lapsed, `{"alias":"lapsed","expires":1000,"access_rights":{"`+st.apiID+`":{"api_id":"`+st.apiID+`","versions":["Default"]}}}`)
	if s := call(t, st.p.Gateway, lapsed); s != 401 {
		t.Fatalf("expired key: gateway said %d, want 401", s)
	}
	out := st.dashboard(t, "POST", "/api/keys", `{"alias":"switched-off","is_inactive":true,"access_rights":{"`+st.apiID+`":{"api_id":"`+st.apiID+`","versions":["Default"]}}}`)
	var off struct {
		Hash string `json:"key_hash"`
	}
	_ = json.Unmarshal([]byte(out), &off)

	list, errOut, code := run(t, st.env, "keys", "list")
	if code != 0 {
		t.Fatalf("keys list: %d %s", code, errOut)
	}
	for _, col := range []string{"HASH", "QUOTA", "RENEWS", "EXPIRES", "STATUS"} {
		if !strings.Contains(list, col) {
			t.Errorf("keys list has no %s column:\n%s", col, list)
		}
	}
	rowOf := func(hash string) string {
		for l := range strings.SplitSeq(list, "\n") {
			if strings.HasPrefix(l, hash[:12]) {
				return l
			}
		}
		t.Fatalf("keys list has no row for %s:\n%s", hash[:12], list)
		return ""
	}
	stamp := regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	if r := rowOf(mHash); !strings.Contains(r, "2 used / 1 remaining of 3") || !stamp.MatchString(r) || !strings.HasSuffix(strings.TrimSpace(r), "active") {
		t.Errorf("metered row: %s", r)
	}
	if r := rowOf(lHash); !strings.HasSuffix(strings.TrimSpace(r), "expired") || !strings.Contains(r, "1970-01-01T00:16:40Z") {
		t.Errorf("expired row: %s", r)
	}
	if r := rowOf(off.Hash); !strings.HasSuffix(strings.TrimSpace(r), "inactive") {
		t.Errorf("inactive row: %s", r)
	}

	got, errOut, code := run(t, st.env, "keys", "get", mHash[:12])
	if code != 0 {
		t.Fatalf("keys get: %d %s", code, errOut)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^hash: +` + mHash + `$`),
		regexp.MustCompile(`(?m)^alias: +metered$`),
		regexp.MustCompile(`(?m)^status: +active$`),
		regexp.MustCompile(`(?m)^apis: +` + st.apiID + `$`),
		regexp.MustCompile(`(?m)^policies: +-$`),
		regexp.MustCompile(`(?m)^rate: +-$`),
		regexp.MustCompile(`(?m)^quota: +2 used / 1 remaining of 3, renews ` + stamp.String() + `$`),
		regexp.MustCompile(`(?m)^expires: +never$`),
		regexp.MustCompile(`(?m)^created: +` + stamp.String() + `$`),
		regexp.MustCompile(`(?m)^updated: +` + stamp.String() + `$`),
	} {
		if !want.MatchString(got) {
			t.Errorf("keys get lacks %s:\n%s", want, got)
		}
	}
	if got, _, _ := run(t, st.env, "keys", "get", lHash[:12]); !regexp.MustCompile(`(?m)^status: +expired$`).MatchString(got) {
		t.Errorf("keys get of the expired key:\n%s", got)
	}
	if got, _, _ := run(t, st.env, "keys", "get", off.Hash[:12]); !regexp.MustCompile(`(?m)^status: +inactive$`).MatchString(got) {
		t.Errorf("keys get of the inactive key:\n%s", got)
	}
}
