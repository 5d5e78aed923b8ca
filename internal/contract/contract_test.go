// Package contract checks Tollgate's Tyk-compatible management endpoints against Tyk's
// published OpenAPI files (issue #4): every exchange in exchanges_test.go is sent to the
// real gateway and dashboard handlers, wired in-process as `tollgate serve` wires them,
// and both its request and its response are validated with kin-openapi against
// dashboard-swagger.yml, dashboard-admin-swagger.yml or gateway-swagger.yml.
//
// The files are read at test time from ../shared/spec/tyk-openapi beside the repository
// clone and are never copied into it; without them the test skips.
//
// Where Tollgate's exchange does not match Tyk's file on purpose, the one table in
// deviations_test.go says so and why. Any validation error no entry there names fails
// the test, and so does an entry nothing needs any more. TestValidatorCatchesViolations
// shows the same validator does reject replies and requests that break the schemas.
//
// CONTRACT_DUMP=1 go test -v ./internal/contract/ logs every reply.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/tollgate/tollgate/internal/accounts"
	"github.com/tollgate/tollgate/internal/apptest"
)

// specDir is where Tyk's OpenAPI files live: ../shared/spec beside the repository.
const specDir = "../../../shared/spec/tyk-openapi"

// The contract files.
const (
	gatewaySpec   = "gateway-swagger.yml"
	dashboardSpec = "dashboard-swagger.yml"
	adminSpec     = "dashboard-admin-swagger.yml"
)

// contract is one loaded OpenAPI file's router.
type contract struct {
	router routers.Router
}

// loadContracts reads the three files. Tyk's files do not pass kin-openapi's strict
// doc.Validate: some of their own examples do not match their schemas (e.g. the
// dashboard's endDate parameter example is not a "date", the gateway's /tyk/debug
// example matches two oneOf branches) and one default has the wrong type (readme:
// "false" for a boolean). So the strict result is only logged, and the documents are
// validated with examples and defaults left out, which they pass; anything else wrong
// with a file fails the test. No file has external $refs, so IsExternalRefsAllowed
// stays off.
func loadContracts(t *testing.T) map[string]*contract {
	t.Helper()
	if _, err := os.Stat(specDir); err != nil {
		t.Skipf("Tyk's OpenAPI files are not beside the repository clone (%s): skipping the contract test", specDir)
	}
	out := map[string]*contract{}
	for _, f := range []string{gatewaySpec, dashboardSpec, adminSpec} {
		path := filepath.Join(specDir, f)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("%s is missing (%v): skipping the contract test", path, err)
		}
		loader := openapi3.NewLoader()
		loader.IsExternalRefsAllowed = false
		doc, err := loader.LoadFromFile(path)
		if err != nil {
			t.Fatalf("load %s: %v", f, err)
		}
		ctx := context.Background()
		if err := doc.Validate(ctx); err != nil {
			t.Logf("%s: strict validation fails on Tyk's own examples/defaults, using it as loaded: %s", f, firstLine(err.Error()))
		}
		if err := doc.Validate(ctx, openapi3.DisableExamplesValidation(), openapi3.DisableSchemaDefaultsValidation()); err != nil {
			t.Fatalf("%s is not a usable OpenAPI document: %v", f, err)
		}
		// The files' only server is https://{tenant}; the servers here are plain
		// http on 127.0.0.1, so routes are matched on paths alone.
		doc.Servers = nil
		r, err := gorillamux.NewRouter(doc)
		if err != nil {
			t.Fatalf("router for %s: %v", f, err)
		}
		out[f] = &contract{router: r}
	}
	return out
}

const adminSecret = apptest.Secret

// env is the gateway and the dashboard over one store, built by the constructor
// `tollgate serve` uses.
type env struct {
	node     *apptest.Env
	gw, dash *httptest.Server
	keys     map[string]string // dashboard access keys by user name
	orgID    string
	userID   string
}

// newEnv builds a node with an organisation, its administrator ("admin") and a
// user who may read keys and APIs ("reader").
func newEnv(t *testing.T) *env {
	t.Helper()
	n := apptest.New(t, apptest.Options{})
	e := &env{node: n, gw: n.Gateway, dash: n.Dashboard, keys: map[string]string{}}
	acct := n.Node.Accounts
	b, err := acct.Bootstrap(t.Context(), "Contract Org", "admin@contract.io", "contract-password")
	if err != nil {
		t.Fatal(err)
	}
	e.orgID, e.userID, e.keys["admin"] = b.OrgID, b.UserID, b.AccessKey
	_, k, err := acct.CreateUser(t.Context(), accounts.NewUser{OrgID: b.OrgID, Email: "reader@contract.io",
		FirstName: "Rita", LastName: "Reader", Password: "reader-password",
		Permissions: map[string]string{"keys": "read", "apis": "read"}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	e.keys["reader"] = k
	return e
}

// from starts a fresh node on a copy of the data of seed, a node stopped with
// seed.node.Close: the same organisation, users and access keys.
func (seed *env) from(t *testing.T) *env {
	t.Helper()
	n := apptest.New(t, apptest.Options{Seed: seed.node.Node.Config.DataDir})
	return &env{node: n, gw: n.Gateway, dash: n.Dashboard, keys: seed.keys, orgID: seed.orgID, userID: seed.userID}
}

// exchange is one request to Tollgate and what the contract says about it.
type exchange struct {
	name string
	// spec is the contract file; op the operation in it the request must route to,
	// as "METHOD /path" with the file's own parameter names (for an endpoint the
	// file lacks, Tollgate's path: see the "route" deviations).
	spec, op string
	// setup makes the state the exchange needs on its own node, before it is sent.
	setup []step
	// method, path and body may hold {var} placeholders, filled from vars: the
	// node's organisation and user, and what setup saved.
	method, path, body string
	// as is the credential: a dashboard user name, "secret" (gateway), "admin-auth"
	// (Admin API), "none", or "bad" (a well-formed but wrong one).
	as     string
	status int
	// invalid, when set, is part of the request-validation error this request must
	// produce: the request is deliberately outside the contract (a malformed body,
	// no credential), and only Tollgate's reply is held to it.
	invalid string
	// save copies members of the JSON reply (dotted paths) into vars.
	save map[string]string
}

// step is one request of an exchange's setup. It is not validated (the exchange
// that sends the same request is) and must answer 200.
type step struct {
	spec, method, path, body, as string
	save                         map[string]string
}

// plus is the steps of setup followed by more.
func plus(setup []step, more ...step) []step {
	return append(slices.Clone(setup), more...)
}

// send sends a request with the credential as names, as Tyk's clients send it.
func (c *checker) send(t *testing.T, label, spec, method, path, body, as string) (http.Header, *http.Response, []byte) {
	t.Helper()
	srv := c.env.dash
	if spec == gatewaySpec {
		srv = c.env.gw
	}
	hdr := c.credential(spec, as)
	if body != "" {
		hdr.Set("Content-Type", "application/json")
	}
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	req.Header = hdr.Clone()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return hdr, resp, respBody
}

// save copies the members of a reply that names asks for into vars.
func (c *checker) save(t *testing.T, label string, names map[string]string, reply []byte) {
	t.Helper()
	for name, field := range names {
		v, ok := lookup(reply, field)
		if !ok {
			t.Fatalf("%s: reply has no %q to save as %s: %s", label, field, name, reply)
		}
		c.vars[name] = v
	}
}

// prepare sends an exchange's setup.
func (c *checker) prepare(t *testing.T, setup []step) {
	t.Helper()
	for _, st := range setup {
		path := c.fill(st.path)
		label := fmt.Sprintf("setup [%s %s]", st.method, path)
		_, resp, body := c.send(t, label, st.spec, st.method, path, c.fill(st.body), st.as)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", label, resp.StatusCode, body)
		}
		c.save(t, label, st.save, body)
	}
}

// run sends x, checks the status, then validates request and response.
func (c *checker) run(t *testing.T, x exchange) {
	t.Helper()
	path, body := c.fill(x.path), c.fill(x.body)
	label := fmt.Sprintf("%s [%s %s]", x.name, x.method, path)

	hdr, resp, respBody := c.send(t, label, x.spec, x.method, path, body, x.as)
	c.count(&c.suite.exchanges)
	if os.Getenv("CONTRACT_DUMP") != "" {
		t.Logf("%s -> %d %s", label, resp.StatusCode, respBody)
	}
	if resp.StatusCode != x.status {
		t.Errorf("%s: status %d, want %d: %s", label, resp.StatusCode, x.status, respBody)
		return
	}
	c.save(t, label, x.save, respBody)

	// Route in the contract, with the file's parameter names.
	routed := path
	if x.spec == gatewaySpec {
		// Tyk's gateway strips trailing slashes before routing (tyk-compat.md §2.1:
		// clients call /tyk/apis/), and so does Tollgate; the file lists the paths
		// without them.
		p, q, _ := strings.Cut(routed, "?")
		if len(p) > 1 {
			p = strings.TrimRight(p, "/")
		}
		routed = p
		if q != "" {
			routed += "?" + q
		}
	}
	vreq, _ := http.NewRequest(x.method, "http://tyk.invalid"+routed, bytes.NewReader([]byte(body)))
	vreq.Header = hdr.Clone()
	route, params, err := c.suite.specs[x.spec].router.FindRoute(vreq)
	if err != nil {
		// Only a "route" deviation lets an exchange miss the file.
		if c.excused(t, label, x.spec, x.op, "route", []string{err.Error()}) {
			c.count(&c.suite.skipped)
		}
		return
	}
	if got := x.method + " " + route.Path; got != x.op {
		t.Errorf("%s: routed to %s in %s, want %s", label, got, x.spec, x.op)
		return
	}

	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: validationOptions()}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	reqLeaves := leaves(reqErr)
	switch {
	case x.invalid != "":
		if !slices.ContainsFunc(reqLeaves, func(s string) bool { return strings.Contains(s, x.invalid) }) {
			t.Errorf("%s: the request should break the contract with %q, got: %v", label, x.invalid, reqLeaves)
		}
	case reqErr != nil:
		c.excused(t, label, x.spec, x.op, "request", reqLeaves)
	}

	c.validateResponse(t, label, x, in, resp, respBody, resp.StatusCode, true)
	c.count(&c.suite.validated)
}

// validationOptions make kin-openapi check everything it can: security (by
// authenticate), every undocumented status, every schema error rather than the first,
// and request bodies sent where none is specified. Response bodies are included.
func validationOptions() *openapi3filter.Options {
	return &openapi3filter.Options{
		AuthenticationFunc:                authenticate,
		IncludeResponseStatus:             true,
		MultiError:                        true,
		RejectWhenRequestBodyNotSpecified: true,
	}
}

// validateResponse validates the reply as if it had status. An undocumented status
// that a deviation excuses is relaxed, not skipped: the body must still match what
// the operation documents for its errors of the same class.
func (c *checker) validateResponse(t *testing.T, label string, x exchange, in *openapi3filter.RequestValidationInput,
	resp *http.Response, body []byte, status int, first bool) {
	t.Helper()
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: in.Options}
	err := openapi3filter.ValidateResponse(context.Background(), out)
	if err == nil {
		return
	}
	var re *openapi3filter.ResponseError
	if first && errors.As(err, &re) && re.Reason == "status is not supported" {
		msg := fmt.Sprintf("status %d is not documented (message %q)", status, replyMessage(body))
		if !c.excused(t, label, x.spec, x.op, "response", []string{msg}) {
			return
		}
		if alt, ok := sameClass(in.Route.Operation, status); ok {
			c.validateResponse(t, label, x, in, resp, body, alt, false)
		} else {
			t.Errorf("%s: no documented %dxx reply to hold the body to: %s", label, status/100, body)
		}
		return
	}
	c.excused(t, label, x.spec, x.op, "response", leaves(err))
}

// replyMessage is the message of a Tyk error reply ("Message" on the dashboard,
// "message" on the gateway).
func replyMessage(body []byte) string {
	for _, k := range []string{"Message", "message"} {
		if v, ok := lookup(body, k); ok {
			return v
		}
	}
	return ""
}

// sameClass picks the lowest documented status of status's class (4xx, 5xx).
func sameClass(op *openapi3.Operation, status int) (int, bool) {
	var codes []int
	for k := range op.Responses.Map() {
		if n, err := strconv.Atoi(k); err == nil && n/100 == status/100 {
			codes = append(codes, n)
		}
	}
	if len(codes) == 0 {
		return 0, false
	}
	sort.Ints(codes)
	return codes[0], true
}

// suite is what the exchanges of one run share: the contract files, and what the
// run counts. The exchanges run in parallel, so the counts are under mu.
type suite struct {
	specs map[string]*contract
	mu    sync.Mutex
	used  map[int]int // deviation index -> times it excused an error
	// exchanges sent, validated, and sent to endpoints the files lack; finished
	// counts the exchanges that ran to their end without failing.
	exchanges, validated, skipped, finished int
}

// checker runs one exchange on its own node.
type checker struct {
	suite *suite
	env   *env
	vars  map[string]string
}

func (c *checker) count(n *int) {
	c.suite.mu.Lock()
	defer c.suite.mu.Unlock()
	*n++
}

func (c *checker) fill(s string) string {
	for k, v := range c.vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

func (c *checker) credential(spec, as string) http.Header {
	h := http.Header{}
	switch {
	case as == "none":
	case spec == gatewaySpec && as == "secret":
		h.Set("X-Tyk-Authorization", adminSecret)
	case spec == gatewaySpec && as == "bad":
		h.Set("X-Tyk-Authorization", "not-the-secret")
	case spec == adminSpec && as == "admin-auth":
		h.Set("Admin-Auth", adminSecret)
	case spec == adminSpec && as == "bad":
		h.Set("Admin-Auth", "not-the-secret")
	case as == "bad":
		h.Set("Authorization", "0123456789abcdef0123456789abcdef")
	default:
		k, ok := c.env.keys[as]
		if !ok {
			panic("no credential " + as + " for " + spec)
		}
		// Tyk's dashboard clients send the raw access key (tyk-compat.md §3.1).
		h.Set("Authorization", k)
	}
	return h
}

// excused reports whether every error is covered by a deviation for spec/op/check,
// failing the test with the ones that are not.
func (c *checker) excused(t *testing.T, label, spec, op, check string, errs []string) bool {
	t.Helper()
	all := true
	for _, e := range errs {
		i := findDeviation(spec, op, check, e)
		if i < 0 {
			all = false
			t.Errorf("%s: %s breaks %s (%s): %s", label, check, spec, op, e)
			continue
		}
		c.suite.mu.Lock()
		c.suite.used[i]++
		c.suite.mu.Unlock()
	}
	return all
}

func findDeviation(spec, op, check, msg string) int {
	for i, d := range deviations {
		if d.spec == spec && (d.endpoint == op || d.endpoint == "*") && d.check == check && strings.Contains(msg, d.match) {
			return i
		}
	}
	return -1
}

// authenticate checks that the credential each security scheme names is present in
// the form the scheme declares. It does not check its value: Tollgate itself does.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s, r := in.SecurityScheme, in.RequestValidationInput.Request
	switch {
	case s.Type == "apiKey" && s.In == "header":
		if r.Header.Get(s.Name) == "" {
			return fmt.Errorf("security: header %s is missing", s.Name)
		}
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		v := r.Header.Get("Authorization")
		if v == "" {
			return errors.New("security: header Authorization is missing")
		}
		if p, _, ok := strings.Cut(v, " "); !ok || !strings.EqualFold(p, "bearer") {
			return errors.New("security: Authorization is not \"Bearer <token>\"")
		}
	default:
		return fmt.Errorf("security: scheme %s/%s is not handled by this test", s.Type, s.Scheme)
	}
	return nil
}

// leaves flattens kin-openapi's nested errors into one line per problem, each naming
// where it is (parameter, body member as a JSON pointer).
func leaves(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	var walk func(prefix string, err error)
	walk = func(prefix string, err error) {
		var me openapi3.MultiError
		var se *openapi3.SchemaError
		var rq *openapi3filter.RequestError
		var rs *openapi3filter.ResponseError
		var sr *openapi3filter.SecurityRequirementsError
		switch {
		case errors.As(err, &me) && isMulti(err):
			for _, e := range me {
				walk(prefix, e)
			}
		case asDirect(err, &sr):
			for _, e := range sr.Errors {
				walk(prefix, e)
			}
		case asDirect(err, &rq):
			p := prefix
			switch {
			case rq.Parameter != nil:
				p += fmt.Sprintf("parameter %q in %s: ", rq.Parameter.Name, rq.Parameter.In)
			case rq.RequestBody != nil:
				p += "request body: "
			}
			if rq.Err == nil {
				out = append(out, p+rq.Reason)
				return
			}
			if rq.Reason != "" && rq.Reason != rq.Err.Error() {
				p += rq.Reason + ": "
			}
			walk(p, rq.Err)
		case asDirect(err, &rs):
			p := prefix + "response: "
			if rs.Err == nil {
				out = append(out, p+rs.Reason)
				return
			}
			if rs.Reason != "" {
				p += rs.Reason + ": "
			}
			walk(p, rs.Err)
		case asDirect(err, &se):
			ptr := "/" + strings.Join(se.JSONPointer(), "/")
			out = append(out, fmt.Sprintf("%s%s: %s", prefix, ptr, se.Reason))
		default:
			out = append(out, prefix+firstLine(err.Error()))
		}
	}
	walk("", err)
	return out
}

func isMulti(err error) bool {
	_, ok := err.(openapi3.MultiError)
	return ok
}

// asDirect is errors.As limited to err itself, so that wrappers are walked level by
// level and keep their context.
func asDirect[T error](err error, target *T) bool {
	v, ok := err.(T)
	if ok {
		*target = v
	}
	return ok
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// lookup reads a dotted member path from a JSON document as a string.
func lookup(doc []byte, path string) (string, bool) {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return "", false
	}
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = m[p]; !ok {
			return "", false
		}
	}
	s, ok := v.(string)
	return s, ok
}

// TestContract sends every exchange as a subtest of its contract file's group
// (TestContract/gateway/create_API), each on a fresh node started from a copy of a
// seed node's organisation and users and prepared by the exchange's own setup, so
// that any exchange runs alone and none depends on another having run.
func TestContract(t *testing.T) {
	specs := loadContracts(t)
	seed := newEnv(t)
	seed.node.Close()
	s := &suite{specs: specs, used: map[int]int{}}
	xs := append(exchanges(), policyExchanges()...)
	groups := []struct{ name, spec string }{{"gateway", gatewaySpec}, {"dashboard", dashboardSpec}, {"admin", adminSpec}}
	for _, g := range groups {
		// t.Run returns when the group's parallel exchanges have finished.
		t.Run(g.name, func(t *testing.T) {
			seen := map[string]bool{}
			for _, x := range xs {
				if x.spec != g.spec {
					continue
				}
				// The name is how an exchange is run alone: a repeated one would
				// run as name#01.
				if seen[x.name] {
					t.Fatalf("two %s exchanges are named %q", g.name, x.name)
				}
				seen[x.name] = true
				t.Run(x.name, func(t *testing.T) {
					t.Parallel()
					e := seed.from(t)
					c := &checker{suite: s, env: e, vars: map[string]string{"org": e.orgID, "me": e.userID,
						"apiID": "ad5004d961a147d4649fd3216694ebe2", "listenPath": "/httpbin/"}}
					c.prepare(t, x.setup)
					c.run(t, x)
					if !t.Failed() {
						c.count(&s.finished)
					}
				})
			}
		})
	}
	t.Logf("%d exchanges sent; %d validated against Tyk's files (request and response), %d on endpoints the files lack",
		s.exchanges, s.validated, s.skipped)

	// The table must stay true: an entry that excused nothing is stale (a BUG that
	// was fixed, a difference that went away) and must be removed. Only a run of
	// every exchange can tell: not one filtered by -run, nor one where an exchange
	// failed before it was validated.
	if s.finished != len(xs) {
		t.Logf("%d of %d exchanges ran to their end: not checking that every deviation is still needed", s.finished, len(xs))
		return
	}
	for i, d := range deviations {
		if s.used[i] == 0 {
			t.Errorf("deviation no longer needed, remove it: %s %s %s %q (%s)", d.spec, d.endpoint, d.check, d.match, d.what)
		} else {
			t.Logf("deviation used %d×: %s %s %s %q: %s", s.used[i], d.spec, d.endpoint, d.check, d.match, d.what)
		}
	}
}

// TestValidatorCatchesViolations is the negative control: with the same files, router
// and options as TestContract, replies and requests that break Tyk's schemas must be
// reported, member by member. Without it a misconfigured validator (wrong content
// type, bodies excluded, unresolved refs) would let TestContract pass vacuously.
func TestValidatorCatchesViolations(t *testing.T) {
	specs := loadContracts(t)
	ctx := context.Background()
	input := func(t *testing.T, spec, method, path, body string, hdr http.Header) *openapi3filter.RequestValidationInput {
		t.Helper()
		req, _ := http.NewRequest(method, "http://tyk.invalid"+path, strings.NewReader(body))
		req.Header = hdr
		route, params, err := specs[spec].router.FindRoute(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: validationOptions()}
	}
	json := http.Header{"Content-Type": {"application/json"}}
	secret := http.Header{"Content-Type": {"application/json"}, "X-Tyk-Authorization": {adminSecret}}
	bearer := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer k"}}
	for _, tc := range []struct {
		name, spec, method, path, reqBody string
		reqHdr                            http.Header
		status                            int
		respHdr                           http.Header
		respBody                          string
		want                              []string // substrings of distinct leaves
	}{
		{"session with wrong types", gatewaySpec, "GET", "/tyk/keys/k", "", secret, 200, json,
			`{"expires":"soon","post_expiry_action":"never","access_rights":{"a":{"versions":"Default"}}}`,
			[]string{"/expires:", "/post_expiry_action:", "/access_rights/a/versions:"}},
		{"undocumented status", gatewaySpec, "GET", "/tyk/keys/k", "", secret, 418, json, `{}`,
			[]string{"status is not supported"}},
		{"not JSON", gatewaySpec, "GET", "/tyk/apis", "", secret, 200, http.Header{"Content-Type": {"text/plain"}}, `[]`,
			[]string{"Content-Type"}},
		{"KeyData with a wrong session", dashboardSpec, "GET", "/api/keys/k", "", bearer, 200, json,
			`{"key_id":1,"data":{"rate":"fast"}}`, []string{"/key_id:", "/data/rate:"}},
		{"request body with wrong types", gatewaySpec, "POST", "/tyk/keys", `{"rate":"fast","tags":"a"}`, secret, 0, nil, "",
			[]string{"request body: ", "/rate:", "/tags:"}},
		{"request without the secret", gatewaySpec, "GET", "/tyk/keys", "", json, 0, nil, "",
			[]string{"header X-Tyk-Authorization is missing"}},
		{"raw dashboard key", dashboardSpec, "GET", "/api/apis", "", http.Header{"Authorization": {"k"}}, 0, nil, "",
			[]string{`Authorization is not "Bearer <token>"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input(t, tc.spec, tc.method, tc.path, tc.reqBody, tc.reqHdr)
			var err error
			if tc.status == 0 {
				err = openapi3filter.ValidateRequest(ctx, in)
			} else {
				if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
					t.Fatalf("the request itself should be valid: %v", err)
				}
				err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{RequestValidationInput: in,
					Status: tc.status, Header: tc.respHdr, Body: io.NopCloser(strings.NewReader(tc.respBody)), Options: in.Options})
			}
			got := leaves(err)
			for _, w := range tc.want {
				if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("no error mentions %q; got %q", w, got)
				}
			}
		})
	}
}
