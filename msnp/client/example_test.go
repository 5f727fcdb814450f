package client_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/client"
)

// Log in, go online and send one message to a contact.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.Dial(ctx, "localhost:1863", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(ctx, "alice@example.com", "secret"); err != nil {
		var se *client.ServerError
		if errors.As(err, &se) && se.Code == 911 {
			log.Fatal("wrong password")
		}
		log.Fatal(err)
	}
	log.Printf("logged in with MSNP%d as %s", c.Dialect(), c.Friendly())

	lists, err := c.Sync(ctx, 0)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%d contacts", len(lists.Forward))
	if err := c.SetStatus(ctx, client.StatusOnline); err != nil {
		log.Fatal(err)
	}

	sb, err := c.StartChat(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Leave()
	if _, err := sb.Call(ctx, "bob@example.com"); err != nil {
		log.Fatal(err) // e.g. *ServerError 217: Bob is offline
	}
	for ev := range sb.Events() {
		if j, ok := ev.(client.Joined); ok {
			log.Printf("%s joined", j.Friendly)
			break
		}
	}
	if err := sb.SendText(ctx, "Hello Bob!"); err != nil {
		log.Fatal(err)
	}
	c.Logout()
}

// A bot that answers every chat invitation and echoes text messages.
func ExampleClient_Answer() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "localhost:1863", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(ctx, "echo@example.com", "secret"); err != nil {
		log.Fatal(err)
	}
	if err := c.SetStatus(ctx, client.StatusOnline); err != nil {
		log.Fatal(err)
	}
	for ev := range c.Events() {
		switch ev := ev.(type) {
		case client.Ring:
			sb, err := c.Answer(ctx, ev)
			if err != nil {
				log.Print(err)
				continue
			}
			go func() {
				defer sb.Close()
				for ev := range sb.Events() {
					switch ev := ev.(type) {
					case client.Message:
						if ev.ContentType == "text/plain" {
							sb.SendText(ctx, "you said: "+ev.Text)
						}
					case client.Left:
						if len(sb.Roster()) == 0 {
							sb.Leave() // the channel closes after Closed
						}
					}
				}
			}()
		case client.Disconnected:
			log.Printf("disconnected: %s %v", ev.Reason, ev.Err)
		}
	}
}
