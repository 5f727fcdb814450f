package server

import (
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
)

// X-MMS-IM-Format's colour is hexadecimal in blue-green-red order; what
// follows its digits is ignored, and a value that is no colour is none.
func TestParseIMFormat(t *testing.T) {
	for _, c := range []struct {
		in   string
		want hub.Format
	}{
		{"FN=Arial; EF=BI; CO=ff; CS=0; PF=22", hub.Format{Font: "Arial", Bold: true, Italic: true, Color: "FF0000"}},
		{"FN=Microsoft%20Sans%20Serif; EF=US; CO=0; CS=0", hub.Format{Font: "Microsoft Sans Serif", Underline: true, Strike: true, Color: "000000"}},
		{"CO=1a2B3c", hub.Format{Color: "3C2B1A"}},
		{"CO= 80ff00x", hub.Format{Color: "00FF80"}},
		{"CO=1000000", hub.Format{}},
		{"CO=zz", hub.Format{}},
		{"CO=", hub.Format{}},
	} {
		if got := parseIMFormat(c.in); got == nil || *got != c.want {
			t.Errorf("parseIMFormat(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
	if parseIMFormat("") != nil {
		t.Error("no X-MMS-IM-Format gives a format")
	}
}
