package manage

import (
	"testing"

	"github.com/tollgate/tollgate/internal/fault"
)

// TestParseRef pins the one rule both doors read hashed and suppress_reset by.
func TestParseRef(t *testing.T) {
	tests := []struct {
		hashed  string
		want    bool
		invalid bool
	}{
		{"", false, false},
		{"0", false, false},
		{"false", false, false},
		{"False", false, false},
		{"1", true, false},
		{"true", true, false},
		{"True", true, false},
		{"TRUE", true, false},
		{"yes", false, true},
		{"maybe", false, true},
		{" 1", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.hashed, func(t *testing.T) {
			ref, err := ParseRef("abc", tt.hashed)
			if tt.invalid {
				if f, ok := fault.As(err); !ok || f.Kind != fault.Invalid || f.Field != "hashed" {
					t.Fatalf("ParseRef(%q) = %v, want an invalid fault about hashed", tt.hashed, err)
				}
				return
			}
			if err != nil || ref != (Ref{ID: "abc", IsHash: tt.want}) {
				t.Fatalf("ParseRef(%q) = %+v %v", tt.hashed, ref, err)
			}
		})
	}
	if _, err := ParseFlag("suppress_reset", "Maybe"); err == nil || err.Error() != `Query parameter suppress_reset must be true or false, not "maybe"` {
		t.Fatalf("ParseFlag message: %v", err)
	}
}
