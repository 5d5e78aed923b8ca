package contract

// deviation is one place where Tollgate's exchange does not match Tyk's OpenAPI file,
// and why. TestContract consults this table, and only this table, before failing on a
// validation error: an entry excuses exactly the errors of its check on its endpoint
// that contain match; every other error still fails. An entry that excuses nothing
// during a run fails the test too, so the table cannot go stale.
type deviation struct {
	spec string // contract file
	// endpoint is "METHOD /path" with the file's own parameter names (Tollgate's
	// path for endpoints the file lacks), or "*" for every operation in spec.
	endpoint string
	// check is what is relaxed:
	//   "route"    the file has no such operation: nothing is validated
	//   "request"  one request-validation error
	//   "response" one response-validation error; for an undocumented status
	//              ("status N is not documented ...") the body is still validated
	//              against the operation's lowest documented status of the same class
	check string
	// match is part of the error text the entry excuses ("" with "route": any).
	match string
	what  string // what differs
	// why: a tyk-compat.md "Where Tollgate deliberately differs" item, a fault in
	// Tyk's own file, or "BUG: ..." for Tollgate output that is wrong against Tyk's
	// contract and is to be fixed (then this entry goes).
	why string
}

// deviations is the one list of every difference between Tollgate and Tyk's files.
var deviations = []deviation{
	// ---- Faults in Tyk's files: Tyk itself behaves as Tollgate does ----------------
	{spec: dashboardSpec, endpoint: "*", check: "request", match: `Authorization is not "Bearer <token>"`,
		what: `Authorization carries the raw access key, not "Bearer <key>"; the file declares an http bearer scheme`,
		why:  `tyk-compat.md §3.1: Tyk's dashboard and its own clients send the raw key, no Bearer prefix; Tollgate does the same and refuses "Bearer <key>"`},
	{spec: dashboardSpec, endpoint: "*", check: "response", match: `schemas/ApiResponse: /Meta: Value is not nullable`,
		what: `status replies carry "Meta": null`,
		why:  `Tyk answers "Meta": null (the file's own examples do, tyk-compat.md §3.2); the file types Meta as {} without nullable: true, which OpenAPI 3.0 reads as non-null`},
	{spec: adminSpec, endpoint: "*", check: "response", match: `schemas/ApiError: /Meta: Value is not nullable`,
		what: `status replies carry "Meta": null`,
		why:  `as in dashboard-swagger.yml: Tyk's own examples in this file carry "Meta": null, and kin-openapi's strict doc.Validate rejects them for the same reason`},
	{spec: gatewaySpec, endpoint: "GET /hello", check: "request", match: `header X-Tyk-Authorization is missing`,
		what: `the health check is called without the control-API secret`,
		why:  `Tyk serves /hello unauthenticated (load balancers call it); the file only inherits its global api_key requirement`},
	{spec: adminSpec, endpoint: "PUT /admin/users/{userId}", check: "response", match: `status 401 is not documented`,
		what: `a wrong admin secret answers 401 "Not authorised"`,
		why:  `every other Admin API operation in the file documents this 401; the user operations only lack it`},
	{spec: dashboardSpec, endpoint: "GET /api/users/me", check: "request", match: `parameter "authorisation" in cookie`,
		what: `called with the Authorization header and no "authorisation" cookie`,
		why:  `the cookie is the web UI's session; API clients authenticate with the header like every other /api/ call (tyk-compat.md §3.1)`},

	// ---- Deliberate differences (tyk-compat.md "Where Tollgate deliberately differs") -
	{spec: gatewaySpec, endpoint: "POST /tyk/keys/{keyID}", check: "response", match: `status 409 is not documented`,
		what: `creating a custom key ID that already exists answers 409 {"status":"error","message":...}`,
		why:  `differs #3: 409 instead of silently overwriting the existing key`},
	{spec: dashboardSpec, endpoint: "POST /api/keys/{keyId}", check: "response", match: `status 409 is not documented`,
		what: `creating a custom key ID that already exists answers 409 in the Status/Message envelope`,
		why:  `differs #3: 409 instead of silently overwriting the existing key`},
	{spec: dashboardSpec, endpoint: "POST /api/keys", check: "response", match: `status 400 is not documented (message "per must be positive`,
		what: `a key body Tyk would store (here rate > 0 with per <= 0) is refused with 400 naming the field`,
		why:  `differs #3: stricter validation, with clear 400 errors where Tyk silently accepts (the file documents no 400)`},
	{spec: gatewaySpec, endpoint: "POST /tyk/apis", check: "response", match: `status 409 is not documented`,
		what: `POST of an api_id that exists answers 409 ("use PUT to replace it"); Tyk's gateway overwrites the definition file`,
		why:  `deliberate (manage.APIs.Create), in the spirit of differs #3 and of Tyk's own dashboard, whose POST /api/apis documents 409; listed in docs/tyk-differences.md`},

	// ---- Endpoints Tollgate serves that the files lack: sent, not validated ---------
	{spec: gatewaySpec, endpoint: "GET /ready", check: "route",
		what: `readiness check`, why: `Tyk's readiness endpoint (tyk-compat.md §2.3) is not in gateway-swagger.yml`},
	{spec: dashboardSpec, endpoint: "GET /api/keys", check: "route",
		what: `paginated key list, alias of GET /api/apis/keys`, why: `tyk-compat.md §3.3: the current swagger has no GET /api/keys; serving it as an alias matches user expectations`},
	{spec: dashboardSpec, endpoint: "POST /api/users/{userId}/actions/key/reset", check: "route",
		what: `access-key reset by POST`, why: `Tyk's older docs use POST, the swagger PUT; Tollgate serves both (the PUT exchange is validated)`},
	{spec: dashboardSpec, endpoint: "GET /api/audit", check: "route",
		what: `Tollgate's audit log of management changes`, why: `Tollgate-only endpoint`},
	{spec: adminSpec, endpoint: "GET /admin/users", check: "route",
		what: `list an organisation's users (?org_id=) with the admin secret`, why: `Tollgate-only: the Admin API file has POST /admin/users and /admin/users/{userId} only`},
	{spec: dashboardSpec, endpoint: "GET /hello", check: "route",
		what: `the dashboard's liveness check (Tyk's shape, "ok" when healthy)`, why: `Tyk's dashboard serves /hello (its docs list it beside the gateway's); the file does not document it`},
	{spec: adminSpec, endpoint: "GET /admin/hello", check: "route",
		what: `the dashboard's liveness check under /admin/, for tools that only know the Admin API's base URL`, why: `Tollgate-only: the Admin API file has no health check`},

	// ---- Deliberate: better HTTP than Tyk's file documents ----------------------------
	{spec: dashboardSpec, endpoint: "PUT /api/users/{userId}", check: "response", match: `status 404 is not documented`,
		what: `updating an unknown user answers 404 "User not found"`,
		why:  `deliberate: an unknown user is not found (404), not a bad request; the file documents 400 "user does not exist."`},
	{spec: dashboardSpec, endpoint: "POST /api/keys", check: "response", match: `status 400 is not documented (message "Request body malformed`,
		what: `a key body that is not JSON answers 400 "Request body malformed: <reason>"`,
		why:  `deliberate: malformed input is a 400 that names the problem; the file documents 403 "Request body malformed."`},
	{spec: dashboardSpec, endpoint: "POST /api/users/{userId}/actions/reset", check: "response", match: `status 400 is not documented (message "Request body malformed`,
		what: `a password-reset body that is not JSON answers 400`,
		why:  `deliberate: as for POST /api/keys; the file documents 403`},
	{spec: adminSpec, endpoint: "POST /admin/organisations", check: "response", match: `status 400 is not documented (message "Request body malformed`,
		what: `an organisation body that is not JSON answers 400`,
		why:  `deliberate: as for POST /api/keys; the file documents 403`},
	{spec: adminSpec, endpoint: "PUT /admin/users/{userId}", check: "response", match: `status 400 is not documented`,
		what: `a user update that fails validation (a short password, a taken e-mail) or is not JSON answers 400 naming the problem`,
		why:  `deliberate: as for POST /admin/users; the file documents 403 "Request body malformed" only`},
	{spec: adminSpec, endpoint: "POST /admin/users", check: "response", match: `status 400 is not documented`,
		what: `creating a user whose e-mail exists answers 400 naming the e-mail`,
		why:  `deliberate: a validation problem is a 400; the file documents 403 "User email already exists for this Org"`},
}
