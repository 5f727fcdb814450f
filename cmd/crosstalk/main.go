// Command crosstalk is the whole service in one binary: the server, account
// management, and command-line clients for bots and scripts.
//
// Every flag also reads from an environment variable (CROSSTALK_ and the
// flag's name in upper case, e.g. CROSSTALK_DATA) and from a JSON file named
// with --config whose keys are the flag names.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/alecthomas/kong"
)

type cli struct {
	Config    kong.ConfigFlag `help:"JSON file of flag values (keys are flag names)." type:"existingfile"`
	LogLevel  string          `help:"Log level: trace, debug, info, warn, error." default:"info" enum:"trace,debug,info,warn,error"`
	LogFormat string          `help:"Log format: text or json." default:"text" enum:"text,json"`

	Serve    serveCmd    `cmd:"" help:"Run the server."`
	User     userCmd     `cmd:"" help:"Manage accounts (works while the server runs)."`
	Msn      msnCmd      `cmd:"" help:"Talk to an MSN server as a client (for bots and scripts)."`
	Gg       ggCmd       `cmd:"" help:"Talk to a Gadu-Gadu server as a client (for bots and scripts)."`
	Msim     msimCmd     `cmd:"" help:"Talk to a MySpaceIM server as a client (for bots and scripts)."`
	Imip     imipCmd     `cmd:"" help:"Talk to an IMIP server as a client (for bots and scripts)."`
	Loadtest loadtestCmd `cmd:"" help:"Measure a server under load (starts its own unless told otherwise)."`
	Version  versionCmd  `cmd:"" help:"Print the version."`
}

var version = "dev"

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("crosstalk", version)
	return nil
}

func main() {
	var c cli
	ctx := kong.Parse(&c,
		kong.Name("crosstalk"),
		kong.Description("Crosstalk: one server for MSN Messenger and the other legacy messengers."),
		kong.UsageOnError(),
		kong.DefaultEnvars("CROSSTALK"),
		kong.Configuration(jsonConfig),
	)
	logger := newLogger(c.LogLevel, c.LogFormat)
	slog.SetDefault(logger)
	if err := ctx.Run(logger); err != nil {
		fmt.Fprintln(os.Stderr, "crosstalk:", err)
		os.Exit(1)
	}
}

// jsonConfig reads a JSON object whose keys are flag names as they are
// written on the command line ("msnp-addr"); snake case works too. The
// environment overrides the file, as the command line overrides both.
func jsonConfig(r io.Reader) (kong.Resolver, error) {
	values := map[string]any{}
	if err := json.NewDecoder(r).Decode(&values); err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return kong.ResolverFunc(func(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
		for _, env := range flag.Envs {
			if _, set := os.LookupEnv(env); set {
				return nil, nil
			}
		}
		if v, ok := values[flag.Name]; ok {
			return v, nil
		}
		return values[strings.ReplaceAll(flag.Name, "-", "_")], nil
	}), nil
}

// levelTrace is the wire dump level, below debug.
const levelTrace = slog.Level(-8)

func newLogger(level, format string) *slog.Logger {
	lv := map[string]slog.Level{
		"trace": levelTrace, "debug": slog.LevelDebug, "info": slog.LevelInfo,
		"warn": slog.LevelWarn, "error": slog.LevelError,
	}[level]
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
