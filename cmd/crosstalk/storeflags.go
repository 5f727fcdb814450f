package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/crosstalk-im/crosstalk/store"
)

// The environment variables that give keys themselves (base64), for
// deployments that hand secrets over that way; flags only name key files,
// so that no key shows in a process listing.
const (
	secretKeyEnv     = "CROSSTALK_SECRET_KEY"
	previousKeysEnv  = "CROSSTALK_PREVIOUS_SECRET_KEYS" // comma-separated
	signingKeyEnv    = "CROSSTALK_SIGNING_KEY"
	keyFlagsOrEnvMsg = "give the %s once: %s or %s, not both"
)

// storeFlags choose the store of serve and the commands that work on it:
// the data directory, the database and the keys.
type storeFlags struct {
	Data                  string   `help:"Data directory (the SQLite database, the keys unless given otherwise, serve's bus state and drive files)." default:"data" type:"path"`
	Database              string   `help:"PostgreSQL database URL (postgres://user@host:5432/crosstalk) that several nodes share; empty: SQLite in --data. Put a password in PGPASSWORD or ~/.pgpass rather than here."`
	SecretKeyFile         string   `help:"File of the password key (32 bytes, or their base64) that seals passwords; or give the key as ${secret_key_env} (base64). Default: secret.key in --data, made on first start." type:"path"`
	PreviousSecretKeyFile []string `help:"Files of older password keys that still open what they sealed (repeatable, or comma-separated); or ${previous_keys_env} (base64, comma-separated). Default: secret.previous-*.key in --data." type:"path"`
	SigningKeyFile        string   `help:"File of the key that the drive's and GG's token-signing keys derive from; or ${signing_key_env} (base64). Default: signing.key in --data, else the password key (then a new password key signs everyone out)." type:"path"`
}

// keyVars are the variables the flags' help names.
func keyVars() map[string]string {
	return map[string]string{"secret_key_env": secretKeyEnv, "previous_keys_env": previousKeysEnv, "signing_key_env": signingKeyEnv}
}

// keys reads the keys the flags and the environment give.
func (f storeFlags) keys() (store.KeyConfig, error) {
	var (
		kc  store.KeyConfig
		err error
	)
	if kc.Current, err = oneKey("password key", "--secret-key-file", f.SecretKeyFile, secretKeyEnv); err != nil {
		return kc, err
	}
	if kc.Signing, err = oneKey("signing key", "--signing-key-file", f.SigningKeyFile, signingKeyEnv); err != nil {
		return kc, err
	}
	env := os.Getenv(previousKeysEnv)
	if len(f.PreviousSecretKeyFile) > 0 && env != "" {
		return kc, fmt.Errorf(keyFlagsOrEnvMsg, "previous keys", "--previous-secret-key-file", previousKeysEnv)
	}
	for _, path := range f.PreviousSecretKeyFile {
		k, err := store.ReadKeyFile(path)
		if err != nil {
			return kc, err
		}
		kc.Previous = append(kc.Previous, k)
	}
	if env != "" {
		for i, text := range strings.Split(env, ",") {
			k, err := store.ParseKey([]byte(text))
			if err != nil {
				return kc, fmt.Errorf("%s, key %d: %w", previousKeysEnv, i+1, err)
			}
			kc.Previous = append(kc.Previous, k)
		}
	}
	return kc, nil
}

// oneKey reads a key from the file path or the environment variable env,
// whichever is set; neither is nil.
func oneKey(what, flag, path, env string) ([]byte, error) {
	text := os.Getenv(env)
	switch {
	case path != "" && text != "":
		return nil, fmt.Errorf(keyFlagsOrEnvMsg, what, flag, env)
	case path != "":
		return store.ReadKeyFile(path)
	case text != "":
		k, err := store.ParseKey([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", env, err)
		}
		return k, nil
	}
	return nil, nil
}

// config is the store the flags name.
func (f storeFlags) config() (store.Config, error) {
	kc, err := f.keys()
	return store.Config{DataDir: f.Data, Database: f.Database, Keys: kc}, err
}

// open opens the store, creating it if need be.
func (f storeFlags) open(ctx context.Context) (store.Store, error) {
	cfg, err := f.config()
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, cfg)
}

// withExisting runs fn on the existing store until it returns or the
// command is interrupted.
func (f storeFlags) withExisting(fn func(ctx context.Context, st store.Store) error) error {
	ctx, stop := untilInterrupted()
	defer stop()
	st, err := f.openExisting(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(ctx, st)
}

// openExisting opens the store for commands that only read or change
// accounts: a mistyped --data or --database must not leave an empty store
// behind.
func (f storeFlags) openExisting(ctx context.Context) (store.Store, error) {
	cfg, err := f.config()
	if err != nil {
		return nil, err
	}
	cfg.Existing = true
	st, err := store.Open(ctx, cfg)
	if errors.Is(err, store.ErrNoDatabase) {
		if f.Database != "" {
			return nil, fmt.Errorf("%w; --database names the servers' database (user add and serve create the store in it)", err)
		}
		return nil, fmt.Errorf("%w; --data names the server's data directory (user add and serve create one)", err)
	}
	return st, err
}
