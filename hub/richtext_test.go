package hub_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
)

func TestRichMessage(t *testing.T) {
	bold := hub.Format{Bold: true}
	red := hub.Format{Color: "FF0000", Font: "Arial"}
	for _, tc := range []struct {
		name   string
		runs   []hub.Run
		text   string
		format *hub.Format
		want   []hub.Run // Runs kept
	}{
		{"plain", []hub.Run{{Text: "hi"}}, "hi", nil, nil},
		{"one run with text among empty ones", []hub.Run{{Format: red}, {Text: "bold", Format: bold}, {}}, "bold", &bold, nil},
		{"nothing", []hub.Run{{Format: red}}, "", nil, nil},
		{"one format is whole-message", []hub.Run{{Text: "all ", Format: bold}, {Text: "bold", Format: bold}}, "all bold", &bold, nil},
		{"a bold word makes nothing else bold",
			[]hub.Run{{Text: "a "}, {Text: "bold", Format: bold}, {Text: " word"}}, "a bold word", nil,
			[]hub.Run{{Text: "a "}, {Text: "bold", Format: bold}, {Text: " word"}}},
		{"what every run has is the message's",
			[]hub.Run{{Text: "red", Format: red}, {Text: ""}, {Text: "bold red", Format: hub.Format{Color: "FF0000", Font: "Arial", Bold: true}}},
			"redbold red", &red,
			[]hub.Run{{Text: "red", Format: red}, {Text: "bold red", Format: hub.Format{Color: "FF0000", Font: "Arial", Bold: true}}}},
		{"white space between bold words does not count",
			[]hub.Run{{Text: "one", Format: bold}, {Text: " "}, {Text: "two", Format: bold}}, "one two", &bold,
			[]hub.Run{{Text: "one", Format: bold}, {Text: " "}, {Text: "two", Format: bold}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := hub.RichMessage(tc.runs)
			if m.Text != tc.text || !reflect.DeepEqual(m.Format, tc.format) || !reflect.DeepEqual(m.Runs, tc.want) {
				t.Fatalf("got %q %+v %+v, want %q %+v %+v", m.Text, m.Format, m.Runs, tc.text, tc.format, tc.want)
			}
			// Whatever the message keeps, its runs give back text and formatting.
			var back strings.Builder
			for _, r := range m.TextRuns() {
				back.WriteString(r.Text)
			}
			if back.String() != m.Text {
				t.Fatalf("TextRuns spell %q, not %q", back.String(), m.Text)
			}
			// Runs travel on the bus and into the offline store as JSON.
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var again hub.Message
			if err := json.Unmarshal(data, &again); err != nil || !reflect.DeepEqual(again.Runs, m.Runs) {
				t.Fatalf("JSON round trip %s: %+v %v", data, again.Runs, err)
			}
		})
	}
}

func TestRichMessageBoundsRuns(t *testing.T) {
	var runs []hub.Run
	for i := range hub.MaxRuns + 1 {
		runs = append(runs, hub.Run{Text: "x", Format: hub.Format{Bold: true, Italic: i%2 == 0}})
	}
	m := hub.RichMessage(runs)
	if m.Runs != nil || m.Format == nil || *m.Format != (hub.Format{Bold: true}) || len(m.Text) != hub.MaxRuns+1 {
		t.Fatalf("over MaxRuns: %d runs, format %+v, text of %d", len(m.Runs), m.Format, len(m.Text))
	}
	if m := hub.RichMessage(runs[:hub.MaxRuns]); len(m.Runs) != hub.MaxRuns {
		t.Fatalf("MaxRuns runs kept as %d", len(m.Runs))
	}
}

func TestTextRunsIgnoresRunsThatDoNotSpellText(t *testing.T) {
	bold := hub.Format{Bold: true}
	m := hub.RichMessage([]hub.Run{{Text: "a"}, {Text: "b", Format: bold}})
	m.Text = "changed"
	if got := m.TextRuns(); len(got) != 1 || got[0].Text != "changed" || got[0].Format != (hub.Format{}) {
		t.Fatalf("TextRuns of a message whose text changed: %+v", got)
	}
	whole := hub.Message{Text: "t", Format: &bold}
	if got := whole.TextRuns(); len(got) != 1 || got[0] != (hub.Run{Text: "t", Format: bold}) {
		t.Fatalf("TextRuns of a whole-message format: %+v", got)
	}
}

func TestRunBuilder(t *testing.T) {
	var b hub.RunBuilder
	b.Text("a ")
	b.Close("x") // not open: nothing changes
	b.Open("b", hub.Format{Bold: true})
	b.Text("b")
	f := b.Format()
	f.Italic = true
	b.Open("i", f)
	b.Open("span", hub.Format{Bold: true, Italic: true, Color: "00FF00"})
	b.Text("g")
	b.Close("b") // closes the span and the i inside it too
	b.Text(" z")
	want := []hub.Run{{Text: "a "}, {Text: "b", Format: hub.Format{Bold: true}},
		{Text: "g", Format: hub.Format{Bold: true, Italic: true, Color: "00FF00"}}, {Text: " z"}}
	if got := b.Message(); got.Text != "a bg z" || !reflect.DeepEqual(got.Runs, want) {
		t.Fatalf("built %q %+v", got.Text, got.Runs)
	}
}
