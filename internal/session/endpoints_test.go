package session

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/fault"
)

// right wraps one access right's members (JSON) into a session for API "a".
func right(members string) string {
	return `{"access_rights":{"a":{"api_id":"a","versions":["Default"]` + members + `}}}`
}

func TestEndpointsRoundTrip(t *testing.T) {
	in := right(`,"endpoints":[{"path":"/users","x":1,"methods":[{"name":"GET","y":[2],"limit":{"rate":10,"per":1,"z":"k","smoothing":{"enabled":false}}}]}]`)
	s, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	ep := s.AccessRights["a"].Endpoints
	if len(ep) != 1 || ep[0].Path != "/users" || ep[0].Methods[0].Name != "GET" || ep[0].Methods[0].Limit.Rate != 10 {
		t.Fatalf("decoded endpoints: %+v", ep)
	}
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"x":1`, `"y":[2]`, `"z":"k"`, `"smoothing":{"enabled":false}`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("unknown member %s lost: %s", want, out)
		}
	}
	if err := s.Validate(now, true); err != nil {
		t.Errorf("valid endpoints refused: %v", err)
	}
}

// TestUnreadableEndpointsStillLoad: endpoints of the wrong shape (stored before
// they were typed) do not make the key unreadable; they are written back as they
// were, refused on the next write, and close the API meanwhile.
func TestUnreadableEndpointsStillLoad(t *testing.T) {
	for _, raw := range []string{`{"path":"/x"}`, `"everything"`, `[{"path":7}]`, `[{"methods":{"GET":1}}]`} {
		t.Run(raw, func(t *testing.T) {
			s, err := Decode([]byte(right(`,"endpoints":` + raw)))
			if err != nil {
				t.Fatalf("stored session no longer decodes: %v", err)
			}
			out, _ := json.Marshal(s)
			if !strings.Contains(string(out), `"endpoints":`+raw) {
				t.Errorf("endpoints not kept as stored: %s", out)
			}
			err = s.Validate(now, false)
			var f *fault.Error
			if !errors.As(err, &f) || f.Field != "access_rights.a.endpoints" {
				t.Errorf("Validate = %v, want a fault on access_rights.a.endpoints", err)
			}
			r, _ := Compile(s).Access("a", false)
			if r.AllowsURL("GET", "/x") {
				t.Error("an API whose endpoint limits cannot be read is open")
			}
		})
	}
}

func TestValidateEndpoints(t *testing.T) {
	limit := func(l string) string {
		return `,"endpoints":[{"path":"/x","methods":[{"name":"GET","limit":` + l + `}]}]`
	}
	tests := []struct {
		name, members, field string
	}{
		{"valid", `,"endpoints":[{"path":"^/a/[0-9]+$","methods":[{"name":"GET","limit":{"rate":5,"per":1}},{"name":"POST","limit":{"rate":0.5,"per":2}}]}]`, ""},
		{"none", `,"endpoints":[]`, ""},
		{"null", `,"endpoints":null`, ""},
		{"empty path", `,"endpoints":[{"path":"","methods":[{"name":"GET","limit":{"rate":1,"per":1}}]}]`, "access_rights.a.endpoints[0].path"},
		{"bad regexp", `,"endpoints":[{"path":"/x","methods":[{"name":"GET","limit":{"rate":1,"per":1}}]},{"path":"(","methods":[{"name":"GET","limit":{"rate":1,"per":1}}]}]`, "access_rights.a.endpoints[1].path"},
		{"no methods", `,"endpoints":[{"path":"/x","methods":[]}]`, "access_rights.a.endpoints[0].methods"},
		{"lower-case method", `,"endpoints":[{"path":"/x","methods":[{"name":"GET","limit":{"rate":1,"per":1}},{"name":"post","limit":{"rate":1,"per":1}}]}]`, "access_rights.a.endpoints[0].methods[1].name"},
		{"repeated method", `,"endpoints":[{"path":"/x","methods":[{"name":"GET","limit":{"rate":1,"per":1}}]},{"path":"/x","methods":[{"name":"GET","limit":{"rate":9,"per":1}}]}]`, "access_rights.a.endpoints[1].methods[0].name"},
		{"no rate", limit(`{"rate":0,"per":1}`), "access_rights.a.endpoints[0].methods[0].limit.rate"},
		{"rate off", limit(`{"rate":-1,"per":1}`), "access_rights.a.endpoints[0].methods[0].limit.rate"},
		{"no per", limit(`{"rate":1}`), "access_rights.a.endpoints[0].methods[0].limit.per"},
		{"negative per", limit(`{"rate":1,"per":-1}`), "access_rights.a.endpoints[0].methods[0].limit.per"},
		{"absurd rate", limit(`{"rate":1e12,"per":1}`), "access_rights.a.endpoints[0].methods[0].limit.rate"},
		{"window past 100 years", limit(`{"rate":1,"per":1e10}`), "access_rights.a.endpoints[0].methods[0].limit.per"},
		{"smoothing on", limit(`{"rate":1,"per":1,"smoothing":{"enabled":true,"threshold":5}}`), "access_rights.a.endpoints[0].methods[0].limit.smoothing"},
		{"smoothing off", limit(`{"rate":1,"per":1,"smoothing":{"enabled":false,"threshold":500,"trigger":0.8,"step":100,"delay":30}}`), ""},
		{"too many", `,"endpoints":[` + strings.Repeat(`{"path":"/x","methods":[]},`, MaxEndpoints) + `{"path":"/y","methods":[]}]`, "access_rights.a.endpoints"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkField(t, right(tt.members), tt.field)
		})
	}
}

// checkField validates body as a new key: field "" means valid, anything else
// the field the refusal must name.
func checkField(t *testing.T, body, field string) {
	t.Helper()
	s, err := Decode([]byte(body))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	err = s.Validate(now, true)
	if field == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	var f *fault.Error
	if !errors.As(err, &f) || f.Kind != fault.Invalid || f.Field != field {
		t.Fatalf("Validate = %v (%+v), want invalid %s", err, f, field)
	}
	if !strings.Contains(err.Error(), field) {
		t.Errorf("message does not name %s: %v", field, err)
	}
}

func TestLimitsFor(t *testing.T) {
	s, err := Decode([]byte(`{"rate":50,"per":60,"access_rights":{` +
		`"a":{"api_id":"a","versions":["Default"],"endpoints":[` +
		`{"path":"^/a/users","methods":[{"name":"GET","limit":{"rate":1,"per":10}}]},` +
		`{"path":"/items/[0-9]+$","methods":[{"name":"POST","limit":{"rate":2,"per":20}},{"name":"GET","limit":{"rate":3,"per":30}}]},` +
		`{"path":"^/a/users/me","methods":[{"name":"GET","limit":{"rate":4,"per":40}}]}]},` +
		`"b":{"api_id":"b","versions":["Default"],"limit":{"rate":7,"per":70,"quota_max":9},"endpoints":[` +
		`{"path":"^/a/users","methods":[{"name":"GET","limit":{"rate":5,"per":50}}]}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(now, true); err != nil {
		t.Fatal(err)
	}
	s.Prepare(now, nil, false)
	c := Compile(s)
	ra, _ := c.Access("a", false)
	rb, _ := c.Access("b", false)
	type got struct {
		Rate, Per float64
		Endpoint  bool
	}
	tests := []struct {
		name         string
		r            *Right
		method, path string
		want         got
	}{
		{"first match", ra, "GET", "/a/users/me", got{1, 10, true}},
		{"unanchored path", ra, "GET", "/a/shop/items/12", got{3, 30, true}},
		{"method of a later entry", ra, "POST", "/a/items/12", got{2, 20, true}},
		{"letter case of the method", ra, "post", "/a/items/12", got{2, 20, true}},
		{"method not listed", ra, "DELETE", "/a/items/12", got{50, 60, false}},
		{"path not matched", ra, "GET", "/a/items/12/x", got{50, 60, false}},
		{"per-API right", rb, "GET", "/a/users", got{5, 50, true}},
		{"per-API right, no endpoint", rb, "GET", "/b", got{7, 70, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.r.LimitsFor(tt.method, tt.path)
			base := tt.r.Limits()
			g := got{l.Rate, l.Per, l.RateScope != base.Scope}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("limits (-want +got): %s", diff)
			}
			// The quota and its counter stay the right's.
			if l.Scope != base.Scope || l.QuotaMax != base.QuotaMax {
				t.Errorf("quota moved: %+v, right's %+v", l, base)
			}
		})
	}
	// Endpoint counters are apart from each other, from the right's, and from
	// the same endpoint under another right with a scope of its own.
	scopes := map[string]string{}
	for name, sc := range map[string]string{
		"a":           ra.Limits().RateScope,
		"a GET users": ra.LimitsFor("GET", "/a/users").RateScope,
		"a GET items": ra.LimitsFor("GET", "/a/items/1").RateScope,
		"a POST item": ra.LimitsFor("POST", "/a/items/1").RateScope,
		"b":           rb.Limits().RateScope,
		"b GET users": rb.LimitsFor("GET", "/a/users").RateScope,
	} {
		if other, dup := scopes[sc]; dup {
			t.Errorf("%s and %s share counter scope %q", name, other, sc)
		}
		scopes[sc] = name
	}
	if sc := ra.LimitsFor("GET", "/a/users").RateScope; !strings.HasPrefix(sc, "#") {
		t.Errorf("session-level endpoint scope %q", sc)
	}
	if sc := rb.LimitsFor("GET", "/a/users").RateScope; !strings.HasPrefix(sc, "b#") {
		t.Errorf("per-API endpoint scope %q", sc)
	}
}

func TestThrottle(t *testing.T) {
	tests := []struct {
		name, json string
		want       Throttle
	}{
		{"session", `{"throttle_interval":2,"throttle_retry_limit":3,"access_rights":{"a":{}}}`, Throttle{2 * time.Second, 3}},
		{"fractional interval", `{"throttle_interval":0.25,"throttle_retry_limit":3,"access_rights":{"a":{}}}`, Throttle{250 * time.Millisecond, 3}},
		{"Tyk's off", `{"throttle_interval":-1,"throttle_retry_limit":-1,"access_rights":{"a":{}}}`, Throttle{}},
		{"no interval", `{"throttle_interval":0,"throttle_retry_limit":3,"access_rights":{"a":{}}}`, Throttle{}},
		{"no retries", `{"throttle_interval":2,"throttle_retry_limit":0,"access_rights":{"a":{}}}`, Throttle{}},
		{"cut to 30 s", `{"throttle_interval":10,"throttle_retry_limit":10,"access_rights":{"a":{}}}`, Throttle{10 * time.Second, 3}},
		{"per-API limit wins", `{"throttle_interval":2,"throttle_retry_limit":3,"access_rights":{"a":{"limit":{"rate":1,"per":1,"throttle_interval":1,"throttle_retry_limit":1}}}}`, Throttle{time.Second, 1}},
		{"per-API limit without throttle wins", `{"throttle_interval":2,"throttle_retry_limit":3,"access_rights":{"a":{"limit":{"rate":1,"per":1}}}}`, Throttle{}},
		{"stored interval past the cap", `{"throttle_interval":1e300,"throttle_retry_limit":3,"access_rights":{"a":{}}}`, Throttle{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Decode([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Throttle("a"); got != tt.want {
				t.Errorf("Throttle = %+v, want %+v", got, tt.want)
			}
			r, _ := Compile(s).Access("a", false)
			if got := r.Limits().Throttle; got != tt.want {
				t.Errorf("compiled throttle = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMergeEndpoints(t *testing.T) {
	ep := func(path string, methods ...EndpointMethod) Endpoint { return Endpoint{Path: path, Methods: methods} }
	m := func(name string, rate, per float64) EndpointMethod {
		return EndpointMethod{Name: name, Limit: RateLimit{Rate: rate, Per: per}}
	}
	tests := []struct {
		name string
		a, b []Endpoint
		want []Endpoint
	}{
		{"b empty", []Endpoint{ep("/x", m("GET", 1, 1))}, nil, []Endpoint{ep("/x", m("GET", 1, 1))}},
		{"a empty", nil, []Endpoint{ep("/x", m("GET", 1, 1))}, []Endpoint{ep("/x", m("GET", 1, 1))}},
		{"higher allowance wins", []Endpoint{ep("/x", m("GET", 1, 10))}, []Endpoint{ep("/x", m("GET", 5, 10))}, []Endpoint{ep("/x", m("GET", 5, 10))}},
		{"lower allowance loses", []Endpoint{ep("/x", m("GET", 5, 10))}, []Endpoint{ep("/x", m("GET", 1, 10))}, []Endpoint{ep("/x", m("GET", 5, 10))}},
		{"same interval: higher rate", []Endpoint{ep("/x", m("GET", 5, 30))}, []Endpoint{ep("/x", m("GET", 10, 60))}, []Endpoint{ep("/x", m("GET", 10, 60))}},
		{"new method joins its path", []Endpoint{ep("/x", m("GET", 1, 1))}, []Endpoint{ep("/x", m("POST", 2, 1))}, []Endpoint{ep("/x", m("GET", 1, 1), m("POST", 2, 1))}},
		{"new path appended", []Endpoint{ep("/x", m("GET", 1, 1))}, []Endpoint{ep("/y", m("GET", 2, 1))}, []Endpoint{ep("/x", m("GET", 1, 1)), ep("/y", m("GET", 2, 1))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cloneEndpoints(tt.a)
			got := MergeEndpoints(tt.a, tt.b)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("merge (-want +got): %s", diff)
			}
			if diff := cmp.Diff(before, tt.a); diff != "" {
				t.Errorf("a changed: %s", diff)
			}
		})
	}
}

func cloneEndpoints(es []Endpoint) []Endpoint {
	var out []Endpoint
	for _, e := range es {
		e.Methods = append([]EndpointMethod(nil), e.Methods...)
		out = append(out, e)
	}
	return out
}
