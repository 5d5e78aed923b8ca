package session

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Int is an int64 that also accepts Tyk's float renderings of integers
// (1.718439136e+09, 100.0), as the dashboard's examples send them. Fractions and
// values outside int64 are refused as type errors, so the decoder names the field.
type Int int64

// UnmarshalJSON implements json.Unmarshaler.
func (i *Int) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*i = Int(n)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || len(s) == 0 || s[0] == '"' {
		return &json.UnmarshalTypeError{Value: describe(s), Type: reflect.TypeFor[int64]()}
	}
	if f != math.Trunc(f) || f > math.MaxInt64 || f < math.MinInt64 {
		return &json.UnmarshalTypeError{Value: "number " + s, Type: reflect.TypeFor[int64]()}
	}
	*i = Int(f)
	return nil
}

func describe(s string) string {
	switch {
	case strings.HasPrefix(s, `"`):
		return "string"
	case s == "true" || s == "false":
		return "bool"
	case strings.HasPrefix(s, "{"):
		return "object"
	case strings.HasPrefix(s, "["):
		return "array"
	}
	return "number " + s
}

// UnixString is Tyk's last_updated: Unix seconds written as a JSON string. A bare
// number is accepted too.
type UnixString string

// UnmarshalJSON implements json.Unmarshaler.
func (u *UnixString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*u = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*u = UnixString(s)
		return nil
	}
	var n Int
	if err := n.UnmarshalJSON(b); err != nil {
		return &json.UnmarshalTypeError{Value: describe(string(b)), Type: reflect.TypeFor[string]()}
	}
	*u = UnixString(strconv.FormatInt(int64(n), 10))
	return nil
}

// Time is an RFC 3339 timestamp that also accepts "" and null as the zero time, and
// writes the zero time as Tyk does ("0001-01-01T00:00:00Z").
type Time struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if s := string(b); s == "null" || s == `""` {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: describe(string(b)), Type: reflect.TypeFor[string]()}
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "string " + strconv.Quote(s), Type: reflect.TypeFor[time.Time]()}
	}
	t.Time = v
	return nil
}

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(time.RFC3339Nano) + `"`), nil
}

// Extra holds the JSON members of an object that the typed struct does not know, so
// that what a client stores is what it reads back.
type Extra map[string]json.RawMessage

// jsonNames lists the JSON member names of a struct type's fields.
func jsonNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	return names
}

// decodeKeeping decodes data into v, a pointer to a method-less mirror of a struct
// type, and returns the members v's fields do not name: the one way every type here
// keeps what it does not know.
func decodeKeeping(data []byte, v any, known map[string]bool) (Extra, error) {
	if err := json.Unmarshal(data, v); err != nil {
		return nil, err
	}
	return splitExtra(data, known)
}

// encodeKeeping encodes v and splices extra back in.
func encodeKeeping(v any, extra Extra) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return appendExtra(b, extra)
}

// splitExtra decodes data's members and returns those not in known.
func splitExtra(data []byte, known map[string]bool) (Extra, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	var extra Extra
	for k, v := range all {
		if !known[k] {
			if extra == nil {
				extra = Extra{}
			}
			extra[k] = v
		}
	}
	return extra, nil
}

// appendExtra splices extra members into the encoded object b (which ends in '}').
func appendExtra(b []byte, extra Extra) ([]byte, error) {
	if len(extra) == 0 {
		return b, nil
	}
	b = bytes.TrimRight(b, "\n")
	b = b[:len(b)-1]
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, name...)
		b = append(b, ':')
		b = append(b, extra[k]...)
	}
	return append(b, '}'), nil
}
