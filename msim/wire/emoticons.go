package wire

import (
	"cmp"
	"slices"
	"strings"
)

// Emoticon is one of MySpaceIM's named emoticons, written <i n='name'/> in
// markup, with the text smileys that stand for it, the usual one first.
type Emoticon struct {
	Name    string
	Smileys []string
}

// Emoticons are the names the service knew: the official client's 25
// (the same in Pidgin's plugin and Digsby) and the three spellings Pidgin
// also reads (happi, tongy, winc). Pidgin turns a name into its first
// smiley and writes every smiley it finds in a message as its name; the
// smileys are case-sensitive (:X is heart, :x kiss).
var Emoticons = []Emoticon{
	{"bigsmile", []string{":D", ":-D"}},
	{"devil", []string{"}:)"}},
	{"frazzled", []string{":Z"}},
	{"geek", []string{"B)"}},
	{"googles", []string{"%)"}},
	{"growl", []string{":E"}},
	{"laugh", []string{":))"}},
	{"happy", []string{":)", ":-)"}},
	{"happi", []string{":)"}},
	{"heart", []string{":X"}},
	{"mohawk", []string{"-:"}},
	{"mad", []string{"X("}},
	{"messed", []string{"X)"}},
	{"nerd", []string{"Q)"}},
	{"oops", []string{":G"}},
	{"pirate", []string{"P)"}},
	{"scared", []string{":O"}},
	{"sidefrown", []string{":{"}},
	{"sinister", []string{":B"}},
	{"smirk", []string{":,", ":'"}}, // Pidgin wrote :, and Digsby :'
	{"straight", []string{":|"}},
	{"tongue", []string{":P", ":p"}},
	{"tongy", []string{":P"}},
	{"upset", []string{"B|"}},
	{"wink", []string{";-)", ";)"}},
	{"winc", []string{";)"}},
	{"worried", []string{":["}},
	{"kiss", []string{":x"}},
}

// EmoticonSmiley returns the smiley an emoticon name shows as.
func EmoticonSmiley(name string) (string, bool) {
	for _, e := range Emoticons {
		if e.Name == name {
			return e.Smileys[0], true
		}
	}
	return "", false
}

type smiley struct{ text, name string }

// smileys are every smiley with the first name that has it, longest first
// so that :)) is a laugh and not a smile and a bracket.
var smileys = func() []smiley {
	var out []smiley
	seen := map[string]bool{}
	for _, e := range Emoticons {
		for _, s := range e.Smileys {
			if !seen[s] {
				seen[s] = true
				out = append(out, smiley{s, e.Name})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b smiley) int { return cmp.Compare(len(b.text), len(a.text)) })
	return out
}()

// InlineMarkup writes one line of plain text as markup: "&", "<" and ">"
// as entities, NUL bytes dropped, and each smiley that stands on its own
// as its emoticon, <i n="name"/>, as Pidgin sends it. A smiley stands on
// its own after the start of the line or a space and before the end, a
// space or one of ".,!?", so that "a:)" or "http://x/:D" stay text
// (Pidgin itself replaced smileys anywhere). MarkupToText gives the text
// back, each smiley written the usual way for its name.
func InlineMarkup(line string) string {
	var b strings.Builder
	WriteInlineMarkup(&b, line)
	return b.String()
}

// WriteInlineMarkup writes InlineMarkup(line) to b.
func WriteInlineMarkup(b *strings.Builder, line string) {
	// Clients read values as C strings: NULs go first, so that a smiley's
	// neighbours are those the client sees ("\x00:D" is ":D" alone).
	line = strings.ReplaceAll(line, "\x00", "")
	b.Grow(len(line))
	start := 0
	for i := 0; i < len(line); i++ {
		if !smileyStarts[line[i]] || i > 0 && !isSpace(line[i-1]) {
			continue
		}
		for _, s := range smileys {
			end := i + len(s.text)
			if !strings.HasPrefix(line[i:], s.text) || end < len(line) && !isSpace(line[end]) && !strings.ContainsRune(".,!?", rune(line[end])) {
				continue
			}
			writeEscaped(b, line[start:i])
			b.WriteString(`<i n="`)
			b.WriteString(s.name)
			b.WriteString(`"/>`)
			start, i = end, end-1
			break
		}
	}
	writeEscaped(b, line[start:])
}

// smileyStarts are the bytes a smiley begins with: a word starting with
// any other is no smiley.
var smileyStarts = func() (starts [256]bool) {
	for _, s := range smileys {
		starts[s.text[0]] = true
	}
	return starts
}()

// writeEscaped writes s with "&", "<" and ">" as entities, the text
// between them whole.
func writeEscaped(b *strings.Builder, s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		var entity string
		switch s[i] {
		case '&':
			entity = "&amp;"
		case '<':
			entity = "&lt;"
		case '>':
			entity = "&gt;"
		default:
			continue
		}
		b.WriteString(s[start:i])
		b.WriteString(entity)
		start = i + 1
	}
	b.WriteString(s[start:])
}
