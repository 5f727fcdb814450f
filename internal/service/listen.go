package service

import (
	"context"
	"net"
)

// Keep-alive probes find clients that vanished without closing: after
// keepAliveIdle of silence, one every keepAliveInterval, keepAliveCount
// unanswered ones end the connection (Go's defaults).
const (
	keepAliveIdle     = 15 // seconds
	keepAliveInterval = 15 // seconds
	keepAliveCount    = 9
)

// ListenTCP opens a TCP listener whose connections probe their clients
// with keep-alives. Where the system lets accepted connections inherit
// the listening socket's keep-alive settings (Linux), they are set once
// on it instead of in four system calls per accepted connection.
func ListenTCP(ctx context.Context, addr string) (net.Listener, error) {
	return keepAliveListenConfig().Listen(ctx, "tcp", addr)
}
