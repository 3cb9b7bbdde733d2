// Package loopback finds a free TCP port on 127.0.0.1 for a server a test
// harness starts (Trillian's servers, PostgreSQL, the witnesses), which
// must be told its address on the command line rather than bind port 0.
package loopback

import "net"

// FreePort asks the kernel for a free loopback TCP port. Another process
// could take it before the server binds it; on loopback in a test that
// risk is accepted.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
