package apidef

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// idLen is the length of a database id: 24 hex characters, the shape of the MongoDB
// ObjectIds Tyk's dashboard gives every API (api_definition.id), which its tools
// parse as such.
const idLen = 24

// IsID reports whether s has the shape of a database id: 24 hexadecimal characters,
// in either letter case (ObjectIds are read case-insensitively).
func IsID(s string) bool {
	if len(s) != idLen {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// NewID mints a database id laid out as an ObjectId is: the creation time in seconds
// (4 bytes, big-endian) and 8 random bytes, so that tools which read the time out of
// Tyk's ids read a true one, and ids sort by creation.
func NewID(now time.Time) string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(now.Unix()))
	_, _ = rand.Read(b[4:])
	return hex.EncodeToString(b[:])
}

// DerivedID is the database id of an API stored before APIs had one: derived from
// its api_id alone, so every node, every read and the next write agree on it without
// a migration. A collision with a minted id is as likely as two random 96-bit ids
// meeting.
func DerivedID(apiID string) string {
	sum := sha256.Sum256([]byte("tollgate api database id\x00" + apiID))
	return hex.EncodeToString(sum[:idLen/2])
}

// IDOf reads the database id of a stored definition without parsing the rest of it:
// "" when it has none or one that is not a string.
func IDOf(definition []byte) string {
	var v struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(definition, &v) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(v.ID, &id) != nil {
		return ""
	}
	return id
}

// ID is the database id ("id"), distinct from api_id; "" when the definition carries
// none, or carries one that is not a string (CheckID reports that).
func (d *Definition) ID() string {
	var id string
	if v, ok := d.raw["id"]; ok && json.Unmarshal(v, &id) == nil {
		return id
	}
	return ""
}

// SetID sets the database id.
func (d *Definition) SetID(id string) { d.setString("id", id) }

// CheckID reports an "id" the client sent that is not a database id. It is not part
// of Validate, which the gateway also runs on stored definitions: routing does not
// read the id, so an old definition is never dropped from service for it.
func (d *Definition) CheckID() error {
	v, ok := d.raw["id"]
	if !ok || string(v) == "null" {
		return nil
	}
	var id string
	if json.Unmarshal(v, &id) != nil || (id != "" && !IsID(id)) {
		return invalid("id", "id must be a database id of 24 hexadecimal characters, or left out to have one generated")
	}
	return nil
}

// SetListenPath sets proxy.listen_path, keeping the proxy section's other fields.
func (d *Definition) SetListenPath(p string) {
	proxy := map[string]json.RawMessage{}
	if v, ok := d.raw["proxy"]; ok && string(v) != "null" {
		// Parse decoded the section into Proxy, so it is an object.
		_ = json.Unmarshal(v, &proxy)
	}
	b, _ := json.Marshal(p)
	proxy["listen_path"] = b
	d.raw["proxy"], _ = json.Marshal(proxy)
	d.fields.Proxy.ListenPath = p
}

// VersionMeta is one member of a version set as Tyk's gateway lists it
// (GET /tyk/apis/{id}/versions).
type VersionMeta struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	VersionName      string `json:"versionName"`
	Internal         bool   `json:"internal"`
	ExpirationDate   string `json:"expirationDate"`
	IsDefaultVersion bool   `json:"isDefaultVersion"`
}

// VersionSet is what the definition section says about the versions of a base API
// (Tyk's newer versioning, where each version is an API of its own): the base's
// version name, the default version's name, and the api_id of each other version.
type VersionSet struct {
	Name, Default string
	Versions      map[string]string
}

// VersionSet reads definition.name, definition.default and definition.versions.
// Tollgate stores these unchanged and does not route by them, so they are read
// leniently: a value of another type than Tyk's reads as absent.
func (d *Definition) VersionSet() VersionSet {
	var sec map[string]json.RawMessage
	_ = json.Unmarshal(d.raw["definition"], &sec)
	vs := VersionSet{Name: looseString(sec["name"]), Default: looseString(sec["default"])}
	var versions map[string]json.RawMessage
	_ = json.Unmarshal(sec["versions"], &versions)
	for name, v := range versions {
		if id := looseString(v); id != "" {
			if vs.Versions == nil {
				vs.Versions = map[string]string{}
			}
			vs.Versions[name] = id
		}
	}
	return vs
}

// Meta is the definition as a member of a version set, under versionName.
func (d *Definition) Meta(versionName string, isDefault bool) VersionMeta {
	var internal bool
	_ = json.Unmarshal(d.raw["internal"], &internal)
	return VersionMeta{ID: d.APIID(), Name: d.Name(), VersionName: versionName, Internal: internal,
		ExpirationDate: looseString(d.raw["expiration"]), IsDefaultVersion: isDefault}
}

func looseString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

// NormalID is the stored form of a database id: lower case, as ObjectIds print.
func NormalID(id string) string { return strings.ToLower(id) }
