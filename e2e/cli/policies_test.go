package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyCommands drives `tollgate policies` and `tollgate keys create --policy`
// against a served node, and checks on the gateway that a key created from a
// policy is limited by the policy's rate.
func TestPolicyCommands(t *testing.T) {
	st := newStack(t)
	p, env, api := st.p, st.env, struct{ ID string }{st.apiID}

	out, errOut, code := run(t, env, "policies", "create", "--name", "starter", "--rate", "2", "--per", "60", "--quota-max", "1000", "--api", api.ID)
	id, ok := strings.CutPrefix(strings.TrimSpace(out), "policy created: ")
	if code != 0 || !ok || len(id) != 24 {
		t.Fatalf("policies create: %d %q %s", code, out, errOut)
	}
	file := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(file, []byte(`{"name":"premium","rate":100,"per":1,"access_rights":{"`+api.ID+`":{"api_id":"`+api.ID+`","versions":["Default"]}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = run(t, env, "policies", "create", "--file", file, "--json")
	var created struct{ Status, Message string }
	if err := json.Unmarshal([]byte(out), &created); code != 0 || err != nil || created.Status != "OK" || len(created.Message) != 24 {
		t.Fatalf("policies create --file --json: %d %v %q %s", code, err, out, errOut)
	}
	if _, errOut, code := run(t, env, "policies", "create", "--name", "starter"); code != 1 || !strings.Contains(errOut, `A policy named "starter" already exists`) {
		t.Errorf("duplicate name: %d %s", code, errOut)
	}

	out, _, code = run(t, env, "policies", "list")
	for _, want := range []string{"ID", "NAME", "STATE", "RATE", "QUOTA", "APIS", id, "starter", "active", "2/60s", "1000/3600s", api.ID, created.Message, "premium", "100/1s"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("policies list lacks %q:\n%s", want, out)
		}
	}
	if out, _, code := run(t, env, "policies", "list", "--search", "PREM"); code != 0 || !strings.Contains(out, "premium") || strings.Contains(out, "starter") {
		t.Errorf("policies list --search PREM: %d\n%s", code, out)
	}
	out, _, code = run(t, env, "policies", "list", "--json")
	var page struct {
		Data  []struct{ Name string }
		Pages int
	}
	if err := json.Unmarshal([]byte(out), &page); code != 0 || err != nil || len(page.Data) != 2 || page.Pages != 1 {
		t.Errorf("policies list --json: %d %v\n%s", code, err, out)
	}
	if out, _, code := run(t, env, "policies", "get", id); code != 0 || !strings.Contains(out, `"name": "starter"`) || !strings.Contains(out, `"rate": 2`) {
		t.Errorf("policies get: %d\n%s", code, out)
	}

	// A key from the policy needs no --api; the gateway enforces the policy's
	// rate of 2 a minute.
	out, errOut, code = run(t, env, "keys", "create", "--policy", id, "--alias", "from-policy", "--json")
	var k struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(out), &k); code != 0 || err != nil || k.Key == "" {
		t.Fatalf("keys create --policy: %d %v %s", code, err, errOut)
	}
	if out, _, _ := run(t, env, "keys", "list"); !strings.Contains(out, "from-policy") || !strings.Contains(out, id) {
		t.Errorf("keys list does not show the key's policy:\n%s", out)
	}
	for i, want := range []int{200, 200, 429} {
		if got := call(t, p.Gateway, k.Key); got != want {
			t.Fatalf("request %d with the policy's key: %d, want %d", i+1, got, want)
		}
	}
	if _, errOut, code := run(t, env, "keys", "create", "--policy", "no-such-policy"); code != 1 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("key from a missing policy: %d %s", code, errOut)
	}

	// update replaces the policy; the key follows it on its next request.
	if err := os.WriteFile(file, []byte(`{"name":"starter","rate":50,"per":60,"access_rights":{"`+api.ID+`":{"api_id":"`+api.ID+`","versions":["Default"]}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := run(t, env, "policies", "update", id, "--file", file); code != 0 || !strings.Contains(out, "policy updated") {
		t.Fatalf("policies update: %d %s %s", code, out, errOut)
	}
	if got := call(t, p.Gateway, k.Key); got != 200 {
		t.Errorf("after raising the policy's rate: %d, want 200", got)
	}

	// A policy in use is kept, with how many keys apply it, unless --force.
	if _, errOut, code := run(t, env, "policies", "delete", id); code != 1 || !strings.Contains(errOut, "applied by 1 key") || !strings.Contains(errOut, "--force") {
		t.Errorf("delete in use: %d %s", code, errOut)
	}
	if got := call(t, p.Gateway, k.Key); got != 200 {
		t.Errorf("after a refused delete: %d, want 200", got)
	}
	if out, errOut, code := run(t, env, "policies", "delete", id, "--force"); code != 0 || !strings.Contains(out, "policy deleted") {
		t.Fatalf("delete --force: %d %s %s", code, out, errOut)
	}
	if _, errOut, code := run(t, env, "policies", "get", id); code != 1 || !strings.Contains(errOut, "Could not retrieve portal object.") {
		t.Errorf("get a deleted policy: %d %s", code, errOut)
	}
	if got := call(t, p.Gateway, k.Key); got != 403 {
		t.Errorf("key of a deleted policy: %d, want 403", got)
	}
	if _, errOut, code := run(t, env, "policies", "delete", id); code != 1 || !strings.Contains(errOut, "Could not retrieve object for deletion") {
		t.Errorf("delete twice: %d %s", code, errOut)
	}
}
