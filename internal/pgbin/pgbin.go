// Package pgbin finds PostgreSQL's server programs and the user to run them as, for
// the harnesses that start a throwaway server of their own: internal/pgtest for the
// tests and bench/runner for the benchmark's cluster case.
package pgbin

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// Dir returns a directory holding both initdb and postgres: PATH first, then
// Debian's /usr/lib/postgresql/<version>/bin, where the postgresql package puts
// them (off PATH), newest version first. ok is false when there is none.
func Dir() (dir string, ok bool) {
	var dirs []string
	if p, err := exec.LookPath("postgres"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	return first(dirs, debian)
}

// first is the first of path, then of versioned sorted newest first, that holds
// both programs.
func first(path, versioned []string) (string, bool) {
	versioned = slices.Clone(versioned)
	slices.SortFunc(versioned, func(a, b string) int { return version(b) - version(a) })
	for _, d := range append(slices.Clone(path), versioned...) {
		if isExecutable(filepath.Join(d, "postgres")) && isExecutable(filepath.Join(d, "initdb")) {
			return d, true
		}
	}
	return "", false
}

// version reads the major version out of /usr/lib/postgresql/<version>/bin.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// User is who initdb and postgres run as, and who owns the server's directory.
type User struct {
	// Cred is for exec.Cmd's SysProcAttr; nil: as the current user.
	Cred *syscall.Credential
	// UID and GID are for os.Chown of the server's directory; -1 (unchanged) when
	// the server runs as the current user.
	UID, GID int
}

// LookupUser decides who the server runs as. PostgreSQL refuses to run as root,
// so as root that is the postgres user (which Debian's package creates);
// otherwise the current user.
func LookupUser() (User, error) {
	if os.Geteuid() != 0 {
		return User{UID: -1, GID: -1}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return User{}, fmt.Errorf("running as root, PostgreSQL needs a non-root user to run as: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return User{}, fmt.Errorf("uid of postgres: %w", err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return User{}, fmt.Errorf("gid of postgres: %w", err)
	}
	return User{Cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, UID: uid, GID: gid}, nil
}
