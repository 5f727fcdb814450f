package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"

	"github.com/crosstalk-im/crosstalk/store"
)

type keysCmd struct {
	New    keysNewCmd    `cmd:"" help:"Write a new random key (base64) to a file of mode 0600."`
	Rotate keysRotateCmd `cmd:"" help:"Seal every password with the current key (works while the servers run, once every one has the new key as current or previous)."`
}

type keysNewCmd struct {
	File string `arg:"" help:"File to write; it must not exist yet." type:"path"`
}

func (c *keysNewCmd) Run() error {
	key := store.NewKey()
	f, err := os.OpenFile(c.File, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, base64.StdEncoding.EncodeToString(key))
	if err := errors.Join(err, f.Sync(), f.Close()); err != nil {
		os.Remove(c.File)
		return err
	}
	id, _ := store.KeyID(key)
	fmt.Printf("wrote key %s to %s\n", id, c.File)
	return nil
}

type keysRotateCmd struct {
	storeFlags
	Batch int `help:"Passwords re-encrypted per transaction." default:"500"`
}

func (c *keysRotateCmd) Run() error {
	return c.withExisting(func(ctx context.Context, st store.Store) error {
		r, err := st.RotatePasswords(ctx, c.Batch)
		if err != nil {
			return fmt.Errorf("%w (%d passwords were sealed with key %s before it stopped; run it again once it has the missing key)", err, r.Resealed, st.CurrentKeyID())
		}
		fmt.Printf("sealed %d passwords with key %s; %d were sealed with it already\n", r.Resealed, st.CurrentKeyID(), r.Current)
		return nil
	})
}
