package app

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tollgate/tollgate/internal/config"
)

// secretFile is where a generated admin secret is kept, inside the data dir.
const secretFile = "admin-secret"

// resolveSecret returns the admin secret: the configured one if set; else the one
// generated on an earlier start; else a new one, written with 0600 permissions and
// announced once on out.
func resolveSecret(cfg config.Config, out io.Writer) (string, error) {
	if cfg.Secret != "" {
		return cfg.Secret, config.ValidateSecret(cfg.Secret, false)
	}
	if cfg.SecretFile != "" {
		data, err := os.ReadFile(cfg.SecretFile)
		if err != nil {
			return "", fmt.Errorf("secret_file: %w", err)
		}
		s := strings.TrimSpace(string(data))
		if err := config.ValidateSecret(s, false); err != nil {
			return "", fmt.Errorf("admin secret in %s: %w", cfg.SecretFile, err)
		}
		return s, nil
	}
	path := filepath.Join(cfg.DataDir, secretFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		s := strings.TrimSpace(string(data))
		if err := config.ValidateSecret(s, false); err != nil {
			return "", fmt.Errorf("admin secret in %s: %w", path, err)
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(out, "warning: %s is readable by other users; run: chmod 600 %s\n", path, path)
		}
		return s, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read admin secret: %w", err)
	}
	// 26 base32 characters from crypto/rand: 130 bits.
	s := rand.Text()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("store generated admin secret: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("store generated admin secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("store generated admin secret: %w", err)
	}
	fmt.Fprintf(out, "\nGenerated an admin secret for the /tyk/ control API (header x-tyk-authorization):\n\n    %s\n\n"+
		"It is shown only this once. Read it again with:  cat %s\n\n", s, path)
	return s, nil
}
