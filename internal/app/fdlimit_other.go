//go:build !unix

package app

// raiseFileLimit is unknown here; the connection cap then uses its fallback.
func raiseFileLimit() uint64 { return 0 }
