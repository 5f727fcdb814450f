package hub

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Writes retry through what a NATS cluster answers while it elects its
// leaders, and not through what retrying cannot mend.
func TestBusNotAnswering(t *testing.T) {
	ctx := context.Background()
	ended, cancel := context.WithCancel(ctx)
	cancel()
	electing := &jetstream.APIError{Code: 503, ErrorCode: jsClusterNotAvailable, Description: "JetStream system temporarily unavailable"}
	for _, tc := range []struct {
		ctx  context.Context
		err  error
		want bool
	}{
		{ctx, electing, true},
		{ctx, fmt.Errorf("presence: %w", electing), true},
		{ctx, nats.ErrTimeout, true},
		{ctx, nats.ErrNoResponders, true},
		{ctx, jetstream.ErrNoStreamResponse, true},
		{ctx, context.DeadlineExceeded, true},
		{ended, context.DeadlineExceeded, false},
		{ctx, jetstream.ErrJetStreamNotEnabled, false},
		{ctx, &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence}, false},
		{ctx, errors.New("disk full"), false},
	} {
		if got := busNotAnswering(tc.ctx, tc.err); got != tc.want {
			t.Errorf("busNotAnswering(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
