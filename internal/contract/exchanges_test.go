package contract

// Bodies as Tyk's users send them.
const (
	// classicAPI is a Tyk classic API definition as Tyk's "Create an API" docs and
	// tyk-sync exports write it.
	classicAPI = `{"name":"Httpbin","slug":"httpbin","api_id":"{apiID}","org_id":"{org}","use_keyless":false,` +
		`"active":true,"auth":{"auth_header_name":"Authorization"},"definition":{"location":"header","key":"x-api-version"},` +
		`"version_data":{"not_versioned":true,"default_version":"","versions":{"Default":{"name":"Default","expires":"","use_extended_paths":true}}},` +
		`"proxy":{"listen_path":"{listenPath}","target_url":"http://httpbin.org/","strip_listen_path":true},` +
		`"global_rate_limit":{"rate":0,"per":0},"tags":[],"enable_detailed_recording":false}`

	// tutorialKey is the session body of Tyk's "Create an API Key with the API"
	// tutorial (shared/spec/tutorials), for the API made from classicAPI.
	tutorialKey = `{"allowance":1000,"rate":1000,"per":1,"expires":-1,"quota_max":-1,"quota_renews":1449051461,` +
		`"quota_remaining":-1,"quota_renewal_rate":60,"access_rights":{"{apiID}":{"api_id":"{apiID}",` +
		`"api_name":"Httpbin","versions":["Default"]}},"org_id":"{org}","meta_data":{},"alias":"tutorial"}`

	// limitedKey uses per-API limits, allowed URLs and tags.
	limitedKey = `{"rate":10,"per":60,"throttle_interval":-1,"throttle_retry_limit":-1,"quota_max":1000,` +
		`"quota_renewal_rate":3600,"expires":0,"access_rights":{"{apiID}":{"api_id":"{apiID}","api_name":"Httpbin",` +
		`"versions":["Default"],"allowed_urls":[{"url":"/get","methods":["GET"]}],` +
		`"limit":{"rate":5,"per":1,"quota_max":100,"quota_renewal_rate":60}}},"tags":["team-a"],"meta_data":{"owner":"team-a"}}`
)

// fullSession is a session in the full (pre-5.12) serialisation Tyk's GET returns and
// clients echo back, every field set, including the per-endpoint limits, smoothing
// and monitor objects.
const fullSession = `{"last_check":0,"allowance":100,"rate":100,"per":1,"throttle_interval":-1,"throttle_retry_limit":-1,` +
	`"max_query_depth":-1,"date_created":"2024-08-09T14:40:34.87614+03:00","expires":0,"quota_max":-1,"quota_renews":1723207234,` +
	`"quota_remaining":-1,"quota_renewal_rate":-1,"access_rights":{"gwapi":{"api_name":"Gateway API","api_id":"gwapi",` +
	`"versions":["Default"],"allowed_urls":[{"url":"/users","methods":["GET"]}],"restricted_types":[],"allowed_types":[],` +
	`"limit":{"rate":0,"per":0,"throttle_interval":0,"throttle_retry_limit":0,"max_query_depth":0,"quota_max":0,` +
	`"quota_renews":0,"quota_remaining":0,"quota_renewal_rate":0,"smoothing":null},"field_access_rights":[],` +
	`"disable_introspection":false,"allowance_scope":"","endpoints":[{"path":"/users","methods":[{"name":"GET","limit":{"rate":10,"per":1}}]}]}},` +
	`"org_id":"{org}","oauth_client_id":"","oauth_keys":null,"certificate":"","basic_auth_data":{"password":"","hash_type":""},` +
	`"jwt_data":{"secret":""},"hmac_enabled":false,"enable_http_signature_validation":false,"hmac_string":"",` +
	`"rsa_certificate_id":"","is_inactive":false,"apply_policy_id":"","apply_policies":[],"data_expires":0,` +
	`"monitor":{"trigger_limits":[80,95]},"enable_detail_recording":false,"enable_detailed_recording":true,` +
	`"meta_data":{"user_type":"mobile_user"},"tags":["edge"],"alias":"full-key","last_updated":"1723203634",` +
	`"id_extractor_deadline":0,"session_lifetime":0,"smoothing":{"enabled":false,"threshold":500,"trigger":0.8,"step":100,"delay":30},` +
	`"post_expiry_action":"retain","post_expiry_grace_period":3600}`

// exchanges covers every Tyk endpoint Tollgate implements, the usual error replies,
// and the Tollgate-only endpoints (see "route" deviations). Each exchange runs on a
// node of its own: what it needs (the API it reads, the key it deletes again) its
// setup makes, with the requests the exchanges that make those things send.
func exchanges() []exchange {
	const g, d, a = gatewaySpec, dashboardSpec, adminSpec
	apiWrapper := `{"api_definition":` + classicAPI + `}`
	gwAPI := `{"api_id":"gwapi","name":"Gateway API","org_id":"{org}","use_keyless":false,"active":true,` +
		`"auth":{"auth_header_name":"Authorization"},"version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}},` +
		`"proxy":{"listen_path":"/gw/","target_url":"http://127.0.0.1:9","strip_listen_path":true}}`
	gwKey := `{"rate":10,"per":60,"quota_max":100,"quota_renewal_rate":3600,"org_id":"{org}",` +
		`"access_rights":{"gwapi":{"api_id":"gwapi","api_name":"Gateway API","versions":["Default"]}}}`
	user := `{"first_name":"Ann","last_name":"Lee","email_address":"ann@contract.io","password":"ann-password",` +
		`"active":true,"user_permissions":{"keys":"write","apis":"read"}}`
	org2 := `{"owner_name":"Second Org","owner_slug":"second-org","cname_enabled":false,"cname":"","hybrid_enabled":false}`
	org2User := `{"org_id":"{org2}","first_name":"Bo","last_name":"Ek","email_address":"bo@second.io","password":"bo-password","active":true,"user_permissions":{"IsAdmin":"admin"}}`

	// What the exchanges' setups make, each with the requests of the exchanges that
	// make it.
	gwAPIMade := []step{{spec: g, method: "POST", path: "/tyk/apis", body: gwAPI, as: "secret"}}
	gwAPIDeleted := plus(gwAPIMade, step{spec: g, method: "DELETE", path: "/tyk/apis/gwapi", as: "secret"})
	gwKeyMade := plus(gwAPIMade, step{spec: g, method: "POST", path: "/tyk/keys", body: gwKey, as: "secret",
		save: map[string]string{"gwKey": "key", "gwHash": "key_hash"}})
	gwKeyDeleted := plus(gwKeyMade, step{spec: g, method: "DELETE", path: "/tyk/keys/{gwKey}", as: "secret"})
	gwCustomKeyMade := plus(gwAPIMade, step{spec: g, method: "POST", path: "/tyk/keys/custom-gw-key", body: gwKey, as: "secret"})
	gwFullKeyMade := plus(gwAPIMade, step{spec: g, method: "POST", path: "/tyk/keys/full-session-key", body: fullSession, as: "secret",
		save: map[string]string{"fullKey": "key"}})
	dashAPIMade := []step{{spec: d, method: "POST", path: "/api/apis", body: apiWrapper, as: "admin", save: map[string]string{"dbID": "Meta"}}}
	dashAPIDeleted := plus(dashAPIMade, step{spec: d, method: "DELETE", path: "/api/apis/{apiID}", as: "admin"})
	dashKeyMade := plus(dashAPIMade, step{spec: d, method: "POST", path: "/api/keys", body: tutorialKey, as: "admin",
		save: map[string]string{"key": "key_id", "hash": "key_hash"}})
	dashKeyDeleted := plus(dashKeyMade, step{spec: d, method: "DELETE", path: "/api/keys/{key}", as: "admin"})
	dashCustomKeyMade := plus(dashAPIMade, step{spec: d, method: "POST", path: "/api/keys/my-custom-key", body: tutorialKey, as: "admin"})
	dashKeysMade := plus(dashKeyMade, step{spec: d, method: "POST", path: "/api/keys", body: limitedKey, as: "admin"})
	// The dashboard's two keys and the gateway's full session, for the detailed list.
	allKeysMade := plus(dashKeysMade, gwFullKeyMade...)
	userMade := []step{{spec: d, method: "POST", path: "/api/users", body: user, as: "admin", save: map[string]string{"user": "Meta"}}}
	userDeleted := plus(userMade, step{spec: d, method: "DELETE", path: "/api/users/{user}", as: "admin"})
	org2Made := []step{{spec: a, method: "POST", path: "/admin/organisations", body: org2, as: "admin-auth", save: map[string]string{"org2": "Meta"}}}
	org2UserMade := plus(org2Made, step{spec: a, method: "POST", path: "/admin/users", body: org2User, as: "admin-auth",
		save: map[string]string{"org2User": "Meta.id"}})
	// A user as Tyk's generated clients create one: no password.
	noPasswordUser := `{"first_name":"Itachi","last_name":"Sasuke","email_address":"itachi@contract.io","user_permissions":{"keys":"read"}}`
	adminUpdate := `{"id":"{org2User}","org_id":"{org2}","first_name":"Bo","last_name":"Eklund","email_address":"bo@second.io",` +
		`"active":true,"password":"bo-new-password","user_permissions":{"IsAdmin":"admin"}}`

	return []exchange{
		// ---- Gateway control API (/tyk/) --------------------------------------
		{name: "health check", spec: g, op: "GET /hello", method: "GET", path: "/hello", as: "none", status: 200},
		{name: "create API", spec: g, op: "POST /tyk/apis", method: "POST", path: "/tyk/apis", body: gwAPI, as: "secret", status: 200},
		{name: "create API again", spec: g, setup: gwAPIMade, op: "POST /tyk/apis", method: "POST", path: "/tyk/apis", body: gwAPI, as: "secret", status: 409},
		{name: "create invalid API", spec: g, op: "POST /tyk/apis", method: "POST", path: "/tyk/apis",
			body: `{"name":"bad","proxy":{"listen_path":"/a b","target_url":"http://u"}}`, as: "secret", status: 400},
		{name: "create API, body not JSON", spec: g, op: "POST /tyk/apis", method: "POST", path: "/tyk/apis", body: `{"name":`, as: "secret", status: 400, invalid: "request body"},
		{name: "list APIs", spec: g, setup: gwAPIMade, op: "GET /tyk/apis", method: "GET", path: "/tyk/apis", as: "secret", status: 200},
		{name: "list APIs, trailing slash", spec: g, setup: gwAPIMade, op: "GET /tyk/apis", method: "GET", path: "/tyk/apis/", as: "secret", status: 200},
		{name: "get API", spec: g, setup: gwAPIMade, op: "GET /tyk/apis/{apiID}", method: "GET", path: "/tyk/apis/gwapi", as: "secret", status: 200},
		{name: "get unknown API", spec: g, op: "GET /tyk/apis/{apiID}", method: "GET", path: "/tyk/apis/nope", as: "secret", status: 404},
		{name: "update API", spec: g, setup: gwAPIMade, op: "PUT /tyk/apis/{apiID}", method: "PUT", path: "/tyk/apis/gwapi", body: gwAPI, as: "secret", status: 200},
		{name: "update unknown API", spec: g, op: "PUT /tyk/apis/{apiID}", method: "PUT", path: "/tyk/apis/nope", body: gwAPI, as: "secret", status: 404},
		{name: "reload", spec: g, op: "GET /tyk/reload", method: "GET", path: "/tyk/reload?block=true", as: "secret", status: 200},
		{name: "group reload", spec: g, op: "GET /tyk/reload/group", method: "GET", path: "/tyk/reload/group", as: "secret", status: 200},
		{name: "create key", spec: g, setup: gwAPIMade, op: "POST /tyk/keys", method: "POST", path: "/tyk/keys", body: gwKey, as: "secret", status: 200,
			save: map[string]string{"gwKey": "key", "gwHash": "key_hash"}},
		{name: "create key (older endpoint)", spec: g, setup: gwAPIMade, op: "POST /tyk/keys/create", method: "POST", path: "/tyk/keys/create", body: gwKey, as: "secret", status: 200},
		{name: "create custom key", spec: g, setup: gwAPIMade, op: "POST /tyk/keys/{keyID}", method: "POST", path: "/tyk/keys/custom-gw-key", body: gwKey, as: "secret", status: 200},
		{name: "create custom key again", spec: g, setup: gwCustomKeyMade, op: "POST /tyk/keys/{keyID}", method: "POST", path: "/tyk/keys/custom-gw-key", body: gwKey, as: "secret", status: 409},
		{name: "create custom key, full session", spec: g, setup: gwAPIMade, op: "POST /tyk/keys/{keyID}", method: "POST", path: "/tyk/keys/full-session-key", body: fullSession, as: "secret", status: 200,
			save: map[string]string{"fullKey": "key"}},
		{name: "get full-session key", spec: g, setup: gwFullKeyMade, op: "GET /tyk/keys/{keyID}", method: "GET", path: "/tyk/keys/{fullKey}", as: "secret", status: 200},
		{name: "replace full-session key", spec: g, setup: gwFullKeyMade, op: "PUT /tyk/keys/{keyID}", method: "PUT", path: "/tyk/keys/{fullKey}", body: fullSession, as: "secret", status: 200},
		{name: "get full-session key from the dashboard", spec: d, setup: gwFullKeyMade, op: "GET /api/keys/{keyId}", method: "GET", path: "/api/keys/{fullKey}", as: "admin", status: 200},
		{name: "create key, rate without per", spec: g, setup: gwAPIMade, op: "POST /tyk/keys", method: "POST", path: "/tyk/keys",
			body: `{"rate":5,"access_rights":{"gwapi":{"api_id":"gwapi"}}}`, as: "secret", status: 400},
		{name: "create key, body not JSON", spec: g, op: "POST /tyk/keys", method: "POST", path: "/tyk/keys", body: `{"rate":`, as: "secret", status: 400, invalid: "request body"},
		{name: "get key", spec: g, setup: gwKeyMade, op: "GET /tyk/keys/{keyID}", method: "GET", path: "/tyk/keys/{gwKey}", as: "secret", status: 200},
		{name: "get key by hash", spec: g, setup: gwKeyMade, op: "GET /tyk/keys/{keyID}", method: "GET", path: "/tyk/keys/{gwHash}?hashed=true", as: "secret", status: 200},
		{name: "get unknown key", spec: g, op: "GET /tyk/keys/{keyID}", method: "GET", path: "/tyk/keys/no-such-key", as: "secret", status: 404},
		{name: "update key", spec: g, setup: gwKeyMade, op: "PUT /tyk/keys/{keyID}", method: "PUT", path: "/tyk/keys/{gwKey}?suppress_reset=1", body: gwKey, as: "secret", status: 200},
		{name: "update unknown key", spec: g, setup: gwAPIMade, op: "PUT /tyk/keys/{keyID}", method: "PUT", path: "/tyk/keys/no-such-key", body: gwKey, as: "secret", status: 404},
		{name: "list keys", spec: g, setup: gwKeyMade, op: "GET /tyk/keys", method: "GET", path: "/tyk/keys", as: "secret", status: 200},
		{name: "preview key", spec: g, setup: gwAPIMade, op: "POST /tyk/keys/preview", method: "POST", path: "/tyk/keys/preview", body: gwKey, as: "secret", status: 200},
		{name: "delete key", spec: g, setup: gwKeyMade, op: "DELETE /tyk/keys/{keyID}", method: "DELETE", path: "/tyk/keys/{gwKey}", as: "secret", status: 200},
		{name: "delete key again", spec: g, setup: gwKeyDeleted, op: "DELETE /tyk/keys/{keyID}", method: "DELETE", path: "/tyk/keys/{gwKey}", as: "secret", status: 404},
		{name: "list an API's versions", spec: g, setup: gwAPIMade, op: "GET /tyk/apis/{apiID}/versions", method: "GET", path: "/tyk/apis/gwapi/versions?searchText=&accessType=external", as: "secret", status: 200},
		{name: "list an unknown API's versions", spec: g, op: "GET /tyk/apis/{apiID}/versions", method: "GET", path: "/tyk/apis/nope/versions", as: "secret", status: 404},
		{name: "delete API", spec: g, setup: gwAPIMade, op: "DELETE /tyk/apis/{apiID}", method: "DELETE", path: "/tyk/apis/gwapi", as: "secret", status: 200},
		{name: "delete unknown API", spec: g, setup: gwAPIDeleted, op: "DELETE /tyk/apis/{apiID}", method: "DELETE", path: "/tyk/apis/gwapi", as: "secret", status: 404},
		{name: "no secret", spec: g, op: "GET /tyk/apis", method: "GET", path: "/tyk/apis", as: "none", status: 403, invalid: "header X-Tyk-Authorization is missing"},
		{name: "wrong secret", spec: g, op: "GET /tyk/keys", method: "GET", path: "/tyk/keys", as: "bad", status: 403},
		{name: "readiness", spec: g, op: "GET /ready", method: "GET", path: "/ready", as: "none", status: 200},

		// ---- Dashboard API (/api/) ---------------------------------------------
		{name: "create API", spec: d, op: "POST /api/apis", method: "POST", path: "/api/apis", body: apiWrapper, as: "admin", status: 200},
		{name: "create API again", spec: d, setup: dashAPIMade, op: "POST /api/apis", method: "POST", path: "/api/apis", body: apiWrapper, as: "admin", status: 409},
		{name: "create invalid API", spec: d, op: "POST /api/apis", method: "POST", path: "/api/apis",
			body: `{"api_definition":{"name":"x","proxy":{"listen_path":"/a b","target_url":"http://u"}}}`, as: "admin", status: 400},
		{name: "reader cannot create APIs", spec: d, op: "POST /api/apis", method: "POST", path: "/api/apis", body: apiWrapper, as: "reader", status: 403},
		{name: "list APIs", spec: d, setup: dashAPIMade, op: "GET /api/apis", method: "GET", path: "/api/apis?p=1", as: "admin", status: 200},
		{name: "list all APIs", spec: d, setup: dashAPIMade, op: "GET /api/apis", method: "GET", path: "/api/apis?p=-2&q=httpbin", as: "admin", status: 200},
		{name: "list APIs, bad page", spec: d, op: "GET /api/apis", method: "GET", path: "/api/apis?p=x", as: "admin", status: 400, invalid: `parameter "p" in query`},
		{name: "get API", spec: d, setup: dashAPIMade, op: "GET /api/apis/{apiId}", method: "GET", path: "/api/apis/{apiID}", as: "admin", status: 200},
		{name: "get unknown API", spec: d, op: "GET /api/apis/{apiId}", method: "GET", path: "/api/apis/nope", as: "admin", status: 400},
		{name: "update API", spec: d, setup: dashAPIMade, op: "PUT /api/apis/{apiId}", method: "PUT", path: "/api/apis/{apiID}", body: apiWrapper, as: "admin", status: 200},
		{name: "update unknown API", spec: d, op: "PUT /api/apis/{apiId}", method: "PUT", path: "/api/apis/nope", body: apiWrapper, as: "admin", status: 404},
		{name: "create API without a listen path", spec: d, op: "POST /api/apis", method: "POST", path: "/api/apis", as: "admin", status: 200,
			body: `{"api_definition":{"name":"No Path","use_keyless":true,"proxy":{"target_url":"http://httpbin.org/"}}}`},
		{name: "create API with a taken id", spec: d, setup: dashAPIMade, op: "POST /api/apis", method: "POST", path: "/api/apis", as: "admin", status: 409,
			body: `{"api_definition":{"id":"{dbID}","name":"Other","proxy":{"listen_path":"/other/","target_url":"http://httpbin.org/"}}}`},
		{name: "get API by database id", spec: d, setup: dashAPIMade, op: "GET /api/apis/{apiId}", method: "GET", path: "/api/apis/{dbID}", as: "admin", status: 200},
		{name: "update API by database id", spec: d, setup: dashAPIMade, op: "PUT /api/apis/{apiId}", method: "PUT", path: "/api/apis/{dbID}", body: apiWrapper, as: "admin", status: 200},
		{name: "delete API by database id", spec: d, setup: dashAPIMade, op: "DELETE /api/apis/{apiId}", method: "DELETE", path: "/api/apis/{dbID}", as: "admin", status: 200},
		{name: "search APIs", spec: d, setup: dashAPIMade, op: "GET /api/apis/search", method: "GET", path: "/api/apis/search?q=Httpbin&p=1", as: "reader", status: 200},
		{name: "create key", spec: d, setup: dashAPIMade, op: "POST /api/keys", method: "POST", path: "/api/keys", body: tutorialKey, as: "admin", status: 200,
			save: map[string]string{"key": "key_id", "hash": "key_hash"}},
		{name: "create limited key", spec: d, setup: dashAPIMade, op: "POST /api/keys", method: "POST", path: "/api/keys", body: limitedKey, as: "admin", status: 200},
		{name: "create key, rate without per", spec: d, setup: dashAPIMade, op: "POST /api/keys", method: "POST", path: "/api/keys",
			body: `{"rate":5,"access_rights":{"{apiID}":{"api_id":"{apiID}"}}}`, as: "admin", status: 400},
		{name: "reader cannot create keys", spec: d, setup: dashAPIMade, op: "POST /api/keys", method: "POST", path: "/api/keys", body: tutorialKey, as: "reader", status: 403},
		{name: "create key, body not JSON", spec: d, op: "POST /api/keys", method: "POST", path: "/api/keys", body: `{"rate":`, as: "admin", status: 400, invalid: "request body"},
		{name: "create custom key", spec: d, setup: dashAPIMade, op: "POST /api/keys/{keyId}", method: "POST", path: "/api/keys/my-custom-key", body: tutorialKey, as: "admin", status: 200},
		{name: "create custom key again", spec: d, setup: dashCustomKeyMade, op: "POST /api/keys/{keyId}", method: "POST", path: "/api/keys/my-custom-key", body: tutorialKey, as: "admin", status: 409},
		{name: "get key", spec: d, setup: dashKeyMade, op: "GET /api/keys/{keyId}", method: "GET", path: "/api/keys/{key}", as: "admin", status: 200},
		{name: "get key by hash", spec: d, setup: dashKeyMade, op: "GET /api/keys/{keyId}", method: "GET", path: "/api/keys/{hash}?hashed=true", as: "reader", status: 200},
		{name: "get unknown key", spec: d, op: "GET /api/keys/{keyId}", method: "GET", path: "/api/keys/no-such-key", as: "admin", status: 404},
		{name: "update key", spec: d, setup: dashKeyMade, op: "PUT /api/keys/{keyId}", method: "PUT", path: "/api/keys/{key}?suppress_reset=1", body: tutorialKey, as: "admin", status: 200},
		{name: "update unknown key", spec: d, setup: dashAPIMade, op: "PUT /api/keys/{keyId}", method: "PUT", path: "/api/keys/no-such-key", body: tutorialKey, as: "admin", status: 404},
		{name: "list key IDs", spec: d, setup: dashKeysMade, op: "GET /api/apis/keys", method: "GET", path: "/api/apis/keys?p=1", as: "reader", status: 200},
		{name: "list an API's key IDs", spec: d, setup: dashKeysMade, op: "GET /api/apis/{apiID}/keys", method: "GET", path: "/api/apis/{apiID}/keys?p=1", as: "admin", status: 200},
		{name: "list an unknown API's key IDs", spec: d, op: "GET /api/apis/{apiID}/keys", method: "GET", path: "/api/apis/nope/keys", as: "admin", status: 404},
		{name: "get a key through its API", spec: d, setup: dashKeyMade, op: "GET /api/apis/{apiID}/keys/{keyID}", method: "GET", path: "/api/apis/{apiID}/keys/{key}", as: "reader", status: 200},
		{name: "get a key by hash through its API's database id", spec: d, setup: dashKeyMade, op: "GET /api/apis/{apiID}/keys/{keyID}", method: "GET", path: "/api/apis/{dbID}/keys/{hash}?hashed=true", as: "admin", status: 200},
		{name: "get an unknown key through an API", spec: d, setup: dashAPIMade, op: "GET /api/apis/{apiID}/keys/{keyID}", method: "GET", path: "/api/apis/{apiID}/keys/no-such-key", as: "admin", status: 404},
		{name: "search an API's keys", spec: d, setup: dashKeysMade, op: "GET /api/apis/{apiId}/keys/search", method: "GET", path: "/api/apis/{apiID}/keys/search?q=tutorial&p=1", as: "admin", status: 200},
		{name: "list keys in detail", spec: d, setup: allKeysMade, op: "GET /api/keys/detailed", method: "GET", path: "/api/keys/detailed", as: "admin", status: 200},
		{name: "search keys in detail", spec: d, setup: dashKeysMade, op: "GET /api/keys/detailed", method: "GET", path: "/api/keys/detailed?q=tutorial", as: "admin", status: 200},
		{name: "preview key", spec: d, setup: dashAPIMade, op: "POST /api/keys/preview", method: "POST", path: "/api/keys/preview", body: tutorialKey, as: "admin", status: 200},
		{name: "list key IDs (alias)", spec: d, setup: dashKeyMade, op: "GET /api/keys", method: "GET", path: "/api/keys?p=1", as: "admin", status: 200},
		{name: "delete key", spec: d, setup: dashKeyMade, op: "DELETE /api/keys/{keyId}", method: "DELETE", path: "/api/keys/{key}", as: "admin", status: 200},
		{name: "delete key again", spec: d, setup: dashKeyDeleted, op: "DELETE /api/keys/{keyId}", method: "DELETE", path: "/api/keys/{key}", as: "admin", status: 404},

		{name: "list users", spec: d, op: "GET /api/users", method: "GET", path: "/api/users?p=1", as: "admin", status: 200},
		{name: "create user", spec: d, op: "POST /api/users", method: "POST", path: "/api/users", body: user, as: "admin", status: 200,
			save: map[string]string{"user": "Meta"}},
		{name: "create user again", spec: d, setup: userMade, op: "POST /api/users", method: "POST", path: "/api/users", body: user, as: "admin", status: 400},
		{name: "reader cannot list users", spec: d, op: "GET /api/users", method: "GET", path: "/api/users", as: "reader", status: 403},
		{name: "get user", spec: d, setup: userMade, op: "GET /api/users/{userId}", method: "GET", path: "/api/users/{user}", as: "admin", status: 200},
		{name: "get own user", spec: d, op: "GET /api/users/{userId}", method: "GET", path: "/api/users/{me}", as: "admin", status: 200},
		{name: "current user", spec: d, op: "GET /api/users/me", method: "GET", path: "/api/users/me", as: "admin", status: 200},
		{name: "update user", spec: d, setup: userMade, op: "PUT /api/users/{userId}", method: "PUT", path: "/api/users/{user}",
			body: `{"first_name":"Anne","last_name":"Lee","email_address":"anne@contract.io","active":true,"user_permissions":{"keys":"read"}}`, as: "admin", status: 200},
		{name: "reset user's access key", spec: d, setup: userMade, op: "PUT /api/users/{userId}/actions/key/reset", method: "PUT", path: "/api/users/{user}/actions/key/reset", as: "admin", status: 200},
		{name: "reset user's access key (older docs' POST)", spec: d, setup: userMade, op: "POST /api/users/{userId}/actions/key/reset", method: "POST", path: "/api/users/{user}/actions/key/reset", as: "admin", status: 200},
		{name: "set user's password", spec: d, setup: userMade, op: "POST /api/users/{userId}/actions/reset", method: "POST", path: "/api/users/{user}/actions/reset",
			body: `{"new_password":"another-password"}`, as: "admin", status: 200},
		{name: "delete user", spec: d, setup: userMade, op: "DELETE /api/users/{userId}", method: "DELETE", path: "/api/users/{user}", as: "admin", status: 200},
		{name: "get deleted user", spec: d, setup: userDeleted, op: "GET /api/users/{userId}", method: "GET", path: "/api/users/{user}", as: "admin", status: 404},
		{name: "update deleted user", spec: d, setup: userDeleted, op: "PUT /api/users/{userId}", method: "PUT", path: "/api/users/{user}", body: `{"first_name":"Gone"}`, as: "admin", status: 404},
		{name: "set password, body not JSON", spec: d, op: "POST /api/users/{userId}/actions/reset", method: "POST", path: "/api/users/{me}/actions/reset", body: `{"new_password":`, as: "admin", status: 400, invalid: "request body"},
		{name: "delete deleted user", spec: d, setup: userDeleted, op: "DELETE /api/users/{userId}", method: "DELETE", path: "/api/users/{user}", as: "admin", status: 404},
		{name: "audit log", spec: d, setup: dashAPIMade, op: "GET /api/audit", method: "GET", path: "/api/audit?p=1", as: "admin", status: 200},
		{name: "create user without a password", spec: d, op: "POST /api/users", method: "POST", path: "/api/users", body: noPasswordUser, as: "admin", status: 200},
		{name: "search users", spec: d, setup: userMade, op: "POST /api/users/search", method: "POST", path: "/api/users/search?p=1",
			body: `{"filters":{"query":"ann@"}}`, as: "admin", status: 200},
		{name: "search users (deprecated GET)", spec: d, setup: userMade, op: "GET /api/users/search", method: "GET", path: "/api/users/search?q=ann@contract.io", as: "admin", status: 200},
		{name: "search users without filters", spec: d, op: "POST /api/users/search", method: "POST", path: "/api/users/search", body: `{}`, as: "admin", status: 400},
		{name: "reader cannot search users", spec: d, op: "POST /api/users/search", method: "POST", path: "/api/users/search", body: `{"filters":{"query":"a"}}`, as: "reader", status: 403},
		{name: "audit logs", spec: d, setup: dashAPIMade, op: "GET /api/audit-logs", method: "GET", path: "/api/audit-logs?p=1", as: "admin", status: 200},
		{name: "audit logs, filtered", spec: d, setup: dashAPIMade, op: "GET /api/audit-logs", method: "GET",
			path: "/api/audit-logs?user=admin@contract.io&action=create&ip=127.0.0.1&from_date=1990-11-25&to_date=2999-12-18", as: "admin", status: 200},
		{name: "audit logs, downloaded", spec: d, setup: dashAPIMade, op: "GET /api/audit-logs", method: "GET", path: "/api/audit-logs?download=true&type=json", as: "admin", status: 200},
		{name: "audit logs by request method", spec: d, op: "GET /api/audit-logs", method: "GET", path: "/api/audit-logs?method=POST", as: "admin", status: 400},
		{name: "reader cannot read audit logs", spec: d, op: "GET /api/audit-logs", method: "GET", path: "/api/audit-logs", as: "reader", status: 403},
		{name: "system stats", spec: d, setup: dashKeyMade, op: "GET /api/system/stats", method: "GET", path: "/api/system/stats?start_day=2000-01-01&end_day=2999-12-31&resolution=day&entity=apis", as: "admin", status: 200},
		{name: "system stats, bad entity", spec: d, op: "GET /api/system/stats", method: "GET", path: "/api/system/stats?entity=keys", as: "admin", status: 400, invalid: `parameter "entity" in query`},
		{name: "reader cannot read system stats", spec: d, op: "GET /api/system/stats", method: "GET", path: "/api/system/stats", as: "reader", status: 403},
		{name: "dashboard health check", spec: d, op: "GET /hello", method: "GET", path: "/hello", as: "none", status: 200},

		{name: "delete API", spec: d, setup: dashAPIMade, op: "DELETE /api/apis/{apiId}", method: "DELETE", path: "/api/apis/{apiID}", as: "admin", status: 200},
		{name: "delete API again", spec: d, setup: dashAPIDeleted, op: "DELETE /api/apis/{apiId}", method: "DELETE", path: "/api/apis/{apiID}", as: "admin", status: 404},
		{name: "no access key", spec: d, op: "GET /api/apis", method: "GET", path: "/api/apis", as: "none", status: 401, invalid: "header Authorization is missing"},
		{name: "wrong access key", spec: d, op: "GET /api/apis", method: "GET", path: "/api/apis", as: "bad", status: 401},

		// ---- Dashboard Admin API (/admin/) -------------------------------------
		{name: "list organisations", spec: a, op: "GET /admin/organisations", method: "GET", path: "/admin/organisations", as: "admin-auth", status: 200},
		{name: "create organisation", spec: a, op: "POST /admin/organisations", method: "POST", path: "/admin/organisations",
			body: org2, as: "admin-auth", status: 200,
			save: map[string]string{"org2": "Meta"}},
		{name: "create organisation, body not JSON", spec: a, op: "POST /admin/organisations", method: "POST", path: "/admin/organisations", body: `{"owner_name":`, as: "admin-auth", status: 400, invalid: "request body"},
		{name: "get organisation", spec: a, setup: org2Made, op: "GET /admin/organisations/{orgID}", method: "GET", path: "/admin/organisations/{org2}", as: "admin-auth", status: 200},
		{name: "get unknown organisation", spec: a, op: "GET /admin/organisations/{orgID}", method: "GET", path: "/admin/organisations/nope", as: "admin-auth", status: 404},
		{name: "get organisation, wrong secret", spec: a, setup: org2Made, op: "GET /admin/organisations/{orgID}", method: "GET", path: "/admin/organisations/{org2}", as: "bad", status: 401},
		{name: "create user in organisation", spec: a, setup: org2Made, op: "POST /admin/users", method: "POST", path: "/admin/users",
			body: org2User, as: "admin-auth", status: 200},
		{name: "create user in organisation again", spec: a, setup: org2UserMade, op: "POST /admin/users", method: "POST", path: "/admin/users",
			body: org2User, as: "admin-auth", status: 400},
		{name: "list users of organisation", spec: a, setup: org2UserMade, op: "GET /admin/users", method: "GET", path: "/admin/users?org_id={org2}", as: "admin-auth", status: 200},
		{name: "create user without a password", spec: a, setup: org2Made, op: "POST /admin/users", method: "POST", path: "/admin/users",
			body: `{"org_id":"{org2}","email_address":"itachi@second.io","first_name":"itachi","last_name":"sasuke"}`, as: "admin-auth", status: 200},
		{name: "update user", spec: a, setup: org2UserMade, op: "PUT /admin/users/{userId}", method: "PUT", path: "/admin/users/{org2User}", body: adminUpdate, as: "admin-auth", status: 200},
		{name: "update unknown user", spec: a, op: "PUT /admin/users/{userId}", method: "PUT", path: "/admin/users/679a02465715ecdd507d7273", body: `{"first_name":"x"}`, as: "admin-auth", status: 404},
		{name: "update user, short password", spec: a, setup: org2UserMade, op: "PUT /admin/users/{userId}", method: "PUT", path: "/admin/users/{org2User}", body: `{"password":"short"}`, as: "admin-auth", status: 400},
		{name: "update user, body not JSON", spec: a, setup: org2UserMade, op: "PUT /admin/users/{userId}", method: "PUT", path: "/admin/users/{org2User}", body: `{"first_name":`, as: "admin-auth", status: 400, invalid: "request body"},
		{name: "update user, wrong secret", spec: a, setup: org2UserMade, op: "PUT /admin/users/{userId}", method: "PUT", path: "/admin/users/{org2User}", body: `{"first_name":"x"}`, as: "bad", status: 401},
		{name: "admin health check", spec: a, op: "GET /admin/hello", method: "GET", path: "/admin/hello/", as: "none", status: 200},
	}
}
