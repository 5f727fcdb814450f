package wire

import (
	"reflect"
	"testing"
)

func TestML(t *testing.T) {
	ml, err := ParseML([]byte(`<ml l="1"><d n="example.com"><c n="bob" l="3" t="1"/><c n="carol" l="4" t="1"/></d><d n="example.org"><c n="dave" l="1" t="32"/></d></ml>`))
	if err != nil {
		t.Fatal(err)
	}
	want := ML{Initial: true, Contacts: []MLContact{
		{Email: "bob@example.com", Lists: 3, Network: 1},
		{Email: "carol@example.com", Lists: 4, Network: 1},
		{Email: "dave@example.org", Lists: 1, Network: 32},
	}}
	if !reflect.DeepEqual(ml, want) {
		t.Fatalf("got %+v", ml)
	}
	if again, err := ParseML(AppendML(nil, ml)); err != nil || !reflect.DeepEqual(again, ml) {
		t.Fatalf("round trip: %+v %v", again, err)
	}
	fqy, err := ParseML([]byte(`<ml><d n="example.com"><c n="bob"/></d></ml>`))
	if err != nil || len(fqy.Contacts) != 1 || fqy.Initial || fqy.Contacts[0].Lists != 0 {
		t.Fatalf("FQY form: %+v %v", fqy, err)
	}
	if got := string(AppendML(nil, ML{Contacts: []MLContact{{Email: "a&b@example.com", Lists: 8, Network: 1, Friendly: "A%20B"}}})); got != `<ml><d n="example.com"><c n="a&amp;b" l="8" t="1" f="A%20B"/></d></ml>` {
		t.Fatalf("AppendML: %s", got)
	}
	for _, bad := range []string{
		``, `<ml>`, `<xml/>`, `<ml><d><c n="bob"/></d></ml>`, `<ml><d n="example.com"><c/></d></ml>`,
		`<ml><d n="example.com"><c n="bob" l="x"/></d></ml>`, `<ml><d n="example.com"><c n="b@b"/></d></ml>`,
		`<ml><d n="example.com"><c n="bob" l="-1"/></d></ml>`,
	} {
		if _, err := ParseML([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzML(f *testing.F) {
	f.Add([]byte(`<ml l="1"><d n="example.com"><c n="bob" l="3" t="1"/></d></ml>`))
	f.Add([]byte(`<ml><d n="x"><c n="y" f="%20"/></d></ml>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ml, err := ParseML(b)
		if err != nil {
			return
		}
		again, err := ParseML(AppendML(nil, ml))
		if err != nil || len(again.Contacts) != len(ml.Contacts) || again.Initial != ml.Initial {
			t.Fatalf("%q: %+v, then %+v %v", b, ml, again, err)
		}
		for i := range ml.Contacts {
			if again.Contacts[i] != ml.Contacts[i] {
				t.Fatalf("%q: contact %d %+v, then %+v", b, i, ml.Contacts[i], again.Contacts[i])
			}
		}
	})
}
