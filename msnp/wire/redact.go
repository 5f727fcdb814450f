package wire

import "strings"

// Redacted is a command line for logs with its secret arguments replaced:
// the MD5 salt or response of USR MD5 S, the Passport ticket of USR TWN S,
// the nonce of USR SSO S MBI_KEY_OLD and the ticket and proof answering
// it, the cookie of XFR SB and RNG (after CKI), and the cookie a client
// presents to a switchboard in USR and ANS.
func Redacted(name string, args []string) string {
	secret := -1
	switch name {
	case "USR":
		switch {
		case len(args) == 4 && (args[1] == "MD5" || args[1] == "TWN") && args[2] == "S":
			secret = 3
		case len(args) >= 5 && args[1] == "SSO" && args[2] == "S":
			// USR trid SSO S policy nonce, or ticket proof [guid].
			out := append([]string{name}, args...)
			if args[3] != "MBI_KEY_OLD" {
				out[4] = "[redacted]"
			}
			out[5] = "[redacted]"
			return strings.Join(out, " ")
		case len(args) == 3: // USR trid email cookie, on a switchboard
			secret = 2
		}
	case "ANS": // ANS trid email cookie session
		if len(args) == 4 {
			secret = 2
		}
	case "XFR", "RNG":
		for i, a := range args {
			if a == "CKI" && i+1 < len(args) {
				secret = i + 1
			}
		}
	}
	out := append([]string{name}, args...)
	if secret >= 0 {
		out[secret+1] = "[redacted]"
	}
	return strings.Join(out, " ")
}
