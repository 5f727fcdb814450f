package mailbox

import (
	"sync/atomic"
	"testing"
	"unsafe"
)

// Asked many times while a read runs, the Rereader reads once more, not
// once per ask; after Stop it reads no more.
func TestRereaderCoalesces(t *testing.T) {
	var r Rereader
	var reads atomic.Int32
	block := make(chan struct{})
	started := make(chan struct{}, 10)
	read := func() {
		reads.Add(1)
		started <- struct{}{}
		<-block
	}
	r.Reread(read)
	<-started
	for range 5 {
		r.Reread(read)
	}
	block <- struct{}{} // the first read ends; one more starts
	<-started
	close(block)
	r.Stop()
	if n := reads.Load(); n != 2 {
		t.Fatalf("%d reads, want 2", n)
	}
	r.Reread(read)
	r.Stop()
	if n := reads.Load(); n != 2 {
		t.Fatalf("a read after Stop ran (%d reads)", n)
	}
}

// Every idle session keeps a Rereader: it stays four words.
func TestRereaderSize(t *testing.T) {
	if n := unsafe.Sizeof(Rereader{}); n > 32 {
		t.Errorf("a Rereader takes %d bytes, want at most 32", n)
	}
}
