//go:build unix

package app

import "syscall"

// raiseFileLimit lifts the soft open-file limit to the hard one and returns it (0 if
// unknown). Every client and upstream connection is a file descriptor; the common
// soft default of 1,024 would let a few hundred slow clients starve the gateway.
// Go raises the limit at start on Linux already; doing it here makes it explicit and
// tells us the number for the connection cap.
func raiseFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
		}
	}
	return l.Cur
}
