package dashboard_test

import (
	"testing"

	"github.com/tollgate/tollgate/internal/dashboard"
)

// TestInFormWords: the service's reasons, which begin with JSON names, read in the
// API form's words; a reason about a field the form does not show is kept.
func TestInFormWords(t *testing.T) {
	tests := []struct {
		name, field, reason, want string
	}{
		{"empty name", "name", "name must not be empty", "The API name must not be empty."},
		{"relative listen path", "proxy.listen_path", `proxy.listen_path "a" must start with '/'`, `The listen path "a" must start with '/'.`},
		{"taken listen path", "proxy.listen_path", `proxy.listen_path "/a" is already used by API x`, `The listen path "/a" is already used by API x.`},
		{"no target", "proxy.target_url", "proxy.target_url must not be empty", "The target URL must not be empty."},
		{"header name", "auth.auth_header_name", `auth: auth_header_name "a b" is not a valid header name`, `The key header name "a b" is not a valid header name.`},
		{"rate part", "global_rate_limit", "global_rate_limit: per is too long (a window of more than 100 years)", "The API-level rate limit: per is too long (a window of more than 100 years)."},
		{"field the form lacks", "domain", `domain "a b" is not a host name`, `domain "a b" is not a host name`},
		{"reason that does not start with the field", "name", "something else", "something else"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dashboard.InFormWords(tt.field, tt.reason); got != tt.want {
				t.Fatalf("InFormWords(%q, %q) = %q, want %q", tt.field, tt.reason, got, tt.want)
			}
		})
	}
}
