package main

import (
	"context"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkCrossMessage measures one message of each protocol pair the
// way loadtest cross sends it, over loopback to a node in this process:
// the sender's message, the server's answer, and the recipient's client
// handed the text. Its time and allocations per message are the clients'
// and the server's together; MSN→MSN is the yardstick, as in loadtest
// cross, whose server CPU per message is the server's alone.
func BenchmarkCrossMessage(b *testing.B) {
	n, data := loadNode(b)
	ctx := testContext(b)
	if err := createLoadAccounts(ctx, data, 2); err != nil {
		b.Fatal(err)
	}
	addrs := map[string]string{"msn": n.MSNPAddr, "gg": n.GGAddr, "imip": n.IMIPAddr, "msim": n.MSIMAddr, "sip": n.SIPAddr}
	c := loadtestCrossCmd{Pairs: strings.Split("msn-gg,gg-msn,msn-imip,imip-msn,msn-msim,msim-msn,msn-sip,sip-msn,gg-sip,sip-gg", ",")}
	pairs, err := c.pairs()
	if err != nil {
		b.Fatal(err)
	}
	sources := &sourceAddrs{}
	for _, p := range pairs {
		b.Run(p.from.key+"-"+p.to.key, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			from, err := p.from.open(ctx, addrs[p.from.key], dialing{dialer: sources.dialer()}, 0, true)
			if err != nil {
				b.Fatal(err)
			}
			defer from.close()
			to, err := p.to.open(ctx, addrs[p.to.key], dialing{dialer: sources.dialer()}, 1, true)
			if err != nil {
				b.Fatal(err)
			}
			defer to.close()
			send, receive, err := openConversation(ctx, from, 0, to, 1)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := roundTrip(ctx, send, receive); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/msg")
		})
	}
}

// BenchmarkPipelinedMessage measures an MSN→MSN message as the closed
// loop sends them at window 32 (crosstalk loadtest msn --phases messages
// --window 32), in 8 conversations: pastes posted before their ACKs,
// each message received and checked, over loopback to a node in this
// process. One op is a fifth of a second of the closed loop; the figures
// per message are the clients' and the server's together.
func BenchmarkPipelinedMessage(b *testing.B) {
	n, data := loadNode(b)
	ctx := testContext(b)
	const conversations = 8
	if err := createLoadAccounts(ctx, data, 2*conversations); err != nil {
		b.Fatal(err)
	}
	msn := loadProtocolNamed("msn")
	convs := make([]conversation, conversations)
	for i := range convs {
		from, err := msn.open(ctx, n.MSNPAddr, dialing{dialer: &net.Dialer{}}, 2*i, true)
		if err != nil {
			b.Fatal(err)
		}
		defer from.close()
		to, err := msn.open(ctx, n.MSNPAddr, dialing{dialer: &net.Dialer{}}, 2*i+1, true)
		if err != nil {
			b.Fatal(err)
		}
		defer to.close()
		if convs[i].from, convs[i].to, err = openConversation(ctx, from, 2*i, to, 2*i+1); err != nil {
			b.Fatal(err)
		}
	}
	messages := int64(0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpuBefore, err := processCPU(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := closedLoop(ctx, convs, 32, 200*time.Millisecond)
		if err != nil {
			b.Fatal(err)
		}
		messages += res.delivered
	}
	cpuAfter, err := processCPU(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(messages), "ns/msg")
	// CPU time, unlike the elapsed, is not what other processes take.
	b.ReportMetric(float64((cpuAfter-cpuBefore).Nanoseconds())/float64(messages), "cpu-ns/msg")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(messages), "allocs/msg")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(messages), "B/msg")
}
