package msnftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// AcceptOne takes one connection on l, a port opened for one transfer,
// within timeout (or until ctx ends), and closes l.
func AcceptOne(ctx context.Context, l net.Listener, timeout time.Duration) (net.Conn, error) {
	return AcceptFrom(ctx, l, timeout, nil)
}

// AcceptFrom is AcceptOne for a peer known by its address: a connection
// from another host is closed and the wait goes on, so that no one else
// can take the peer's place in the transfer (a receiver cannot tell a
// sender by anything else). A nil host accepts any.
func AcceptFrom(ctx context.Context, l net.Listener, timeout time.Duration, host net.IP) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer l.Close()
	defer stop()
	for {
		nc, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("no connection: %w", ctx.Err())
			}
			return nil, err
		}
		if ta, ok := nc.RemoteAddr().(*net.TCPAddr); host == nil || ok && ta.IP.Equal(host) {
			return nc, nil
		}
		nc.Close()
	}
}

// ReceiveStored runs Receive on conn for a server that keeps the file
// (in its drive): store gets the file as a stream, and opts.Commit is set
// to let it finish. store works on a context of its own, not ctx: the
// sender may leave the moment it hears BYE, which it hears only once
// store has returned, that is once the file is kept for good. From the
// last byte on, store has storeTimeout to finish.
func ReceiveStored(ctx context.Context, conn net.Conn, opts ReceiveOptions, storeTimeout time.Duration, store func(context.Context, io.Reader) error) error {
	sctx, cancelStore := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStore()
	pr, pw := io.Pipe()
	stored := make(chan error, 1)
	go func() {
		err := store(sctx, pr)
		pr.CloseWithError(errStoreEnded)
		stored <- err
	}()
	storeResult := sync.OnceValue(func() error { return <-stored })
	opts.Commit = func() error {
		pw.Close()
		t := time.AfterFunc(storeTimeout, cancelStore)
		defer t.Stop()
		return storeResult()
	}
	_, err := Receive(ctx, conn, opts, pw)
	if err != nil {
		pw.CloseWithError(err)
		cancelStore()
	}
	if serr := storeResult(); serr != nil && err == nil {
		err = serr
	}
	return err
}

// errStoreEnded fails the receiver's writes once store has returned.
var errStoreEnded = errors.New("msnftp: the file's store ended")
