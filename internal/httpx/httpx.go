// Package httpx holds the HTTP plumbing shared by Tollgate's servers: handlers that
// return errors, one place that renders those errors as JSON and logs them, request
// body decoding with size limits, and server construction with sane timeouts.
package httpx

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/fault"
)

// Error is an error with an HTTP status and a message that is safe to show to clients.
// The wrapped cause is logged but never sent.
type Error struct {
	Status  int
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted public message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with a public message and an internal cause.
func Wrap(status int, msg string, err error) *Error {
	return &Error{Status: status, Message: msg, Err: err}
}

// StatusOf is the status a fault of kind k answers, unless a Wording says otherwise.
// Internal (no fault) is a 500.
func StatusOf(k fault.Kind) int {
	switch k {
	case fault.Malformed, fault.Invalid:
		return http.StatusBadRequest
	case fault.NotFound:
		return http.StatusNotFound
	case fault.Conflict:
		return http.StatusConflict
	case fault.Forbidden:
		return http.StatusForbidden
	case fault.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Wording is how one API words the faults about one kind of object: its dialect's
// messages, and its statuses where they differ from StatusOf. A door declares its
// wordings together, so that every status and message a service's fault gets on that
// door is decided in one place and never by reading a message.
type Wording struct {
	// Malformed and Invalid render a fault's reason; nil shows the reason as it is.
	Malformed, Invalid func(reason string) string
	// NotFound is the whole message for a missing object.
	NotFound string
	// Status replaces StatusOf for the kinds it names.
	Status map[fault.Kind]int
}

// Fault turns err's fault into an *Error in w's words, keeping err as the logged
// cause. An error that is not a fault is returned unchanged: an internal error.
func (w Wording) Fault(err error) error {
	f, ok := fault.As(err)
	if !ok {
		return err
	}
	status, found := w.Status[f.Kind]
	if !found {
		status = StatusOf(f.Kind)
	}
	msg := f.Reason
	switch f.Kind {
	case fault.Malformed:
		msg = apply(w.Malformed, msg)
	case fault.Invalid:
		msg = apply(w.Invalid, msg)
	case fault.NotFound:
		msg = cmp.Or(w.NotFound, "Not found")
	case fault.Conflict:
		msg = cmp.Or(msg, "Conflict")
	case fault.Forbidden:
		msg = cmp.Or(msg, "Access denied")
	case fault.Unavailable:
		msg = cmp.Or(msg, "Service unavailable; retry later")
	default:
		return err
	}
	return &Error{Status: status, Message: msg, Err: err}
}

func apply(f func(string) string, reason string) string {
	if f == nil {
		return reason
	}
	return f(reason)
}

// Renderer writes an error response body in one API's dialect.
type Renderer func(w http.ResponseWriter, status int, msg string)

// HandlerFunc is an HTTP handler that reports failure by returning an error.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Adapter turns HandlerFuncs into http.Handlers, rendering returned errors with Render
// and logging them with Log. Errors that are not *Error become a 500 whose cause is
// logged and not sent.
type Adapter struct {
	Log    *slog.Logger
	Render Renderer
	// LogPath, when set, rewrites the request path before it is logged (to hide
	// credentials that management paths carry).
	LogPath func(string) string
}

// Handle adapts h.
func (a Adapter) Handle(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.Fail(w, r, err)
		}
	})
}

// Fail renders err and logs it: client errors at debug level, server errors at error level.
func (a Adapter) Fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *Error
	if !errors.As(err, &he) || he.Status == http.StatusInternalServerError {
		if f, ok := fault.As(err); ok && f.Kind == fault.Unavailable {
			// A store or limiter that cannot answer is the client's cue to
			// retry, whichever handler met it: never a 500 showing nothing.
			he = &Error{Status: http.StatusServiceUnavailable, Message: cmp.Or(f.Reason, "Service unavailable; retry later"), Err: err}
		} else if he == nil {
			he = &Error{Status: http.StatusInternalServerError, Message: "Internal server error", Err: err}
		}
	}
	if he.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "5")
	}
	level := slog.LevelDebug
	if he.Status >= 500 {
		level = slog.LevelError
	}
	if a.Log != nil {
		path := r.URL.Path
		if a.LogPath != nil {
			path = a.LogPath(path)
		}
		attrs := []any{"method", r.Method, "path", path, "status", he.Status, "message", he.Message}
		if he.Err != nil {
			attrs = append(attrs, "error", he.Err.Error())
		}
		a.Log.Log(r.Context(), level, "request failed", attrs...)
	}
	a.Render(w, he.Status, he.Message)
}

// WriteJSON writes v as JSON with the given status and a trailing newline.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// MaxBodyBytes is the default limit on JSON request bodies for management APIs.
const MaxBodyBytes = 1 << 20

// ReadBody reads the request body up to limit bytes. A larger body is a 413.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, Wrap(http.StatusBadRequest, "Request body could not be read", err)
	}
	if int64(len(data)) > limit {
		return nil, Errorf(http.StatusRequestEntityTooLarge, "Request body too large (limit %d bytes)", limit)
	}
	return data, nil
}

// DescribeJSONError turns a json decoding error into a short message that names the
// problem (and the field, where the decoder knows it) without echoing the input.
func DescribeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return fmt.Sprintf("expected %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of JSON input"
	default:
		return strings.TrimPrefix(err.Error(), "json: ")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "ptr", "interface":
		return "a value"
	default:
		return "a number"
	}
}

// ServerTimeouts are the timeouts every Tollgate listener uses.
type ServerTimeouts struct {
	ReadHeader time.Duration
	Read       time.Duration
	Write      time.Duration
	Idle       time.Duration
}

// DefaultTimeouts suit management APIs: whole requests are bounded.
var DefaultTimeouts = ServerTimeouts{
	ReadHeader: 10 * time.Second,
	Read:       60 * time.Second,
	Write:      120 * time.Second,
	Idle:       120 * time.Second,
}

// ProxyTimeouts suit the gateway's listener. Proxied requests may legitimately run
// long (uploads, downloads, server-sent events, WebSockets), so there is no
// whole-request read or write timeout: slow clients are bounded by the header
// timeout and idle connections by the idle timeout, and slow upstreams by the
// proxy's response-header timeout. This also spares every request the cost of
// arming and lifting connection deadlines.
var ProxyTimeouts = ServerTimeouts{
	ReadHeader: 10 * time.Second,
	Idle:       120 * time.Second,
}

// NewServer returns an http.Server with t's timeouts and a bounded header size.
func NewServer(addr string, h http.Handler, t ServerTimeouts, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// TrimTrailingSlash serves a path with trailing slashes ("/api/apis/") as the path
// without them: Tyk's clients send both spellings and Tyk answers both. The root
// stays "/".
func TrimTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r2 := r.Clone(r.Context())
			r2.URL.Path = strings.TrimRight(p, "/")
			r2.URL.RawPath = ""
			if r2.URL.Path == "" {
				r2.URL.Path = "/"
			}
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}
