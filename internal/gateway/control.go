package gateway

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/internal/apidef"
	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/manage"
)

// maxDefinitionBytes bounds API definition bodies; real definitions with many
// versions and middleware entries stay well under it.
const maxDefinitionBytes = 2 << 20

// statusReply is Tyk's control-API status message.
type statusReply struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// modifyReply is Tyk's control-API reply to a change.
type modifyReply struct {
	Key     string `json:"key"`
	Status  string `json:"status"`
	Action  string `json:"action"`
	KeyHash string `json:"key_hash,omitempty"`
}

func renderStatus(w http.ResponseWriter, status int, msg string) {
	_ = httpx.WriteJSON(w, status, statusReply{Status: "error", Message: msg})
}

// controlHandler builds the /tyk/ control API: every route in one place.
func (g *Gateway) controlHandler() http.Handler {
	mux := http.NewServeMux()
	a := httpx.Adapter{Log: g.log, Render: renderStatus, LogPath: keys.RedactPath}
	handle := func(pattern string, h httpx.HandlerFunc) { mux.Handle(pattern, a.Handle(h)) }
	notAllowed := func(http.ResponseWriter, *http.Request) error {
		return httpx.Errorf(http.StatusMethodNotAllowed, "Method not supported")
	}

	handle("GET /tyk/apis", g.listAPIs)
	handle("POST /tyk/apis", g.createAPI)
	handle("/tyk/apis", notAllowed)
	handle("GET /tyk/apis/{id}", g.getAPI)
	handle("PUT /tyk/apis/{id}", g.updateAPI)
	handle("DELETE /tyk/apis/{id}", g.deleteAPI)
	handle("/tyk/apis/{id}", notAllowed)
	handle("GET /tyk/apis/{id}/versions", g.listVersions)
	handle("/tyk/apis/{id}/versions", notAllowed)
	handle("GET /tyk/keys", g.listKeys)
	handle("POST /tyk/keys", g.createKey)
	handle("/tyk/keys", notAllowed)
	handle("POST /tyk/keys/create", g.createKey)
	handle("POST /tyk/keys/preview", g.previewKey)
	handle("POST /tyk/keys/{id}", g.createKey)
	handle("GET /tyk/keys/{id}", g.getKey)
	handle("PUT /tyk/keys/{id}", g.updateKey)
	handle("DELETE /tyk/keys/{id}", g.deleteKey)
	handle("/tyk/keys/{id}", notAllowed)
	handle("POST /tyk/keys/policy/{id}", g.setKeyPolicies)
	handle("/tyk/keys/policy/{id}", notAllowed)
	handle("GET /tyk/policies", g.listPolicies)
	handle("POST /tyk/policies", g.createPolicy)
	handle("/tyk/policies", notAllowed)
	handle("GET /tyk/policies/{id}", g.getPolicy)
	handle("PUT /tyk/policies/{id}", g.updatePolicy)
	handle("DELETE /tyk/policies/{id}", g.deletePolicy)
	handle("/tyk/policies/{id}", notAllowed)
	handle("GET /tyk/reload", g.reload)
	handle("/tyk/reload", notAllowed)
	handle("GET /tyk/reload/group", g.reload)
	handle("/tyk/reload/group", notAllowed)
	handle("/", func(http.ResponseWriter, *http.Request) error {
		return httpx.Errorf(http.StatusNotFound, "Not found")
	})
	return g.requireSecret(httpx.TrimTrailingSlash(mux))
}

// requireSecret guards the control API with the shared secret. Both sides are hashed
// first so the constant-time compare does not leak the secret's length either. The
// right secret always passes; wrong ones are throttled per address and reported in
// aggregate (authguard), so a flood of guesses neither locks out the operator nor
// writes a log line per guess.
func (g *Gateway) requireSecret(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(g.opts.Secret))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("X-Tyk-Authorization")
		sum := sha256.Sum256([]byte(got))
		if got == "" || g.opts.Secret == "" || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			ip := remoteIP(r)
			if wait := g.authFailures.Fail(r.Context(), ip, ip, g.opts.Now()); wait > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
				renderStatus(w, http.StatusTooManyRequests, "Too many failed attempts; retry later")
				return
			}
			renderStatus(w, http.StatusForbidden, "Attempted administrative access with invalid or missing key!")
			return
		}
		// The services audit the changes they make as whoever holds the secret.
		next.ServeHTTP(w, r.WithContext(audit.WithActor(r.Context(), audit.AdminSecretActor(remoteIP(r)))))
	})
}

func (g *Gateway) listAPIs(w http.ResponseWriter, r *http.Request) error {
	apis, err := g.opts.APIs.List(r.Context())
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, a := range apis {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(a.Definition)
	}
	buf.WriteString("]\n")
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(buf.Bytes())
	return err
}

func (g *Gateway) getAPI(w http.ResponseWriter, r *http.Request) error {
	a, err := g.opts.APIs.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return apiWording.Fault(err)
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(append(a.Definition, '\n'))
	return err
}

// versionsReply is Tyk's VersionMetas.
type versionsReply struct {
	Status string               `json:"status"`
	APIs   []apidef.VersionMeta `json:"apis"`
}

// listVersions serves GET /tyk/apis/{id}/versions?searchText=&accessType=.
func (g *Gateway) listVersions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, err := manage.ParseVersionFilter(q.Get("searchText"), q.Get("accessType"))
	if err != nil {
		return versionsWording.Fault(err)
	}
	metas, err := g.opts.APIs.Versions(r.Context(), r.PathValue("id"), f)
	if err != nil {
		return versionsWording.Fault(err)
	}
	if metas == nil {
		metas = []apidef.VersionMeta{} // Tyk's null for "none matched" reads as an error to some clients
	}
	return httpx.WriteJSON(w, http.StatusOK, versionsReply{Status: "success", APIs: metas})
}

func (g *Gateway) createAPI(w http.ResponseWriter, r *http.Request) error {
	body, err := readJSONBody(r)
	if err != nil {
		return err
	}
	d, err := g.opts.APIs.Create(r.Context(), body)
	if err != nil {
		return apiWording.Fault(err)
	}
	g.log.Info("API created", "api_id", d.APIID(), "listen_path", d.Proxy().ListenPath)
	return httpx.WriteJSON(w, http.StatusOK, modifyReply{Key: d.APIID(), Status: "ok", Action: "added"})
}

func (g *Gateway) updateAPI(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := g.opts.APIs.Get(r.Context(), id); err != nil {
		return apiWording.Fault(err)
	}
	body, err := readJSONBody(r)
	if err != nil {
		return err
	}
	if _, err := g.opts.APIs.Update(r.Context(), id, body); err != nil {
		return apiWording.Fault(err)
	}
	g.log.Info("API updated", "api_id", id)
	return httpx.WriteJSON(w, http.StatusOK, modifyReply{Key: id, Status: "ok", Action: "modified"})
}

func (g *Gateway) deleteAPI(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := g.opts.APIs.Delete(r.Context(), id); err != nil {
		return apiWording.Fault(err)
	}
	g.log.Info("API deleted", "api_id", id)
	return httpx.WriteJSON(w, http.StatusOK, modifyReply{Key: id, Status: "ok", Action: "deleted"})
}

// reload answers Tyk's reload calls. Changes are live as soon as they are stored, so
// there is nothing to schedule; rebuilding anyway picks up edits made to the store by
// another process.
func (g *Gateway) reload(w http.ResponseWriter, r *http.Request) error {
	if err := g.Reload(r.Context()); err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, statusReply{Status: "ok", Message: ""})
}

// readJSONBody reads a size-limited body and checks it is JSON, answering Tyk's
// "Request malformed" with the decoder's reason when it is not.
func readJSONBody(r *http.Request) ([]byte, error) {
	body, err := httpx.ReadBody(r, maxDefinitionBytes)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, httpx.Errorf(http.StatusBadRequest, "Request malformed: %s", httpx.DescribeJSONError(err))
	}
	return body, nil
}

// The control API's dialect: Tyk's gateway's words for the faults the API and key
// services report. Every status and message a fault gets on /tyk/ is decided here.
var (
	apiWording = httpx.Wording{Malformed: definitionRejected, Invalid: definitionRejected, NotFound: "API not found"}
	// A version listing's only input is its query, so its faults read as they are.
	versionsWording = httpx.Wording{NotFound: "API not found"}
	keyWording      = httpx.Wording{
		Malformed: func(reason string) string { return "Request malformed: " + reason },
		NotFound:  "Key not found",
	}
	// Tyk words a missing key per endpoint.
	keyUpdateWording = withNotFound(keyWording, "Key is not found")
	keyDeleteWording = withNotFound(keyWording, "There is no such key found")
)

func withNotFound(w httpx.Wording, msg string) httpx.Wording { w.NotFound = msg; return w }

func definitionRejected(reason string) string {
	return "Validation of API Definition failed. Reason: " + strings.TrimSuffix(reason, ".") + "."
}

// remoteIP is the client's address without the port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
