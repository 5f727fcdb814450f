package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/internal/pgtest"
	"github.com/crosstalk-im/crosstalk/msnp/storage"
	sipserver "github.com/crosstalk-im/crosstalk/sip/server"
	sipwire "github.com/crosstalk-im/crosstalk/sip/wire"
	"github.com/crosstalk-im/crosstalk/store"
	webchatserver "github.com/crosstalk-im/crosstalk/webchat/server"
	webchatwire "github.com/crosstalk-im/crosstalk/webchat/wire"
)

// runMainEnv makes the test binary run main instead of the tests, so
// that tests run the command as a user does (see crosstalk).
const runMainEnv = "RUN_CROSSTALK_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	if runIdleClients() {
		os.Exit(0)
	}
	os.Exit(pgtest.Main(m).Run())
}

// crosstalk runs the command with args in a process of its own and
// returns what it wrote and its exit status.
func crosstalk(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = mainEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// mainEnv is the environment for running main: this one, without
// settings of the command's own.
func mainEnv() []string {
	env := []string{runMainEnv + "=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CROSSTALK_") {
			env = append(env, kv)
		}
	}
	return env
}

// parse parses args as main does, with the help's exit turned off.
func parse(t *testing.T, args ...string) (*cli, *kong.Context, error) {
	t.Helper()
	var c cli
	parser, err := newParser(&c, kong.Exit(func(int) {}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := parser.Parse(args)
	return &c, ctx, err
}

func writeConfig(t *testing.T, json string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "crosstalk.json")
	if err := os.WriteFile(file, []byte(json), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// Flags come from the command line, the environment and a JSON file, in
// that order of precedence.
func TestConfigSources(t *testing.T) {
	file := writeConfig(t, `{"msnp-addr": "127.0.0.1:1", "gg_addr": "127.0.0.1:2", "http-addr": "127.0.0.1:3"}`)
	t.Setenv("CROSSTALK_HTTP_ADDR", "127.0.0.1:4")
	c, _, err := parse(t, "--config", file, "serve", "--sb-addr", "127.0.0.1:5")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Serve
	for name, got := range map[string]string{"msnp": s.MsnpAddr, "gg": s.GgAddr, "http": s.HttpAddr, "sb": s.SbAddr} {
		want := map[string]string{"msnp": "127.0.0.1:1", "gg": "127.0.0.1:2", "http": "127.0.0.1:4", "sb": "127.0.0.1:5"}[name]
		if got != want {
			t.Errorf("%s address = %q, want %q", name, got, want)
		}
	}
	if s.MsnpMaxMessage != 1664 {
		t.Errorf("default not applied: %d", s.MsnpMaxMessage)
	}
	if s.HttpsAddr != "off" || !s.HttpsLegacy || s.MsnpTicketLifetime != 24*time.Hour || s.MsnpRenewalLifetime != 7*24*time.Hour ||
		s.MsnpMaxPersonal != 1024 || s.MsnpMaxPicture != storage.DefaultMaxPicture {
		t.Errorf("MSNP8+ defaults: https %q legacy %v ticket %v renewal %v personal %d picture %d", s.HttpsAddr, s.HttpsLegacy,
			s.MsnpTicketLifetime, s.MsnpRenewalLifetime, s.MsnpMaxPersonal, s.MsnpMaxPicture)
	}
	if s.MaxListRemovals != store.DefaultMaxRemovals {
		t.Errorf("--max-list-removals defaults to %d", s.MaxListRemovals)
	}
	if c, _, err := parse(t, "serve", "--max-list-removals", "50"); err != nil || c.Serve.MaxListRemovals != 50 {
		t.Errorf("--max-list-removals 50: %v %d", err, c.Serve.MaxListRemovals)
	}
	if c, _, err := parse(t, "serve", "--msnp-max-picture", "64KiB"); err != nil || c.Serve.MsnpMaxPicture != 64<<10 {
		t.Errorf("--msnp-max-picture 64KiB: %v %d", err, c.Serve.MsnpMaxPicture)
	}
	c, _, err = parse(t, "serve", "--no-https-legacy", "--msnp-max-personal", "2KiB")
	if err != nil || c.Serve.HttpsLegacy || c.Serve.MsnpMaxPersonal != 2048 {
		t.Errorf("--no-https-legacy --msnp-max-personal 2KiB: %v %v %d", err, c.Serve.HttpsLegacy, c.Serve.MsnpMaxPersonal)
	}
}

// A key of the config file that is no flag is refused by name, with the
// flag it probably meant; keys of other commands' flags are fine.
func TestConfigUnknownKey(t *testing.T) {
	_, _, err := parse(t, "--config", writeConfig(t, `{"msnp-adr": "127.0.0.1:1"}`), "serve")
	if err == nil || !strings.Contains(err.Error(), `"msnp-adr"`) || !strings.Contains(err.Error(), `did you mean "msnp-addr"`) {
		t.Fatalf("typo: %v", err)
	}
	_, _, err = parse(t, "--config", writeConfig(t, `{"colour": "blue"}`), "serve")
	if err == nil || !strings.Contains(err.Error(), `"colour"`) || strings.Contains(err.Error(), "did you mean") {
		t.Fatalf("unknown key: %v", err)
	}
	c, _, err := parse(t, "--config", writeConfig(t, `{"data": "/srv/ct", "login": "bot@example.com", "gg_addr": "off"}`), "serve")
	if err != nil || c.Serve.Data != "/srv/ct" || c.Serve.GgAddr != "off" {
		t.Fatalf("known keys: %v %+v", err, c.Serve)
	}
}

// Sizes take units, durations days, on the command line and in the config
// file; the defaults are written the same way.
func TestSizesAndDurations(t *testing.T) {
	c, _, err := parse(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Serve
	if s.MsnpMaxLine != 1024 || s.GgMaxPacket != 64<<10 || s.DriveMaxFile != 100<<20 || s.DriveQuota != 1<<30 || s.DriveLifetime != 7*24*time.Hour {
		t.Fatalf("defaults: %d %d %d %d %v", s.MsnpMaxLine, s.GgMaxPacket, s.DriveMaxFile, s.DriveQuota, s.DriveLifetime)
	}
	file := writeConfig(t, `{"msim-max-message": "1 MiB", "drive-max-file": 2048, "msim-idle-timeout": "1d"}`)
	c, _, err = parse(t, "--config", file, "serve", "--gg-max-packet", "32kib", "--drive-quota=-1", "--drive-lifetime", "2d", "--msnp-idle-timeout", "90m")
	if err != nil {
		t.Fatal(err)
	}
	s = c.Serve
	if s.MsimMaxMessage != 1<<20 || s.DriveMaxFile != 2048 || s.GgMaxPacket != 32<<10 || s.DriveQuota != -1 ||
		s.DriveLifetime != 48*time.Hour || s.MsimIdleTimeout != 24*time.Hour || s.MsnpIdleTimeout != 90*time.Minute {
		t.Fatalf("parsed %+v", s)
	}
	for _, bad := range []string{
		"--gg-max-packet=64KB", "--gg-max-packet=1.5MiB", "--gg-max-packet=KiB", "--msnp-max-line=99999999999GiB",
		"--drive-quota=9000000TiB", "--drive-lifetime=7days", "--gg-idle-timeout=-1d",
	} {
		if _, _, err := parse(t, "serve", bad); err == nil || !strings.Contains(err.Error(), "expected a") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, _, err := parse(t, "--config", writeConfig(t, `{"drive-lifetime": 3600}`), "serve"); err == nil {
		t.Error("a duration without a unit accepted from the config file")
	}
}

// serve --help groups its flags and shows sizes and durations in units.
func TestServeHelp(t *testing.T) {
	var out bytes.Buffer
	var c cli
	parser, err := newParser(&c, kong.Writers(&out, &out), kong.Exit(func(int) {}))
	if err != nil {
		t.Fatal(err)
	}
	parser.Parse([]string{"serve", "--help"})
	help := out.String()
	last := -1
	for _, want := range []string{
		"--data=", "--shutdown-timeout=10s",
		"\nAddresses\n", "--msnp-addr=", "--http-addr=",
		"\nMSN\n", "--msnp-max-line=1KiB", "--msnp-idle-timeout=30m",
		"\nGadu-Gadu\n", "--gg-max-packet=64KiB",
		"\nMySpaceIM\n", "--msim-max-message=64KiB",
		"\nIMIP\n", "\nSIP (Office Communicator, pidgin-sipe)\n", "--sip-keep-alive=5m",
		"\nFiles (the GG drive)\n", "--drive-max-file=100MiB", "--drive-quota=1GiB", "--drive-lifetime=7d",
	} {
		i := strings.Index(help, want)
		if i < last {
			t.Fatalf("%q missing or out of place in:\n%s", want, help)
		}
		last = i
	}
}

// A usage error says what is wrong on its first line, then only where to
// find the usage.
func TestUsageErrorFirst(t *testing.T) {
	_, stderr, code := crosstalk(t, "serve", "--msnp-adr", "127.0.0.1:1")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != exitUsage || len(lines) != 2 || lines[0] != "crosstalk: error: unknown flag --msnp-adr, did you mean \"--msnp-addr\"?" ||
		!strings.Contains(lines[1], `"crosstalk serve --help"`) {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

// The README says how to get the command, with the module's real path,
// and its account commands run as written.
func TestReadme(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	module, _, _ := strings.Cut(strings.TrimPrefix(string(mod), "module "), "\n")
	for _, want := range []string{"go install " + module + "/cmd/crosstalk@latest", "go build ./cmd/crosstalk"} {
		if !bytes.Contains(readme, []byte(want)) {
			t.Errorf("the README does not say %q", want)
		}
	}
	data := filepath.Join(t.TempDir(), "data")
	var ran int
	for line := range strings.Lines(string(readme)) {
		rest, ok := strings.CutPrefix(line, "crosstalk user ")
		if !ok {
			continue
		}
		args := append([]string{"user"}, shellWords(t, strings.ReplaceAll(rest, "DIR", data))...)
		if stdout, stderr, code := crosstalk(t, args...); code != 0 {
			t.Fatalf("%v: exit %d, %s%s", args, code, stdout, stderr)
		}
		ran++
	}
	if ran != 5 {
		t.Fatalf("ran %d account commands from the README, want 5", ran)
	}
}

// The login guard's flags default to the guard's own defaults and reach it.
func TestLoginGuardFlags(t *testing.T) {
	c, _, err := parse(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	got := c.Serve.loginGuard()
	if got.Address != loginguard.DefaultAddress || got.Account != loginguard.DefaultAccount ||
		got.Delay != loginguard.DefaultDelay || got.MaxDelay != loginguard.DefaultMaxDelay ||
		got.Forget != loginguard.DefaultForget || got.KnownFor != loginguard.DefaultKnownFor ||
		got.MaxTracked != loginguard.DefaultMaxTracked ||
		got.FailureLogsPerSecond != loginguard.DefaultFailureLogsPerSecond || got.FailureLogBurst != loginguard.DefaultFailureLogBurst {
		t.Errorf("flag defaults %+v differ from the guard's", got)
	}
	t.Setenv("CROSSTALK_LOGIN_ACCOUNT_LOCK", "2m")
	if c, _, err = parse(t, "serve", "--login-address-lock-at", "7", "--login-delay", "250ms"); err != nil {
		t.Fatal(err)
	}
	got = c.Serve.loginGuard()
	if got.Address.LockAfter != 7 || got.Delay != 250*time.Millisecond || got.Account.LockFor != 2*time.Minute {
		t.Errorf("settings not passed on: %+v", got)
	}
}

// The MySpaceIM and IMIP rate flags default to the rates the README
// states (20 a second, bursts of 100) and reach the servers' settings.
func TestRateFlags(t *testing.T) {
	c, _, err := parse(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	msim, imip := c.Serve.msimConfig(), c.Serve.imipConfig()
	if msim.MessagesPerSecond != 20 || msim.MessageBurst != 100 || imip.BlocksPerSecond != 20 || imip.BlockBurst != 100 {
		t.Errorf("defaults: MySpaceIM %v/s burst %d, IMIP %v/s burst %d", msim.MessagesPerSecond, msim.MessageBurst, imip.BlocksPerSecond, imip.BlockBurst)
	}
	t.Setenv("CROSSTALK_IMIP_BLOCK_BURST", "7")
	if c, _, err = parse(t, "serve", "--msim-message-rate", "2.5", "--msim-message-burst", "3", "--imip-block-rate", "500"); err != nil {
		t.Fatal(err)
	}
	msim, imip = c.Serve.msimConfig(), c.Serve.imipConfig()
	if msim.MessagesPerSecond != 2.5 || msim.MessageBurst != 3 || imip.BlocksPerSecond != 500 || imip.BlockBurst != 7 {
		t.Errorf("settings not passed on: MySpaceIM %v/s burst %d, IMIP %v/s burst %d", msim.MessagesPerSecond, msim.MessageBurst, imip.BlocksPerSecond, imip.BlockBurst)
	}
}

// The SIP service's flags default to the service's own defaults and reach
// it, from the command line and the environment.
func TestSIPFlags(t *testing.T) {
	c, _, err := parse(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Serve
	if s.SipAddr != "0.0.0.0:5060" || s.SipTlsAddr != "0.0.0.0:5061" {
		t.Errorf("addresses %q %q", s.SipAddr, s.SipTlsAddr)
	}
	got := s.sipConfig()
	if got.KeepAlive != sipserver.DefaultKeepAlive || got.RegisterExpires != sipserver.DefaultRegisterExpires ||
		got.LoginTimeout != sipserver.DefaultLoginTimeout || got.IdleTimeout != 3*sipserver.DefaultKeepAlive ||
		got.TransactionTimeout != sipserver.DefaultTransactionTimeout || got.MaxDialogs != sipserver.DefaultMaxDialogs ||
		got.MessagesPerSecond != sipserver.DefaultMessagesPerSecond || got.MessageBurst != sipserver.DefaultMessageBurst ||
		got.MaxFileTransfers != sipserver.DefaultMaxFileTransfers || got.FileAnswerTimeout != sipserver.DefaultFileAnswerTimeout ||
		got.FileLegTimeout != sipserver.DefaultFileLegTimeout ||
		got.Limits != (sipwire.Limits{MaxHeaders: sipwire.DefaultMaxHeaders, MaxHeaderBytes: sipwire.DefaultMaxHeaderBytes, MaxBodyBytes: sipwire.DefaultMaxBodyBytes}) {
		t.Errorf("flag defaults %+v differ from the service's", got)
	}
	t.Setenv("CROSSTALK_SIP_KEEP_ALIVE", "2m")
	t.Setenv("CROSSTALK_SIP_FILE_TIMEOUT", "7s")
	if c, _, err = parse(t, "serve", "--sip-max-message", "1KiB", "--sip-idle-timeout", "1h", "--sip-target-name", "ocs.example.com",
		"--sip-max-file-transfers", "2", "--sip-file-answer-timeout", "10s"); err != nil {
		t.Fatal(err)
	}
	got = c.Serve.sipConfig()
	if got.KeepAlive != 2*time.Minute || got.Limits.MaxBodyBytes != 1024 || got.IdleTimeout != time.Hour || got.TargetName != "ocs.example.com" ||
		got.MaxFileTransfers != 2 || got.FileAnswerTimeout != 10*time.Second || got.FileLegTimeout != 7*time.Second {
		t.Errorf("settings not passed on: %+v", got)
	}
}

// The web chat's flags default to the service's own defaults and reach
// it, from the command line and the environment.
func TestWebchatFlags(t *testing.T) {
	c, _, err := parse(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	got := c.Serve.webchatConfig()
	want := webchatserver.Config{
		MaxFrameBytes: webchatwire.DefaultMaxFrame, FramesPerSecond: webchatserver.DefaultFramesPerSecond,
		FrameBurst: webchatserver.DefaultFrameBurst, MaxPendingBytes: webchatserver.DefaultMaxPendingBytes,
		LoginTimeout: webchatserver.DefaultLoginTimeout, IdleTimeout: webchatserver.DefaultIdleTimeout,
		FileAnswerTimeout: webchatserver.DefaultFileAnswerTimeout,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("flag defaults %+v differ from the service's %+v", got, want)
	}
	t.Setenv("CROSSTALK_WEBCHAT_IDLE_TIMEOUT", "10m")
	if c, _, err = parse(t, "serve", "--webchat-max-message", "4KiB", "--webchat-message-rate", "5", "--webchat-max-pending", "64KiB"); err != nil {
		t.Fatal(err)
	}
	got = c.Serve.webchatConfig()
	if got.MaxFrameBytes != 4096 || got.FramesPerSecond != 5 || got.MaxPendingBytes != 64<<10 || got.IdleTimeout != 10*time.Minute {
		t.Errorf("settings not passed on: %+v", got)
	}
}
