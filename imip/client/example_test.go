package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/crosstalk-im/crosstalk/imip/client"
	"github.com/crosstalk-im/crosstalk/imip/wire"
)

// A bot that logs in, goes online, accepts every subscription request and
// echoes every message.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "localhost:11319", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	buddies, err := c.Login(ctx, "1234567", "Passwort")
	if err != nil {
		log.Fatal(err) // errors.Is(err, client.ErrBadPassword) etc.
	}
	fmt.Println("buddies:", buddies)
	if err := c.SetStatus(ctx, wire.StatusOnline, ""); err != nil {
		log.Fatal(err)
	}
	for ev := range c.Events() {
		switch ev := ev.(type) {
		case client.Message:
			c.SendMessage(context.Background(), ev.From, "echo: "+ev.Text)
		case client.ListRequest:
			c.ListAccept(context.Background(), ev.From, ev.Nick)
		case client.Status:
			fmt.Println(ev.Number, "is", ev.Status)
		case client.Disconnected:
			fmt.Println("gone:", ev.Reason, ev.Err)
		}
	}
}
