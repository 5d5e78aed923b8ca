package app

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// secureDataDir creates the data directory owner-only (0700) and makes sure it and
// the files in it are not readable by other users: it holds the store (keys' hashes,
// sealed access keys, password hashes) and the secrets. A directory or file that is
// open to others is fixed, with a warning, rather than refused: the fix is safe and
// the operator learns about it.
//
// New files get 0600 through a process umask of 077 (setUmask): SQLite creates its
// -wal and -shm files later, with modes of its own choosing.
func secureDataDir(dir string, log *slog.Logger) error {
	setUmask()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data dir %s is open to other users (%v) and could not be fixed: %w", dir, st.Mode().Perm(), err)
		}
		log.Warn("data directory was open to other users; made it owner-only", "dir", dir, "was", st.Mode().Perm().String(), "now", "-rwx------")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if info.Mode().Perm()&0o077 != 0 {
			p := filepath.Join(dir, e.Name())
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("%s is open to other users and could not be fixed: %w", p, err)
			}
			log.Warn("file in the data directory was open to other users; made it owner-only", "file", p, "was", info.Mode().Perm().String())
		}
	}
	return nil
}
