//go:build !unix

package app

// setUmask does nothing where there is no umask; file modes come from the OS.
func setUmask() {}
