package hub

import (
	"strings"
	"unicode"
)

// Run is a stretch of a message's text in one formatting. A message whose
// formatting changes inside it (a bold word, a red sentence) carries its
// text as runs; protocols that format per run (GG's XHTML, MySpace markup)
// render them, the others show Message.Format.
type Run struct {
	Text   string `json:"text"`
	Format Format `json:"format,omitzero"`
}

// MaxRuns bounds the runs of one message, so that a message of one format
// change per character cannot grow to many times its text on the bus and
// in the store. A message with more keeps only the formatting common to
// all of them.
const MaxRuns = 200

// RichMessage builds a message from runs of formatted text. Adjacent runs
// of the same format merge and empty ones go; Text is the runs' text, and
// Format what all of them have in common: the whole-message formatting a
// protocol without runs shows, so that it never makes bold what was not.
// A message of one format keeps no Runs.
func RichMessage(runs []Run) Message {
	if r, ok := onlyRun(runs); ok {
		// One run with text, as most messages are: its text and format
		// as they are, without merging or copying.
		msg := Message{Text: r.Text}
		if r.Format != (Format{}) {
			msg.Format = &r.Format
		}
		return msg
	}
	var merged []Run
	for _, r := range runs {
		switch {
		case r.Text == "":
		case len(merged) > 0 && merged[len(merged)-1].Format == r.Format:
			merged[len(merged)-1].Text += r.Text
		default:
			merged = append(merged, r)
		}
	}
	var text strings.Builder
	for _, r := range merged {
		text.WriteString(r.Text)
	}
	msg := Message{Text: text.String()}
	if common := commonFormat(merged); common != (Format{}) {
		msg.Format = &common
	}
	if len(merged) > 1 && len(merged) <= MaxRuns {
		msg.Runs = merged
	}
	return msg
}

// onlyRun is the one run of runs with text, when no other has any.
func onlyRun(runs []Run) (only Run, ok bool) {
	for _, r := range runs {
		if r.Text == "" {
			continue
		}
		if ok {
			return Run{}, false
		}
		only, ok = r, true
	}
	return only, ok
}

// RunBuilder collects the runs of a message while a parser walks nested
// formatting tags: each text is in the formatting of the innermost tag
// still open. The zero value is ready to use.
type RunBuilder struct {
	open []openTag
	runs []Run
}

type openTag struct {
	name   string
	format Format
}

// Format is the formatting of text written now.
func (b *RunBuilder) Format() Format {
	if len(b.open) == 0 {
		return Format{}
	}
	return b.open[len(b.open)-1].format
}

// Open starts a tag whose text has format f (usually Format changed).
func (b *RunBuilder) Open(name string, f Format) {
	b.open = append(b.open, openTag{name, f})
}

// Close ends the innermost open tag of that name and whatever is still
// open inside it; closing a tag that is not open changes nothing.
func (b *RunBuilder) Close(name string) {
	for i := len(b.open) - 1; i >= 0; i-- {
		if b.open[i].name == name {
			b.open = b.open[:i]
			return
		}
	}
}

// Text adds text in the current formatting.
func (b *RunBuilder) Text(s string) {
	b.runs = append(b.runs, Run{Text: s, Format: b.Format()})
}

// Message is the RichMessage of the runs so far.
func (b *RunBuilder) Message() Message { return RichMessage(b.runs) }

// TextRuns returns the message's text as runs: its Runs when they spell out
// its Text, else the whole text in its Format.
func (m Message) TextRuns() []Run {
	if len(m.Runs) > 0 {
		n := 0
		for _, r := range m.Runs {
			if !strings.HasPrefix(m.Text[n:], r.Text) {
				break
			}
			n += len(r.Text)
		}
		if n == len(m.Text) {
			return m.Runs
		}
	}
	whole := Run{Text: m.Text}
	if m.Format != nil {
		whole.Format = *m.Format
	}
	return []Run{whole}
}

// commonFormat is the formatting every run has. Runs of white space count
// only when there is nothing else: their bold or italic does not show.
func commonFormat(runs []Run) Format {
	var counted []Run
	for _, r := range runs {
		if strings.TrimFunc(r.Text, unicode.IsSpace) != "" {
			counted = append(counted, r)
		}
	}
	if len(counted) == 0 {
		counted = runs
	}
	if len(counted) == 0 {
		return Format{}
	}
	common := counted[0].Format
	for _, r := range counted[1:] {
		f := r.Format
		if f.Font != common.Font {
			common.Font = ""
		}
		if f.Color != common.Color {
			common.Color = ""
		}
		common.Bold = common.Bold && f.Bold
		common.Italic = common.Italic && f.Italic
		common.Underline = common.Underline && f.Underline
		common.Strike = common.Strike && f.Strike
	}
	return common
}
