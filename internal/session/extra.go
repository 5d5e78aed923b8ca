package session

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"

	"github.com/tollgate/tollgate/internal/fault"
)

// The helpers below serve other Tyk documents built from session parts (policies):
// the same leniency, the same unknown-member keeping, the same error wording.

// JSONNames lists the JSON member names of a struct type's fields: the members a
// document type knows, for SplitExtra.
func JSONNames(t reflect.Type) map[string]bool { return jsonNames(t) }

// SplitExtra decodes data's members and returns those not in known.
func SplitExtra(data []byte, known map[string]bool) (Extra, error) { return splitExtra(data, known) }

// AppendExtra splices extra members into the encoded object b (which ends in '}').
func AppendExtra(b []byte, extra Extra) ([]byte, error) { return appendExtra(b, extra) }

// DecodeObject parses data, which must be one JSON object, into v. A body that is
// not one object is a fault.Malformed; a value of the wrong type is a
// fault.Invalid naming its field. what names the document in messages.
func DecodeObject(data []byte, v any, what string) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return fault.Newf(fault.Malformed, "the %s must be a JSON object", what)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fault.Newf(fault.Malformed, "trailing data after the %s object", what)
	}
	return nil
}
