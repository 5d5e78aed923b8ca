//go:build unix

package app

import "syscall"

// setUmask makes every file the process creates owner-only (see secureDataDir).
func setUmask() { syscall.Umask(0o077) }
