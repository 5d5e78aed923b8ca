package pgbin

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFirst: PATH wins, then the newest Debian version (by number, not by
// string: 9 is older than 15), and only a directory with both programs counts.
func TestFirst(t *testing.T) {
	root := t.TempDir()
	dir := func(name string, progs ...string) string {
		d := filepath.Join(root, name, "bin")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range progs {
			if err := os.WriteFile(filepath.Join(d, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	v9, v15, v16 := dir("9", "postgres", "initdb"), dir("15", "postgres", "initdb"), dir("16", "postgres")
	onPath := dir("path", "postgres", "initdb")
	notExec := dir("17", "postgres")
	if err := os.WriteFile(filepath.Join(notExec, "initdb"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name            string
		path, versioned []string
		want            string
	}{
		{name: "PATH first", path: []string{onPath}, versioned: []string{v15}, want: onPath},
		{name: "newest complete version", versioned: []string{v9, v15, v16, notExec}, want: v15},
		{name: "none", versioned: []string{v16, notExec}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := first(tt.path, tt.versioned)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("first = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

// TestLookupUser: never root for the server.
func TestLookupUser(t *testing.T) {
	u, err := LookupUser()
	if os.Geteuid() != 0 {
		if err != nil || u.Cred != nil || u.UID != -1 || u.GID != -1 {
			t.Fatalf("not root: %+v, %v; want to run as ourselves", u, err)
		}
		return
	}
	if err != nil {
		t.Skipf("no postgres user: %v", err)
	}
	if u.Cred == nil || u.UID == 0 || int(u.Cred.Uid) != u.UID {
		t.Fatalf("as root: %+v; want the postgres user", u)
	}
}
