package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	ggwire "github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	imipclient "github.com/crosstalk-im/crosstalk/imip/client"
	imipwire "github.com/crosstalk-im/crosstalk/imip/wire"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/store"
)

// crossPhase: worker w is an MSN user who calls a GG user and an IMIP user
// into switchboards of its own and trades acknowledged messages with each
// in turn, while the GG user changes its status every churnEvery rounds
// (the MSN user follows both, so each change is a presence event).
func (c *loadtestMsnCmd) crossPhase(ctx context.Context) (phaseResult, error) {
	var sent atomic.Int64
	start := time.Now()
	err := c.workers(ctx, func(ctx context.Context, w int) error {
		msn, gg, im := 3*w%c.Users, (3*w+1)%c.Users, (3*w+2)%c.Users
		chat, err := c.openCrossChat(ctx, msn, gg, im)
		if err != nil {
			return err
		}
		defer chat.close()
		for round := 0; ctx.Err() == nil; round++ {
			if round%churnEvery == churnEvery-1 {
				status := ggwire.StatusBusy
				if round/churnEvery%2 == 1 {
					status = ggwire.StatusAvail
				}
				if err := chat.gg.SetStatus(ctx, status, ""); err != nil {
					return err
				}
			}
			n, err := chat.round(ctx)
			sent.Add(int64(n))
			if err != nil {
				return err
			}
		}
		return nil
	})
	return phaseResult{sent.Load(), time.Since(start)}, err
}

// churnEvery is how many message rounds a GG user makes between status
// changes in the cross-protocol phase.
const churnEvery = 10

type crossChat struct {
	msn       *client.Client
	toGG      *client.Switchboard
	toIM      *client.Switchboard
	gg        *ggclient.Client
	im        *imipclient.Client
	ggNumber  uint32
	msnNumber uint32
	msnEmail  string
}

func (c *loadtestMsnCmd) openCrossChat(ctx context.Context, msn, gg, im int) (*crossChat, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	ch := &crossChat{ggNumber: loadtestNumber(gg), msnNumber: loadtestNumber(msn), msnEmail: loadtestEmail(msn)}
	var err error
	if ch.gg, err = ggclient.Dial(ctx, c.GGServer, ggclient.Options{}); err != nil {
		return nil, err
	}
	if err := ch.gg.Login(ctx, ch.ggNumber, "load", ggwire.StatusAvail, ""); err != nil {
		ch.close()
		return nil, err
	}
	if ch.im, err = imipclient.Dial(ctx, c.IMIPServer, imipclient.Options{}); err != nil {
		ch.close()
		return nil, err
	}
	if _, err := ch.im.Login(ctx, strconv.FormatUint(uint64(loadtestNumber(im)), 10), "load"); err != nil {
		ch.close()
		return nil, err
	}
	if err := ch.im.SetStatus(ctx, imipwire.StatusOnline, ""); err != nil {
		ch.close()
		return nil, err
	}
	if ch.msn, err = c.login(ch.msnEmail).connect(ctx, slog.New(slog.DiscardHandler)); err != nil {
		ch.close()
		return nil, err
	}
	for _, who := range []struct {
		sb    **client.Switchboard
		email string
	}{{&ch.toGG, loadtestEmail(gg)}, {&ch.toIM, loadtestEmail(im)}} {
		sb, err := ch.msn.StartChat(ctx)
		if err != nil {
			ch.close()
			return nil, err
		}
		*who.sb = sb
		if _, err := sb.Call(ctx, who.email); err != nil {
			ch.close()
			return nil, err
		}
		if err := waitJoined(ctx, sb, who.email); err != nil {
			ch.close()
			return nil, err
		}
	}
	return ch, nil
}

// round sends four messages, MSN→GG, GG→MSN, MSN→IMIP and IMIP→MSN, each
// waited for at the other end, and reports how many were sent.
func (ch *crossChat) round(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	sent := 0
	if err := ch.toGG.SendText(ctx, "load test to GG"); err != nil {
		return sent, err
	}
	sent++
	if err := waitForEvent[ggclient.Message](ctx, ch.gg.Events()); err != nil {
		return sent, err
	}
	if _, err := ch.gg.SendMessage(ctx, ch.msnNumber, "load test from GG"); err != nil {
		return sent, err
	}
	sent++
	if err := waitForEvent[client.Message](ctx, ch.toGG.Events()); err != nil {
		return sent, err
	}
	if err := ch.toIM.SendText(ctx, "load test to IMIP"); err != nil {
		return sent, err
	}
	sent++
	if err := waitForEvent[imipclient.Message](ctx, ch.im.Events()); err != nil {
		return sent, err
	}
	if err := ch.im.SendMessageAcked(ctx, strconv.FormatUint(uint64(ch.msnNumber), 10), "load test from IMIP"); err != nil {
		return sent, err
	}
	sent++
	return sent, waitForEvent[client.Message](ctx, ch.toIM.Events())
}

func (ch *crossChat) close() {
	for _, sb := range []*client.Switchboard{ch.toGG, ch.toIM} {
		if sb != nil {
			sb.Close()
		}
	}
	if ch.msn != nil {
		_ = ch.msn.Logout()
	}
	if ch.gg != nil {
		ch.gg.Close()
	}
	if ch.im != nil {
		ch.im.Close()
	}
}

// waitForEvent takes events until one of type T comes.
func waitForEvent[T any, E any](ctx context.Context, events <-chan E) error {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return errors.New("connection closed")
			}
			if _, ok := any(ev).(T); ok {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// followEachOther puts each cross-phase worker's GG and IMIP users on its
// MSN user's forward list, so that their status changes are events.
func followEachOther(ctx context.Context, dir string, users, workers int) error {
	st, err := store.OpenSQLite(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	for w := range workers {
		msn := loadtestNumber(3 * w % users)
		for _, other := range []int{(3*w + 1) % users, (3*w + 2) % users} {
			_, err := st.AddToList(ctx, msn, loadtestNumber(other), hub.Forward, 0, 0)
			if err != nil && !errors.Is(err, hub.ErrAlreadyOnList) {
				return err
			}
		}
	}
	return nil
}

// serverCounts is the server's own account of events and messages, read
// from its metrics: what a phase added is the difference of two readings.
type serverCounts map[string]float64

// hubCounters are the metrics the load test reports.
var hubCounters = []string{"crosstalk_events_total", "crosstalk_events_refused_total", "crosstalk_message_outcomes_total"}

func readServerCounts(ctx context.Context, url string) (serverCounts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	counts := serverCounts{}
	for _, name := range hubCounters {
		for _, m := range families[name].GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			counts[name+"/"+strings.Join(labels, "/")] = m.GetCounter().GetValue()
		}
	}
	return counts, nil
}

// report prints what the server counted between two readings: events by
// kind and stage, refusals by cause, and what message senders were told,
// checked against the messages the clients sent.
func (after serverCounts) report(before serverCounts, clientsSent int64) {
	delta := func(prefix string) map[string]float64 {
		out := map[string]float64{}
		for k, v := range after {
			if rest, ok := strings.CutPrefix(k, prefix+"/"); ok && v-before[k] > 0 {
				out[rest] = v - before[k]
			}
		}
		return out
	}
	show := func(title string, m map[string]float64) float64 {
		keys := make([]string, 0, len(m))
		var sum float64
		for k, v := range m {
			keys = append(keys, fmt.Sprintf("%s %.0f", k, v))
			sum += v
		}
		sort.Strings(keys)
		if len(keys) == 0 {
			keys = []string{"none"}
		}
		fmt.Printf("  %s: %s\n", title, strings.Join(keys, ", "))
		return sum
	}
	events := delta("crosstalk_events_total")
	refused := delta("crosstalk_events_refused_total")
	show("hub events (kind/stage)", events)
	show("refused (kind/cause)", refused)
	var presenceRefused float64
	for k, v := range refused {
		if strings.HasPrefix(k, "presence/") {
			presenceRefused += v
		}
	}
	fmt.Printf("  presence events: published %.0f = delivered %.0f + refused %.0f + to no one online %.0f\n",
		events["presence/published"], events["presence/delivered"], presenceRefused, events["presence/unheard"])
	outcomes := delta("crosstalk_message_outcomes_total")
	told := outcomes["delivered"] + outcomes["stored"] + outcomes["mailbox_full"] + outcomes["blocked"]
	show("message outcomes", outcomes)
	fmt.Printf("  message events: published %.0f = delivered %.0f + refused %.0f (+ %.0f dropped unread by a full queue, kind unknown); senders told %.0f of %d sent across protocols\n",
		events["message/published"], events["message/delivered"], refused["message/session_refused"]+refused["message/no_session"],
		refused["unknown/queue_full"], told, clientsSent)
}
