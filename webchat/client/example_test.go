package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/crosstalk-im/crosstalk/webchat/client"
	"github.com/crosstalk-im/crosstalk/webchat/wire"
)

// A bot that logs in, greets a contact and answers every message.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, "ws://localhost:8080/chat/ws", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, "bot@example.com", "secret"); err != nil {
		log.Fatal(err)
	}
	result, err := c.Send(ctx, wire.Contact{Email: "gary@example.com"}, "hello")
	fmt.Println(result, err) // "delivered" or "stored"
	for ev := range c.Events() {
		switch m := ev.(type) {
		case *wire.Message:
			_, _ = c.Send(ctx, wire.Contact{Number: m.From.Number}, "you said: "+m.Text)
		case client.Disconnected:
			log.Print(m.Err)
		}
	}
}
