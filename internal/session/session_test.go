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

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func TestDecodeBothStyles(t *testing.T) {
	full := `{"last_check":0,"allowance":10,"rate":10,"per":60,"throttle_interval":-1,"throttle_retry_limit":-1,"max_query_depth":-1,
	"date_created":"0001-01-01T00:00:00Z","expires":1.718439136e+09,"quota_max":100,"quota_renews":0,"quota_remaining":0,
	"quota_renewal_rate":3600,"access_rights":{"a":{"api_id":"a","api_name":"A","versions":["Default"],"allowed_urls":null,
	"limit":{"rate":0,"per":0,"throttle_interval":0,"throttle_retry_limit":0,"max_query_depth":0,"quota_max":0,"quota_renews":0,"quota_remaining":0,"quota_renewal_rate":0}}},
	"org_id":"o","oauth_client_id":"","oauth_keys":null,"certificate":"","basic_auth_data":{"password":"","hash_type":""},
	"jwt_data":{"secret":""},"hmac_enabled":false,"hmac_string":"","is_inactive":false,"apply_policy_id":"","apply_policies":[],
	"data_expires":0,"monitor":{"trigger_limits":null},"enable_detail_recording":false,"meta_data":{},"tags":[],"alias":"",
	"last_updated":"1723203634","id_extractor_deadline":0,"session_lifetime":0}`
	compact := `{"allowance":10,"rate":10,"per":60,"throttle_interval":-1,"throttle_retry_limit":-1,"max_query_depth":-1,
	"expires":1718439136,"quota_max":100,"quota_renewal_rate":3600,"access_rights":{"a":{"api_id":"a","api_name":"A","versions":["Default"]}},"org_id":"o","last_updated":1723203634}`
	a, err := Decode([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Decode([]byte(compact))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Compile(a).rights["a"].limits, Compile(b).rights["a"].limits); diff != "" {
		t.Errorf("limits differ: %s", diff)
	}
	if a.Expires != 1718439136 || b.Expires != 1718439136 || a.LastUpdated != "1723203634" || b.LastUpdated != "1723203634" {
		t.Errorf("numbers: %v %v %q %q", a.Expires, b.Expires, a.LastUpdated, b.LastUpdated)
	}
	if !a.AccessRights["a"].Limit.IsEmpty() || !b.AccessRights["a"].Limit.IsEmpty() {
		t.Error("all-zero and absent limits must both be empty")
	}
}

func TestRoundTripKeepsUnknown(t *testing.T) {
	in := `{"rate":1,"per":1,"brand_new_field":[1,2,3],"access_rights":{"a":{"api_id":"a","mcp_tools":{"x":1}}}}`
	s, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"brand_new_field":[1,2,3]`, `"mcp_tools":{"x":1}`, `"date_created":"0001-01-01T00:00:00Z"`, `"oauth_keys":null`, `"meta_data":{}`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %s: %s", want, out)
		}
	}
	s2, err := Decode(out)
	if err != nil {
		t.Fatalf("re-decode: %v", err)
	}
	out2, _ := json.Marshal(s2)
	if string(out) != string(out2) {
		t.Errorf("round trip not stable:\n%s\n%s", out, out2)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, json string
		creating   bool
		wantErr    string
	}{
		{"sentinels off", `{"rate":-1,"per":-1,"quota_max":-1,"quota_renewal_rate":-1,"expires":-1,"throttle_retry_limit":-1,"throttle_interval":-1}`, true, ""},
		{"zeros off", `{}`, true, ""},
		{"rate with per", `{"rate":5,"per":1}`, true, ""},
		{"rate without per", `{"rate":5}`, true, "per must be positive"},
		{"rate with negative per", `{"rate":5,"per":-1}`, true, "per must be positive"},
		{"negative rate", `{"rate":-3,"per":1}`, true, "rate must be -1, 0 or positive"},
		{"negative quota", `{"quota_max":-2}`, true, "quota_max"},
		{"expires before -1", `{"expires":-5}`, true, "expires"},
		{"past expiry on create", `{"expires":1000}`, true, "in the past"},
		{"past expiry on update", `{"expires":1000}`, false, ""},
		{"bad post expiry action", `{"post_expiry_action":"explode"}`, true, "post_expiry_action"},
		{"limit checked", `{"access_rights":{"a":{"limit":{"quota_max":-9}}}}`, true, "access_rights.a.limit.quota_max"},
		{"empty version", `{"access_rights":{"a":{"versions":[""]}}}`, true, "versions[0]"},
		{"absurd rate", `{"rate":1e12,"per":1}`, true, "too high"},
		{"window past 100 years", `{"rate":1,"per":1e10}`, true, "per is too long"},
		{"fractional rate stretching the window", `{"rate":0.001,"per":1e7}`, true, "per is too long"},
		{"quota period past 100 years", `{"quota_max":2,"quota_renewal_rate":9000000000}`, true, "quota_renewal_rate is too long"},
		{"per-API window checked", `{"access_rights":{"a":{"limit":{"rate":1,"per":1e10}}}}`, true, "access_rights.a.limit.per is too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Decode([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Validate(now, tt.creating)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected: %v", err)
				}
				return
			}
			var ve *fault.Error
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	tests := map[string]string{
		`{"quota_max":"10"}`:                            "quota_max",
		`{"rate":true}`:                                 "rate",
		`{"expires":1.5}`:                               "expires",
		`{"expires":1e30}`:                              "expires",
		`{"access_rights":[]}`:                          "access_rights",
		`{"date_created":"yesterday"}`:                  "date_created",
		`{"access_rights":{"a":{"versions":"v1"}}}`:     "versions",
		`{"rate":1,}`:                                   "malformed JSON",
		`"just a string"`:                               "JSON object",
		`{"rate":1}{"rate":2}`:                          "trailing data",
		`{"access_rights":{"a":{"limit":{"per":"x"}}}}`: "per",
	}
	for in, want := range tests {
		_, err := Decode([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%s) = %v, want mention of %q", in, err, want)
		}
	}
}

func TestPrepare(t *testing.T) {
	s, _ := Decode([]byte(`{"rate":5,"per":1,"quota_max":10,"quota_renewal_rate":60,"quota_remaining":3,"quota_renews":1,
		"date_created":"2001-01-01T00:00:00Z","access_rights":{"a":{"limit":{"quota_max":4,"quota_renewal_rate":30}},"b":{}}}`))
	s.Prepare(now, nil, false)
	if s.DateCreated.Time != now || s.LastUpdated != "1795348800" || s.QuotaRemaining != 10 || int64(s.QuotaRenews) != now.Unix()+60 {
		t.Fatalf("create: %+v", s)
	}
	a := s.AccessRights["a"]
	if a.APIID != "a" || a.AllowanceScope != "a" || a.Limit.QuotaRemaining != 4 || int64(a.Limit.QuotaRenews) != now.Unix()+30 {
		t.Fatalf("per-API limit: %+v", a)
	}
	if b := s.AccessRights["b"]; b.AllowanceScope != "" || b.APIID != "b" || b.Versions == nil {
		t.Fatalf("no-limit right: %+v", b)
	}
	later := now.Add(time.Hour)
	upd, _ := Decode([]byte(`{"quota_max":10,"quota_renewal_rate":60,"access_rights":{"a":{"limit":{"quota_max":4,"quota_renewal_rate":30}}}}`))
	upd.Prepare(later, s, true)
	if upd.DateCreated != s.DateCreated || upd.LastUpdated != s.LastUpdated || upd.QuotaRenews != s.QuotaRenews {
		t.Fatalf("suppress_reset did not carry over: %+v", upd)
	}
	upd2, _ := Decode([]byte(`{"quota_max":10,"quota_renewal_rate":60}`))
	upd2.Prepare(later, s, false)
	if upd2.DateCreated != s.DateCreated || int64(upd2.QuotaRenews) != later.Unix()+60 {
		t.Fatalf("plain update: %+v", upd2)
	}
}

func TestCompiledAccess(t *testing.T) {
	s, _ := Decode([]byte(`{"rate":9,"per":3,"access_rights":{"a":{"versions":["v1"],"allowed_urls":[{"url":"^/a/items","methods":["GET","HEAD"]}]},
		"b":{"limit":{"rate":1,"per":2,"quota_max":5}}}}`))
	s.Prepare(now, nil, false)
	c := Compile(s)
	ra, ok := c.Access("a", false)
	if !ok || !ra.AllowsVersion("v1") || ra.AllowsVersion("v2") {
		t.Fatal("versions")
	}
	for _, tt := range []struct {
		method, path string
		want         bool
	}{{"GET", "/a/items/1", true}, {"HEAD", "/a/items", true}, {"POST", "/a/items", false}, {"GET", "/a/other", false}, {"get", "/a/items", false}} {
		if got := ra.AllowsURL(tt.method, tt.path); got != tt.want {
			t.Errorf("AllowsURL(%s %s) = %v", tt.method, tt.path, got)
		}
	}
	if l := ra.Limits(); l.Rate != 9 || l.Per != 3 || l.Scope != "" {
		t.Errorf("session limits: %+v", l)
	}
	rb, _ := c.Access("b", false)
	if l := rb.Limits(); l.Rate != 1 || l.QuotaMax != 5 || l.Scope != "b" {
		t.Errorf("per-API limits: %+v", l)
	}
	if _, ok := c.Access("zzz", true); ok {
		t.Error("unlisted API allowed for a non-master key")
	}
	m, _ := Decode([]byte(`{}`))
	cm := Compile(m)
	if _, ok := cm.Access("any", false); ok {
		t.Error("master key allowed without allow_master_keys")
	}
	if _, ok := cm.Access("any", true); !ok {
		t.Error("master key refused with allow_master_keys")
	}
	e, _ := Decode([]byte(`{"expires":2000}`))
	ce := Compile(e)
	if ce.Expired(1999) || !ce.Expired(2000) || Compile(m).Expired(1<<40) {
		t.Error("expiry: keys expire at expires, and 0 never expires")
	}
}

func FuzzDecodeSession(f *testing.F) {
	f.Add([]byte(`{"rate":1,"per":1,"access_rights":{"a":{"api_id":"a","limit":null}}}`))
	f.Add([]byte(`{"expires":1.718439136e+09,"last_updated":"1","x":{}}`))
	f.Add([]byte(`{"access_rights":{"a":{"allowed_urls":[{"url":"(a|b)+","methods":["GET"]}]}}}`))
	f.Add([]byte(`{"throttle_interval":2,"throttle_retry_limit":3,"access_rights":{"a":{"endpoints":[{"path":"^/x","methods":[{"name":"GET","limit":{"rate":1,"per":1}}]}]}}}`))
	f.Add([]byte(`{"smoothing":{"enabled":false},"access_rights":{"a":{"endpoints":{"path":1},"mcp_primitives":[]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data)
		if err != nil {
			var ve *fault.Error
			if !errors.As(err, &ve) {
				t.Fatalf("Decode error is not a fault: %T %v", err, err)
			}
			return
		}
		valid := s.Validate(now, true) == nil
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		s2, err := Decode(out)
		if err != nil {
			t.Fatalf("re-decode of own output: %v\n%s", err, out)
		}
		if (s2.Validate(now, true) == nil) != valid {
			t.Fatalf("validity changed across a round trip")
		}
		if valid {
			s.Prepare(now, nil, false)
			c := Compile(s)
			for id := range s.AccessRights {
				r, ok := c.Access(id, false)
				if !ok {
					t.Fatalf("right %q missing after compile", id)
				}
				_ = r.AllowsURL("GET", "/x")
				_ = r.LimitsFor("GET", "/x")
			}
		}
	})
}
