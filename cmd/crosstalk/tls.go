package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/tlsca"
)

type tlsCmd struct {
	Ca tlsCaCmd `cmd:"" help:"Make a local certificate authority (once) and a certificate it signs for the HTTPS host names MSN clients use; install the CA on the client machines."`
}

type tlsCaCmd struct {
	Data   string   `help:"Data directory; the files go to its tls folder unless given one by one." default:"data" type:"path"`
	CaCert string   `help:"CA certificate file (made if missing, else reused)." type:"path"`
	CaKey  string   `help:"CA key file." type:"path"`
	Cert   string   `help:"Server certificate file to write (for serve's --tls-cert)." type:"path"`
	Key    string   `help:"Server key file to write (for serve's --tls-key)." type:"path"`
	Names  []string `help:"More host names or addresses for the certificate, besides MSN's (repeatable, or comma-separated)."`
}

func (c *tlsCaCmd) Run() error {
	p := tlsca.DefaultPaths(filepath.Join(c.Data, "tls"))
	for flag, dst := range map[string]*string{c.CaCert: &p.CACert, c.CaKey: &p.CAKey, c.Cert: &p.Cert, c.Key: &p.Key} {
		if flag != "" {
			*dst = flag
		}
	}
	names := append(append([]string(nil), tlsca.MSNHostNames...), c.Names...)
	created, err := tlsca.Make(p, names, time.Now())
	if err != nil {
		return err
	}
	if created {
		fmt.Printf("made a new CA: %s (install it on client machines; keep %s secret)\n", p.CACert, p.CAKey)
	} else {
		fmt.Printf("signed with the existing CA %s\n", p.CACert)
	}
	fmt.Printf("wrote certificate %s and key %s for %d names\nserve with: crosstalk serve --https-addr 0.0.0.0:443 --tls-cert %s --tls-key %s\n",
		p.Cert, p.Key, len(names), p.Cert, p.Key)
	return nil
}
