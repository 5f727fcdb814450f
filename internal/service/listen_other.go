//go:build !linux

package service

import (
	"net"
	"time"
)

// keepAliveListenConfig sets keep-alive on each accepted connection.
func keepAliveListenConfig() *net.ListenConfig {
	return &net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{
		Enable:   true,
		Idle:     keepAliveIdle * time.Second,
		Interval: keepAliveInterval * time.Second,
		Count:    keepAliveCount,
	}}
}
