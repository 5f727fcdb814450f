package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/alecthomas/kong"
)

// Flags come from the command line, the environment and a JSON file, in
// that order of precedence.
func TestConfigSources(t *testing.T) {
	file := filepath.Join(t.TempDir(), "crosstalk.json")
	if err := os.WriteFile(file, []byte(`{"msnp-addr": "127.0.0.1:1", "gg_addr": "127.0.0.1:2", "http-addr": "127.0.0.1:3"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CROSSTALK_HTTP_ADDR", "127.0.0.1:4")
	var c cli
	parser, err := kong.New(&c, kong.DefaultEnvars("CROSSTALK"), kong.Configuration(jsonConfig))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse([]string{"--config", file, "serve", "--sb-addr", "127.0.0.1:5"}); err != nil {
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
}
