package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	ggwire "github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/store"
)

// loadtestCrossCmd measures messages between users of two protocols, pair
// by pair, with MSN→MSN first as the yardstick.
type loadtestCrossCmd struct {
	MsnServer  string `name:"msn-server" help:"MSN server (host:port); with none of the five servers named, a server of our own starts on loopback."`
	GgServer   string `name:"gg-server" help:"GG server (host:port)."`
	ImipServer string `name:"imip-server" help:"IMIP server (host:port)."`
	MsimServer string `name:"msim-server" help:"MySpaceIM server (host:port): a port of its own (serve --msim-addr), else each login waits for the shared port's sniffing."`
	SipServer  string `name:"sip-server" help:"SIP server (host:port, SIP over TCP)."`
	loadtestOptions
	Pairs []string `help:"Sender-recipient protocol pairs to measure, after MSN→MSN (msn, gg, imip, msim, sip)." default:"msn-gg,gg-msn,msn-imip,imip-msn,msn-msim,msim-msn,msn-sip,sip-msn,gg-imip,imip-gg,gg-msim,msim-gg,gg-sip,sip-gg,imip-msim,msim-imip,imip-sip,sip-imip,msim-sip,sip-msim"`
}

// crossPair is a sender's protocol and a recipient's.
type crossPair struct{ from, to loadProtocol }

func (p crossPair) String() string { return p.from.name + "→" + p.to.name }

// pairs are the pairs to measure, MSN→MSN first.
func (c *loadtestCrossCmd) pairs() ([]crossPair, error) {
	msn := loadProtocolNamed("msn")
	pairs := []crossPair{{msn, msn}}
	for _, s := range c.Pairs {
		from, to, _ := strings.Cut(s, "-")
		i := slices.IndexFunc(loadProtocols, func(p loadProtocol) bool { return p.key == from })
		j := slices.IndexFunc(loadProtocols, func(p loadProtocol) bool { return p.key == to })
		if i < 0 || j < 0 {
			return nil, fmt.Errorf("--pairs: %q is not two of msn, gg, imip, msim, sip joined by '-'", s)
		}
		p := crossPair{loadProtocols[i], loadProtocols[j]}
		if !slices.ContainsFunc(pairs, func(q crossPair) bool { return q.String() == p.String() }) {
			pairs = append(pairs, p)
		}
	}
	return pairs, nil
}

func (c *loadtestCrossCmd) Validate() error {
	if err := c.loadtestOptions.Validate(); err != nil {
		return err
	}
	_, err := c.pairs()
	return err
}

func (c *loadtestCrossCmd) Run() error {
	collectLessOften()
	ctx, stop := interruptible()
	defer stop()
	return c.run(ctx, os.Stdout)
}

func (c *loadtestCrossCmd) run(ctx context.Context, out io.Writer) error {
	pairs, err := c.pairs()
	if err != nil {
		return err
	}
	var addrs map[string]string
	if given := map[string]string{"msn": c.MsnServer, "gg": c.GgServer, "imip": c.ImipServer, "msim": c.MsimServer, "sip": c.SipServer}; c.MsnServer+c.GgServer+c.ImipServer+c.MsimServer+c.SipServer != "" {
		for _, p := range pairs {
			for _, proto := range []loadProtocol{p.from, p.to} {
				if given[proto.key] == "" {
					return fmt.Errorf("%s needs --%s-server", p, proto.key)
				}
			}
		}
		addrs = given
	}
	// Pairs take turns between two sets of accounts. A pair that logs the
	// last pair's accounts straight back in through another protocol can
	// find a server far behind still ending their sessions: an MSN call
	// then rings a closing MSN session of the callee instead of joining
	// its GG one, and goes unanswered.
	lt, err := c.start(ctx, out, addrs, 4*c.conversations())
	if err != nil {
		return err
	}
	defer lt.srv.stop()
	fmt.Fprintf(out, "cross-protocol pairs, %d accounts, %d conversations per pair, %s per pair\n", lt.accounts, c.conversations(), c.Duration)
	var base messageResult
	for i, p := range pairs {
		lt.firstConversationAccount = i % 2 * 2 * c.conversations()
		res, err := lt.messagePhase(ctx, p.String(), p.from, p.to)
		if err != nil {
			return err
		}
		if i == 0 {
			base = res
			continue
		}
		switch {
		case base.cpuPerMessage > 0 && res.cpuPerMessage >= 0:
			fmt.Fprintf(out, "  cost per message: %.2f× MSN→MSN (server CPU)\n", float64(res.cpuPerMessage)/float64(base.cpuPerMessage))
		case c.Rate == 0 && res.rate() > 0:
			fmt.Fprintf(out, "  cost per message: %.2f× MSN→MSN (time per message at saturation; no server CPU reading)\n", base.rate()/res.rate())
		}
	}
	return nil
}

// msnCrossPhase: worker w is an MSN user who calls a GG user and an IMIP
// user into switchboards of its own and trades acknowledged messages with
// each in turn, while the GG user changes its status every churnEvery
// rounds (the MSN user follows both, so each change is a presence event).
func (lt *loadtest) msnCrossPhase(ctx context.Context) error {
	if lt.srv.addrs["gg"] == "" || lt.srv.addrs["imip"] == "" {
		fmt.Fprintln(lt.out, "cross-protocol: not run (needs --gg-server and --imip-server)")
		return nil
	}
	if err := followEachOther(ctx, lt.srv.data, lt.Workers); err != nil {
		return err
	}
	chats := make([]crossChat, lt.Workers)
	sessions := make([]loadSession, 3*lt.Workers)
	defer closeSessions(sessions, lt.Workers)
	err := forEach(ctx, lt.Workers, lt.Workers, func(ctx context.Context, w int) error {
		var err error
		chats[w], err = lt.openCrossChat(ctx, 3*w, sessions[3*w:3*w+3])
		return err
	})
	if err != nil {
		return fmt.Errorf("cross-protocol phase: %w", err)
	}
	before := lt.srv.read(ctx, lt.out)
	var sent atomic.Int64
	// The phase's end, and stepTimeout after it, bounds every round trip.
	rounds, cancel := context.WithTimeout(ctx, lt.Duration+stepTimeout)
	defer cancel()
	elapsed, err := repeat(rounds, lt.Workers, lt.Duration, func(ctx context.Context, w, round int) error {
		if round%churnEvery == churnEvery-1 {
			status := ggwire.StatusBusy
			if round/churnEvery%2 == 1 {
				status = ggwire.StatusAvail
			}
			if err := chats[w].gg.c.SetStatus(ctx, status, ""); err != nil {
				return err
			}
		}
		for _, leg := range chats[w].legs {
			if _, err := roundTrip(ctx, leg[0], leg[1]); err != nil {
				return err
			}
			sent.Add(1)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cross-protocol phase: %w", err)
	}
	n := sent.Load()
	fmt.Fprintf(lt.out, "cross-protocol (MSN↔GG, MSN↔IMIP, GG status churn): %d messages in %s = %.0f msgs/s\n",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	time.Sleep(countSettle)
	after := lt.srv.read(ctx, lt.out)
	reportCPU(lt.out, before, after, n, "message")
	reportCounts(lt.out, before, after, n)
	return nil
}

// churnEvery is how many message rounds a GG user makes between status
// changes in the cross-protocol phase.
const churnEvery = 10

// crossChat is an MSN user in conversation with a GG and an IMIP user:
// its legs are MSN→GG, GG→MSN, MSN→IMIP and IMIP→MSN.
type crossChat struct {
	legs [][2]loadEnd
	gg   ggSession
}

// openCrossChat logs in account msn through MSN, msn+1 through GG and
// msn+2 through IMIP, keeping their sessions in sessions, and has the MSN
// user call the other two.
func (lt *loadtest) openCrossChat(ctx context.Context, msn int, sessions []loadSession) (crossChat, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	var chat crossChat
	for i, key := range []string{"msn", "gg", "imip"} {
		s, err := loadProtocolNamed(key).open(ctx, lt.srv.addrs[key], lt.dialing(), msn+i, true)
		if err != nil {
			return chat, err
		}
		sessions[i] = s
	}
	for i := 1; i <= 2; i++ {
		toPeer, fromPeer, err := openConversation(ctx, sessions[0], msn, sessions[i], msn+i)
		if err != nil {
			return chat, err
		}
		chat.legs = append(chat.legs, [2]loadEnd{toPeer, fromPeer}, [2]loadEnd{fromPeer, toPeer})
	}
	chat.gg = sessions[1].(ggSession)
	return chat, nil
}

// followEachOther puts each cross-phase worker's GG and IMIP users on its
// MSN user's forward list, so that their status changes are events.
func followEachOther(ctx context.Context, dir string, workers int) error {
	st, err := store.OpenSQLite(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	for w := range workers {
		for _, other := range []int{3*w + 1, 3*w + 2} {
			_, err := st.AddToList(ctx, loadtestNumber(3*w), loadtestNumber(other), hub.Forward, 0, 0)
			if err != nil && !errors.Is(err, hub.ErrAlreadyOnList) {
				return err
			}
		}
	}
	return nil
}
