package interop

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// recorder turns a pidgin-sipe run into a transcript for sip/server's
// TestTranscripts: the SIP messages pidgin-sipe logged (it dumps every
// message it sends and receives when libpurple's debugging is "unsafe"),
// with the steps the test took through the hub in between, in the order
// of their times. Values the server makes up at random become
// placeholders the replay captures ({sN}); the client's signature fields
// become {authenticate}, {crand}, {cnum} and {response}, which the replay
// computes with its own keys.
type recorder struct {
	mu    sync.Mutex
	steps []step
}

type step struct {
	at   time.Time
	text string
}

// note records a hub step (see sip/server/transcript_test.go) at the time
// the test takes it.
func (r *recorder) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, step{at: time.Now(), text: fmt.Sprintf(format, args...)})
}

var dump = regexp.MustCompile(`(?s)MESSAGE START (>+|<+) SIP\([^)]*\) - (\S+)\r?\n(.*?)MESSAGE END`)

// serverRandom finds what the server made up: its tags (in To of its
// responses, From of its requests), opaque, challenge, the Call-IDs of its
// requests; serverVolatile what changes with every message (signatures,
// branches, times), which the replay does not compare.
var serverRandom = []*regexp.Regexp{
	regexp.MustCompile(`(?m)^SIP/2\.0 (?s:.*?)\nTo: [^\n]*;tag=([0-9a-f]{10})`),
	regexp.MustCompile(`(?m)^[A-Z]+ [^\n]* SIP/2\.0\n(?s:.*?)\nFrom: [^\n]*;tag=([0-9a-f]{10})`),
	regexp.MustCompile(`opaque="([0-9a-f]{8})"`),
	regexp.MustCompile(`gssapi-data="([^"]+)"`),
	regexp.MustCompile(`Call-ID: ([0-9a-f]{24})\r?\n`),
}

var serverVolatile = []*regexp.Regexp{
	regexp.MustCompile(`rspauth="([0-9A-F]{32})"`),
	regexp.MustCompile(`srand="([0-9a-f]{8})"`),
	regexp.MustCompile(`snum="(\d+)"`),
	regexp.MustCompile(`branch=z9hG4bK([0-9a-f]{16})`),
	regexp.MustCompile(`publishTime="([^"]+)"`),
	regexp.MustCompile(`m=message (\d+) `),
}

var clientAuth = map[string]*regexp.Regexp{
	"{authenticate}": regexp.MustCompile(`gssapi-data="([^"]+)"`),
	"{crand}":        regexp.MustCompile(`crand="([0-9a-f]+)"`),
	"{cnum}":         regexp.MustCompile(`cnum="(\d+)"`),
	"{response}":     regexp.MustCompile(`response="([0-9A-Fa-f]{32})"`),
}

// write renders the transcript of stderr (pidgin-sipe's log) into path,
// after a header of comments and setup lines.
func (r *recorder) write(path, stderr, server string, header []string) error {
	type entry struct {
		at     time.Time
		client bool
		text   string
	}
	var entries []entry
	for _, m := range dump.FindAllStringSubmatch(stderr, -1) {
		at, err := time.Parse(time.RFC3339Nano, m[2])
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(m[3], "\r\n", "\n")
		entries = append(entries, entry{at: at, client: strings.HasPrefix(m[1], ">"), text: text})
	}
	r.mu.Lock()
	for _, s := range r.steps {
		entries = append(entries, entry{at: s.at, text: s.text + "\n"})
	}
	r.mu.Unlock()
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].at.Before(entries[j].at) })

	names := map[string]string{}
	for _, e := range entries {
		if e.client || strings.HasPrefix(e.text, "hub ") {
			continue
		}
		for _, re := range serverRandom {
			for _, m := range re.FindAllStringSubmatch(e.text, -1) {
				if _, ok := names[m[1]]; !ok && m[1] != "" {
					names[m[1]] = fmt.Sprintf("{s%d}", len(names)+1)
				}
			}
		}
	}
	var b strings.Builder
	for _, h := range header {
		b.WriteString(h + "\n")
	}
	for _, e := range entries {
		text := e.text
		switch {
		case strings.HasPrefix(text, "hub "):
			b.WriteString("\n" + text)
			continue
		case e.client:
			for name, re := range clientAuth {
				text = replaceGroup(re, text, name)
			}
			b.WriteString("\n>>> client\n")
		default:
			for _, re := range serverVolatile {
				text = replaceGroup(re, text, "{*}")
			}
			b.WriteString("\n<<< server\n")
		}
		text = strings.ReplaceAll(text, server, "{server}")
		for value, name := range names {
			text = strings.ReplaceAll(text, value, name)
		}
		b.WriteString(strings.TrimRight(text, "\n") + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// replaceGroup replaces the first group of each match with repl, except
// an empty one (the first REGISTER's gssapi-data="").
func replaceGroup(re *regexp.Regexp, s, repl string) string {
	var out strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		if m[2] == m[3] {
			continue
		}
		out.WriteString(s[last:m[2]])
		out.WriteString(repl)
		last = m[3]
	}
	out.WriteString(s[last:])
	return out.String()
}
