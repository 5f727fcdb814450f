package offstack

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/crosstalk-im/crosstalk/internal/idleread"
)

// chunked gives its data in reads of the sizes in steps, as a network does.
type chunked struct {
	data  []byte
	steps []byte
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.steps) > 0 {
		n = min(n, int(c.steps[0])+1)
		c.steps = c.steps[1:]
	}
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// FuzzReadLoop: whatever arrives, in whatever pieces, the loop hands every
// line to its reader in order and ends with the input's end.
func FuzzReadLoop(f *testing.F) {
	f.Add([]byte("VER 1 MSNP7\r\nINF 2\r\n"), []byte{0, 3, 200})
	f.Add([]byte("no newline at all"), []byte{})
	f.Add(bytes.Repeat([]byte("x\n"), 3000), []byte{255, 1})
	f.Fuzz(func(t *testing.T, data, steps []byte) {
		r := idleread.NewReader(&chunked{data: data, steps: steps})
		var got []byte
		arms := 0
		err := ReadLoop(r, func() (bool, error) {
			line, err := r.ReadSlice('\n')
			got = append(got, line...)
			if errors.Is(err, io.EOF) {
				return true, nil
			}
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				return true, err
			}
			return false, nil
		}, func() { arms++ })
		if err != nil {
			t.Fatalf("ReadLoop: %v", err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("frames made %q of %q", got, data)
		}
		if arms == 0 {
			t.Fatal("the deadline was never armed")
		}
	})
}
