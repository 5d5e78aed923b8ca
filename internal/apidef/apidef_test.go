package apidef

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/fault"
)

func TestParseKeepsUnknownFields(t *testing.T) {
	in := `{"api_id":"a1","name":"x","custom_plugin":{"deep":[1,2]},"proxy":{"listen_path":"/x/","target_url":"http://u","extra":true}}`
	d, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	d.SetOrgID("org")
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got["org_id"] != "org" || got["custom_plugin"] == nil || got["proxy"].(map[string]any)["extra"] != true {
		t.Fatalf("unknown fields lost or org not set: %s", out)
	}
}

func TestValidate(t *testing.T) {
	valid := `{"api_id":"a1","name":"n","proxy":{"listen_path":"/x/","target_url":"http://up:8080/base"}}`
	tests := []struct {
		name    string
		json    string
		wantErr string // substring; empty means valid
	}{
		{"valid", valid, ""},
		{"keyless", `{"api_id":"a","name":"n","use_keyless":true,"proxy":{"listen_path":"/","target_url":"https://up"}}`, ""},
		{"missing listen path", `{"api_id":"a","name":"n","proxy":{"target_url":"http://up"}}`, "listen_path must not be empty"},
		{"listen path with space", `{"api_id":"a","name":"n","proxy":{"listen_path":"/a b","target_url":"http://up"}}`, "spaces"},
		{"listen path relative", `{"api_id":"a","name":"n","proxy":{"listen_path":"a","target_url":"http://up"}}`, "must start with '/'"},
		{"listen path dotdot", `{"api_id":"a","name":"n","proxy":{"listen_path":"/a/../b","target_url":"http://up"}}`, "'..'"},
		{"bad target scheme", `{"api_id":"a","name":"n","proxy":{"listen_path":"/a","target_url":"ftp://up"}}`, "http:// or https://"},
		{"target without host", `{"api_id":"a","name":"n","proxy":{"listen_path":"/a","target_url":"http://"}}`, "no host"},
		{"target not a URL", `{"api_id":"a","name":"n","proxy":{"listen_path":"/a","target_url":"http://a b:x"}}`, "not a valid URL"},
		{"target with credentials", `{"api_id":"a","name":"n","proxy":{"listen_path":"/a","target_url":"http://u:p@up"}}`, "credentials"},
		{"no name", `{"api_id":"a","proxy":{"listen_path":"/a","target_url":"http://up"}}`, "name must not be empty"},
		{"bad api id", `{"api_id":"a/b","name":"n","proxy":{"listen_path":"/a","target_url":"http://up"}}`, "api_id"},
		{"negative global rate", `{"api_id":"a","name":"n","global_rate_limit":{"rate":-1,"per":1},"proxy":{"listen_path":"/a","target_url":"http://up"}}`, "global_rate_limit"},
		{"rate without per", `{"api_id":"a","name":"n","global_rate_limit":{"rate":5,"per":0},"proxy":{"listen_path":"/a","target_url":"http://up"}}`, "per must be positive"},
		{"no way to read key", `{"api_id":"a","name":"n","auth":{"disable_header":true},"proxy":{"listen_path":"/a","target_url":"http://up"}}`, "could not be read"},
		{"bad version location", `{"api_id":"a","name":"n","definition":{"location":"body"},"proxy":{"listen_path":"/a","target_url":"http://up"}}`, "definition.location"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.json))
			if err == nil {
				err = d.Validate()
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if k := fault.KindOf(err); (k != fault.Invalid && k != fault.Malformed) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("want an invalid or malformed fault containing %q, got %v (%v)", tt.wantErr, err, k)
			}
		})
	}
}

// TestProblemsListsEveryField: a definition wrong in several fields reports each
// of them, in order, while Validate's fault reads as the first.
func TestProblemsListsEveryField(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []string // the fields at fault
	}{
		{"valid", `{"api_id":"a","name":"n","proxy":{"listen_path":"/a","target_url":"http://up"}}`, nil},
		{"name and listen path", `{"api_id":"a","proxy":{"listen_path":"a","target_url":"http://up"}}`, []string{"name", "proxy.listen_path"}},
		{"everything the form shows", `{"api_id":"a","name":" ","auth":{"auth_header_name":"a b"},"global_rate_limit":{"rate":-1},"proxy":{"listen_path":"/a b","target_url":"ftp://up"}}`,
			[]string{"name", "proxy.listen_path", "proxy.target_url", "auth.auth_header_name", "global_rate_limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			var fields []string
			for _, f := range fault.All(d.Validate()) {
				if f.Kind != fault.Invalid {
					t.Errorf("%s: kind %v", f.Field, f.Kind)
				}
				fields = append(fields, f.Field)
			}
			if fmt.Sprint(fields) != fmt.Sprint(tt.want) {
				t.Fatalf("fields at fault %v, want %v", fields, tt.want)
			}
			if len(tt.want) > 0 {
				if f, _ := fault.As(d.Validate()); f.Field != tt.want[0] {
					t.Fatalf("Validate reads as %q, want the first, %q", f.Field, tt.want[0])
				}
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{``, `[]`, `null`, `{"name":`, `{"name":5}`, `{"proxy":"x"}`} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}

func TestAuthTokenFallbacks(t *testing.T) {
	tests := []struct{ name, json, header string }{
		{"default", `{}`, "Authorization"},
		{"legacy auth", `{"auth":{"auth_header_name":"X-Key"}}`, "X-Key"},
		{"auth_configs wins", `{"auth":{"auth_header_name":"X-Old"},"auth_configs":{"authToken":{"auth_header_name":"X-New"}}}`, "X-New"},
	}
	for _, tt := range tests {
		d, err := Parse([]byte(tt.json))
		if err != nil {
			t.Fatal(err)
		}
		if got := d.AuthToken().AuthHeaderName; got != tt.header {
			t.Errorf("%s: header %q, want %q", tt.name, got, tt.header)
		}
	}
}

func TestNormalizeListenPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"}, {"/a", "/a"}, {"/a/", "/a"}, {"/a/b/", "/a/b"}, {"/v1.0/x", "/v1.0/x"},
	}
	for _, tt := range tests {
		got, err := NormalizeListenPath(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeListenPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "a", "/a//b", "/a?b", "/a#b", "/./a", "/a\tb", "/{id}"} {
		if _, err := NormalizeListenPath(bad); err == nil {
			t.Errorf("NormalizeListenPath(%q) accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"api_id":"a1","name":"n","proxy":{"listen_path":"/x/","target_url":"http://up"}}`))
	f.Add([]byte(`{"auth_configs":{"authToken":{"use_param":true}},"active":false}`))
	f.Add([]byte(`{"global_rate_limit":{"rate":1e308,"per":-0}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		if d.Validate() == nil {
			// A valid definition has a routable key and survives a round trip.
			lp, err := NormalizeListenPath(d.Proxy().ListenPath)
			if err != nil || !strings.HasPrefix(lp, "/") {
				t.Fatalf("valid definition with bad listen path %q", d.Proxy().ListenPath)
			}
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("marshal parsed definition: %v", err)
		}
		d2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if d2.APIID() != d.APIID() || d2.Proxy() != d.Proxy() || d2.Active() != d.Active() {
			t.Fatalf("round trip changed the definition")
		}
	})
}

func FuzzNormalizeListenPath(f *testing.F) {
	for _, s := range []string{"/", "/a/", "/a/b", "//", "/a/../b", "/é/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		n, err := NormalizeListenPath(p)
		if err != nil {
			return
		}
		if !strings.HasPrefix(n, "/") || (n != "/" && strings.HasSuffix(n, "/")) || strings.Contains(n, "//") {
			t.Fatalf("NormalizeListenPath(%q) = %q", p, n)
		}
		if n2, err := NormalizeListenPath(n); err != nil || n2 != n {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", p, n, n2, err)
		}
	})
}
