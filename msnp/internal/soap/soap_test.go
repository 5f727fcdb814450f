package soap

import (
	"net/http/httptest"
	"strconv"
	"testing"
)

func TestWriterAndSend(t *testing.T) {
	var w Writer
	w.Elem("a", `<&>"`)
	w.Text("x&y")
	if got, want := w.String(), `<a>&lt;&amp;&gt;&#34;</a>x&amp;y`; got != want {
		t.Fatalf("wrote %s, want %s", got, want)
	}
	rec := httptest.NewRecorder()
	Send(rec, 500, w.Bytes())
	if rec.Code != 500 || rec.Header().Get("Content-Length") != strconv.Itoa(w.Len()) || rec.Header().Get("Content-Type") != "text/xml; charset=utf-8" ||
		rec.Body.String() != w.String() {
		t.Fatalf("sent %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
}
