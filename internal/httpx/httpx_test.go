package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/store"
)

func TestAdapter(t *testing.T) {
	var logs bytes.Buffer
	a := Adapter{Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Render: func(w http.ResponseWriter, status int, msg string) {
			_ = WriteJSON(w, status, map[string]string{"message": msg})
		}}
	tests := []struct {
		name      string
		err       error
		status    int
		msg       string
		logHas    string
		bodyLacks string
	}{
		{"client error", Errorf(http.StatusBadRequest, "bad %s", "input"), 400, "bad input", "level=DEBUG", ""},
		{"wrapped cause is logged, not sent", Wrap(http.StatusConflict, "taken", errors.New("secret detail")), 409, "taken", "secret detail", "secret detail"},
		{"plain error is a 500", errors.New("db exploded"), 500, "Internal server error", "level=ERROR", "db exploded"},
	}
	for _, tt := range tests {
		logs.Reset()
		rec := httptest.NewRecorder()
		a.Handle(func(http.ResponseWriter, *http.Request) error { return tt.err }).ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
		var body map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != tt.status || body["message"] != tt.msg {
			t.Errorf("%s: %d %v", tt.name, rec.Code, body)
		}
		if !strings.Contains(logs.String(), tt.logHas) {
			t.Errorf("%s: log %q lacks %q", tt.name, logs.String(), tt.logHas)
		}
		if tt.bodyLacks != "" && strings.Contains(rec.Body.String(), tt.bodyLacks) {
			t.Errorf("%s: internal cause sent to the client", tt.name)
		}
	}
}

func TestReadBody(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader("12345"))
	if b, err := ReadBody(r, 5); err != nil || string(b) != "12345" {
		t.Fatalf("at limit: %q %v", b, err)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader("123456"))
	var he *Error
	if _, err := ReadBody(r, 5); !errors.As(err, &he) || he.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("over limit: %v", err)
	}
}

func TestDescribeJSONError(t *testing.T) {
	var v struct {
		N int `json:"n"`
	}
	for in, want := range map[string]string{
		`{"n":`:     "unexpected end",
		`{"n":"x"}`: `field "n" must be a number`,
		`{"n":1,}`:  "malformed JSON at byte",
	} {
		err := json.Unmarshal([]byte(in), &v)
		if got := DescribeJSONError(err); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

func TestWordingFault(t *testing.T) {
	w := Wording{
		Malformed: func(r string) string { return "Request malformed: " + r },
		NotFound:  "Key not found",
		Status:    map[fault.Kind]int{fault.Conflict: http.StatusBadRequest},
	}
	internal := errors.New("disk on fire")
	tests := []struct {
		name   string
		err    error
		status int
		msg    string
	}{
		{"malformed is worded", fault.New(fault.Malformed, "unexpected end of JSON input"), 400, "Request malformed: unexpected end of JSON input"},
		{"invalid shows the reason", fault.InvalidField("per", "per must be positive"), 400, "per must be positive"},
		{"not found takes the door's words", fault.New(fault.NotFound, "key 1234 missing"), 404, "Key not found"},
		{"a store sentinel is a fault", fmt.Errorf("get: %w", store.ErrNotFound), 404, "Key not found"},
		{"a status the dialect replaces", fault.New(fault.Conflict, "e-mail taken"), 400, "e-mail taken"},
		{"forbidden", fault.New(fault.Forbidden, "access denied: no"), 403, "access denied: no"},
		{"unavailable", &fault.Error{Kind: fault.Unavailable, Err: internal}, 503, "Service unavailable; retry later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var he *Error
			if err := w.Fault(tt.err); !errors.As(err, &he) || he.Status != tt.status || he.Message != tt.msg {
				t.Fatalf("Fault(%v) = %v, want %d %q", tt.err, err, tt.status, tt.msg)
			}
			if !errors.Is(he, tt.err) {
				t.Fatal("the fault is not kept as the logged cause")
			}
		})
	}
	if err := w.Fault(internal); err != internal {
		t.Fatalf("an error that is no fault must pass unchanged (a 500), got %v", err)
	}
}
