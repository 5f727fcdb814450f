// Command crosstalk is the whole service in one binary: the server, account
// management, and command-line clients for bots and scripts.
//
// Every flag also reads from an environment variable (CROSSTALK_ and the
// flag's name in upper case, e.g. CROSSTALK_DATA) and from a JSON file named
// with --config whose keys are the flag names.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/crosstalk-im/crosstalk/msnp/passport"
)

type cli struct {
	Config    kong.ConfigFlag `help:"JSON file of flag values (keys are flag names)." type:"existingfile"`
	LogLevel  string          `help:"Log level: trace, debug, info, warn, error." default:"info" enum:"trace,debug,info,warn,error"`
	LogFormat string          `help:"Log format: text or json." default:"text" enum:"text,json"`

	Serve    serveCmd    `cmd:"" help:"Run the server."`
	User     userCmd     `cmd:"" help:"Manage accounts (works while the server runs)."`
	Invite   inviteCmd   `cmd:"" help:"Make invite codes for the web sign-up (works while the server runs)."`
	Admin    adminCmd    `cmd:"" help:"Manage a running server through its admin API (accounts, sessions, transfers), from anywhere."`
	Backup   backupCmd   `cmd:"" help:"Copy a data directory's database, keys and drive files into one archive (works while the server runs)."`
	Restore  restoreCmd  `cmd:"" help:"Unpack an archive made by backup into a new data directory."`
	Keys     keysCmd     `cmd:"" help:"Make keys and rotate the password key."`
	TLS      tlsCmd      `cmd:"" name:"tls" help:"Make certificates for the HTTPS services (MSN's Passport and SOAP host names)."`
	Msn      msnCmd      `cmd:"" help:"Talk to an MSN server as a client (for bots and scripts)."`
	Gg       ggCmd       `cmd:"" help:"Talk to a Gadu-Gadu server as a client (for bots and scripts)."`
	Msim     msimCmd     `cmd:"" help:"Talk to a MySpaceIM server as a client (for bots and scripts)."`
	Imip     imipCmd     `cmd:"" help:"Talk to an IMIP server as a client (for bots and scripts)."`
	Sip      sipCmd      `cmd:"" help:"Talk to an Office Communications Server (SIP) as a client (for bots and scripts)."`
	Web      webCmd      `cmd:"" help:"Talk to the chat in the browser's service as a client (for bots and scripts)."`
	Loadtest loadtestCmd `cmd:"" help:"Measure a server under load (starts its own unless told otherwise)."`
	Attack   attackCmd   `cmd:"" help:"Measure what an attacker gets from a server of your own (loopback only by default)."`
	Version  versionCmd  `cmd:"" help:"Print the version."`
}

type versionCmd struct{}

func (versionCmd) Run() error {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return errors.New("this binary carries no build information")
	}
	fmt.Print(describeBuild(bi))
	return nil
}

// describeBuild says what a binary was built from, as the go command
// recorded it: the module version ("(devel)" for a build in a checkout),
// the commit, whether the tree had uncommitted changes, and the Go version.
func describeBuild(bi *debug.BuildInfo) string {
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	version := bi.Main.Version
	if version == "" {
		version = "unknown"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "crosstalk %s\n", version)
	if rev := settings["vcs.revision"]; rev != "" {
		if settings["vcs.modified"] == "true" {
			rev += " (with uncommitted changes)"
		}
		fmt.Fprintf(&b, "commit    %s\n", rev)
		if at := settings["vcs.time"]; at != "" {
			fmt.Fprintf(&b, "committed %s\n", at)
		}
	} else {
		fmt.Fprintf(&b, "commit    unknown (built without version control information)\n")
	}
	platform := settings["GOOS"] + "/" + settings["GOARCH"]
	if platform == "/" {
		platform = runtime.GOOS + "/" + runtime.GOARCH
	}
	fmt.Fprintf(&b, "go        %s %s\n", bi.GoVersion, platform)
	return b.String()
}

func main() {
	var c cli
	parser, err := newParser(&c)
	if err != nil {
		panic(err)
	}
	ctx, err := parser.Parse(os.Args[1:])
	if err != nil {
		usageError(os.Stderr, err)
		os.Exit(exitUsage)
	}
	logger := newLogger(c.LogLevel, c.LogFormat)
	slog.SetDefault(logger)
	if err := ctx.Run(logger); err != nil {
		fmt.Fprintln(os.Stderr, "crosstalk:", err)
		os.Exit(1)
	}
}

// exitUsage is the exit status for a command line that does not parse.
const exitUsage = 2

// newParser builds the command line parser, with extra options for tests.
func newParser(c *cli, extra ...kong.Option) (*kong.Kong, error) {
	opts := []kong.Option{
		kong.Name("crosstalk"),
		kong.Description("Crosstalk: one server for MSN Messenger and the other legacy messengers."),
		kong.DefaultEnvars("CROSSTALK"),
		kong.Configuration(jsonConfig),
		kong.NamedMapper("size", sizeMapper{}),
		kong.TypeMapper(reflect.TypeFor[time.Duration](), durationMapper{}),
		kong.ExplicitGroups(serveGroups),
		kong.Vars{"min_password_length": strconv.Itoa(minPasswordLength), "passport_nexus": passport.DefaultNexus},
		kong.Vars(keyVars()),
	}
	return kong.New(c, append(opts, extra...)...)
}

// usageError says what is wrong with the command line first, then where
// the full usage is, rather than printing all of it before the error.
func usageError(w io.Writer, err error) {
	fmt.Fprintln(w, "crosstalk: error:", err)
	help := "crosstalk --help"
	var pe *kong.ParseError
	if errors.As(err, &pe) && pe.Context != nil {
		if cmd := pe.Context.Selected(); cmd != nil {
			help = "crosstalk " + cmd.Path() + " --help"
		}
	}
	fmt.Fprintf(w, "Run %q for usage.\n", help)
}

// jsonConfig reads a JSON object whose keys are flag names as they are
// written on the command line ("msnp-addr"); snake case works too. The
// environment overrides the file, as the command line overrides both. A
// key that is no flag of any command is refused, so that a typo is not
// silently ignored.
func jsonConfig(r io.Reader) (kong.Resolver, error) {
	values := map[string]any{}
	if err := json.NewDecoder(r).Decode(&values); err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return configResolver(values), nil
}

type configResolver map[string]any

func (values configResolver) Resolve(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
	for _, env := range flag.Envs {
		if _, set := os.LookupEnv(env); set {
			return nil, nil
		}
	}
	if v, ok := values[flag.Name]; ok {
		return v, nil
	}
	return values[strings.ReplaceAll(flag.Name, "-", "_")], nil
}

// Validate refuses keys that name no flag, suggesting the closest one.
func (values configResolver) Validate(app *kong.Application) error {
	var names []string
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			names = append(names, f.Name)
		}
		for _, child := range n.Children {
			walk(child)
		}
	}
	walk(app.Node)
	for key := range values {
		name := strings.ReplaceAll(key, "_", "-")
		if slices.Contains(names, name) {
			continue
		}
		if near := closest(name, names); near != "" {
			return fmt.Errorf("config file: unknown key %q (did you mean %q?)", key, near)
		}
		return fmt.Errorf("config file: unknown key %q: keys are the flag names, such as \"data\" or \"msnp-addr\"", key)
	}
	return nil
}

// closest is the name nearest to s in edit distance, if it is near enough
// to be a typo of it; "" otherwise.
func closest(s string, names []string) string {
	best, bestDist := "", len(s)/3+1
	for _, n := range names {
		if d := editDistance(s, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
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
