package apidef

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/fault"
)

func TestIsID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"663cd8615715ec1405aafbea", true},
		{"663CD8615715EC1405AAFBEA", true},
		{"", false},
		{"663cd8615715ec1405aafbe", false},          // 23
		{"663cd8615715ec1405aafbeaa", false},        // 25
		{"663cd8615715ec1405aafbeg", false},         // not hex
		{"b84fe1a04e5648927971c0557971565c", false}, // an api_id, 32 hex
	}
	for _, tt := range tests {
		if got := IsID(tt.in); got != tt.want {
			t.Errorf("IsID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNewIDIsAnObjectID(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	a, b := NewID(now), NewID(now)
	if !IsID(a) || a != strings.ToLower(a) {
		t.Fatalf("NewID = %q, want 24 lower-case hex", a)
	}
	if a == b {
		t.Fatalf("two ids minted in the same second are equal: %s", a)
	}
	raw, _ := hex.DecodeString(a)
	if got := int64(binary.BigEndian.Uint32(raw[:4])); got != now.Unix() {
		t.Fatalf("id %s carries time %d, want %d", a, got, now.Unix())
	}
}

func TestDerivedID(t *testing.T) {
	a := DerivedID("b84fe1a04e5648927971c0557971565c")
	if !IsID(a) || a != DerivedID("b84fe1a04e5648927971c0557971565c") {
		t.Fatalf("DerivedID is not a stable id: %q", a)
	}
	if a == DerivedID("another") {
		t.Fatal("two api_ids derive the same id")
	}
}

func TestCheckID(t *testing.T) {
	tests := []struct {
		name, json string
		wantErr    bool
	}{
		{"absent", `{}`, false},
		{"null", `{"id":null}`, false},
		{"empty", `{"id":""}`, false},
		{"object id", `{"id":"663cd8615715ec1405aafbea"}`, false},
		{"upper case", `{"id":"663CD8615715EC1405AAFBEA"}`, false},
		{"api_id shape", `{"id":"b84fe1a04e5648927971c0557971565c"}`, true},
		{"not hex", `{"id":"zz3cd8615715ec1405aafbea"}`, true},
		{"number", `{"id":5}`, true},
		{"mongo export", `{"id":{"$oid":"663cd8615715ec1405aafbea"}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			err = d.CheckID()
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("CheckID: %v", err)
				}
				return
			}
			f, ok := fault.As(err)
			if !ok || f.Kind != fault.Invalid || f.Field != "id" {
				t.Fatalf("CheckID = %v, want an invalid fault naming id", err)
			}
			if d.ID() != "" && IsID(d.ID()) {
				t.Fatalf("ID() = %q for a refused id", d.ID())
			}
		})
	}
}

// TestIDOfMatchesID: the cheap read and the parsed one agree.
func TestIDOfMatchesID(t *testing.T) {
	for _, in := range []string{`{}`, `{"id":"663cd8615715ec1405aafbea"}`, `{"id":7}`, `{"id":null}`, `not json`} {
		var want string
		if d, err := Parse([]byte(in)); err == nil {
			want = d.ID()
		}
		if got := IDOf([]byte(in)); got != want {
			t.Errorf("IDOf(%s) = %q, ID() = %q", in, got, want)
		}
	}
}

func TestSetListenPathKeepsProxyFields(t *testing.T) {
	for _, in := range []string{
		`{"proxy":{"target_url":"http://up","extra":{"deep":true}}}`,
		`{"proxy":{"listen_path":"","target_url":"http://up","extra":{"deep":true}}}`,
	} {
		d, err := Parse([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		d.SetListenPath("/a1/")
		out, _ := d.MarshalJSON()
		var got struct {
			Proxy map[string]any `json:"proxy"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"listen_path": "/a1/", "target_url": "http://up", "extra": map[string]any{"deep": true}}
		if diff := cmp.Diff(want, got.Proxy); diff != "" || d.Proxy().ListenPath != "/a1/" {
			t.Errorf("%s: proxy after SetListenPath (-want +got):\n%s", in, diff)
		}
	}
	d, _ := Parse([]byte(`{"name":"no proxy"}`))
	d.SetListenPath("/a1/")
	if out, _ := d.MarshalJSON(); !strings.Contains(string(out), `"proxy":{"listen_path":"/a1/"}`) {
		t.Errorf("no proxy section: %s", out)
	}
}

func TestVersionSet(t *testing.T) {
	tests := []struct {
		name, json string
		want       VersionSet
	}{
		{"none", `{}`, VersionSet{}},
		{"classic location only", `{"definition":{"location":"header","key":"v"}}`, VersionSet{}},
		{"set", `{"definition":{"enabled":true,"name":"v1","default":"v2","versions":{"v2":"api-2","v3":"api-3"}}}`,
			VersionSet{Name: "v1", Default: "v2", Versions: map[string]string{"v2": "api-2", "v3": "api-3"}}},
		{"wrong types read as absent", `{"definition":{"name":5,"default":["x"],"versions":{"v2":7,"v3":"api-3"}}}`,
			VersionSet{Versions: map[string]string{"v3": "api-3"}}},
		{"versions not an object", `{"definition":{"name":"v1","versions":"x"}}`, VersionSet{Name: "v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, d.VersionSet()); diff != "" {
				t.Errorf("VersionSet (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMeta(t *testing.T) {
	d, err := Parse([]byte(`{"api_id":"a2","name":"Orders v2","internal":true,"expiration":"2030-01-02 15:04"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := VersionMeta{ID: "a2", Name: "Orders v2", VersionName: "v2", Internal: true, ExpirationDate: "2030-01-02 15:04", IsDefaultVersion: true}
	if diff := cmp.Diff(want, d.Meta("v2", true)); diff != "" {
		t.Errorf("Meta (-want +got):\n%s", diff)
	}
	d, _ = Parse([]byte(`{"api_id":"a3","internal":"yes","expiration":5}`))
	if m := d.Meta("", false); m.Internal || m.ExpirationDate != "" {
		t.Errorf("wrongly typed internal/expiration should read as absent: %+v", m)
	}
}
