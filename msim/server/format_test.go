package server

import (
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
)

func TestMarkupFormatting(t *testing.T) {
	for _, tc := range []struct {
		markup string
		text   string
		format *hub.Format
	}{
		{"plain & simple", "plain & simple", nil},
		{"<f s='1'>bold</f> text", "bold text", &hub.Format{Bold: true}},
		{"<p><f f='Times' h='16' s='0'><c v='rgba(0, 0, 0, 255)'><b v='transparent'>official</b></c></f></p>", "official", &hub.Format{Font: "Times"}},
		{"<f f=\"Arial\" s=\"6\"><c v='rgb(255,0,128)'>x</c></f>", "x", &hub.Format{Font: "Arial", Italic: true, Underline: true, Color: "FF0080"}},
		{"<c v='red'>red</c>", "red", &hub.Format{Color: "FF0000"}},
	} {
		got := fromMarkup(tc.markup)
		if got.Text != tc.text || (got.Format == nil) != (tc.format == nil) || got.Format != nil && *got.Format != *tc.format {
			t.Errorf("fromMarkup(%q) = %q %+v, want %q %+v", tc.markup, got.Text, got.Format, tc.text, tc.format)
		}
		// What we write reads back the same.
		again := fromMarkup(toMarkup(got))
		if again.Text != got.Text || (again.Format == nil) != (got.Format == nil) || again.Format != nil && *again.Format != *got.Format {
			t.Errorf("round trip of %q: %q %+v", tc.markup, again.Text, again.Format)
		}
	}
}
