package wire

import (
	"strings"
	"testing"
)

func TestRedacted(t *testing.T) {
	for line, want := range map[string]string{
		"USR 3 MD5 S 1234.5678":                                   "USR 3 MD5 S [redacted]",
		"USR 4 TWN S t=abc&p=":                                    "USR 4 TWN S [redacted]",
		"USR 3 SSO S MBI_KEY_OLD bm9uY2U=":                        "USR 3 SSO S MBI_KEY_OLD [redacted]",
		"USR 4 SSO S t=abc&p= HAAAAAEAAAAD":                       "USR 4 SSO S [redacted] [redacted]",
		"USR 4 SSO S t=abc&p= HAAAAAEAAAAD {A-B}":                 "USR 4 SSO S [redacted] [redacted] {A-B}",
		"USR 3 SSO I alice@example.com":                           "USR 3 SSO I alice@example.com",
		"XFR 5 SB 127.0.0.1:1864 CKI 17.42 U messenger.msn.com 1": "XFR 5 SB 127.0.0.1:1864 CKI [redacted] U messenger.msn.com 1",
		"ANS 1 alice@example.com;{A-B} 17.42 99":                  "ANS 1 alice@example.com;{A-B} [redacted] 99",
		"USR 4 OK alice@example.com 1 0":                          "USR 4 OK alice@example.com 1 0",
	} {
		f := strings.Fields(line)
		if got := Redacted(f[0], f[1:]); got != want {
			t.Errorf("%q: %q, want %q", line, got, want)
		}
	}
}
