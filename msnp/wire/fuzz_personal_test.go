package wire

import "testing"

func FuzzMSNObject(f *testing.F) {
	f.Add("%3Cmsnobj%20Creator%3D%22a%40b.c%22%20Size%3D%221%22%20Type%3D%223%22%2F%3E")
	f.Add("<msnobj Creator=\"x\" Size=\"1\" Type=\"3\"/>")
	f.Fuzz(func(t *testing.T, s string) {
		if o, err := ParseMSNObject(s); err == nil && o.Creator == "" {
			t.Fatalf("accepted %q without a creator", s)
		}
	})
}

func FuzzUUX(f *testing.F) {
	f.Add([]byte(`<Data><PSM>hi</PSM><CurrentMedia>\0Music\01\0{0} - {1}\0a\0b\0\0</CurrentMedia></Data>`))
	f.Add([]byte(`<PrivateEndpointData><EpName>x</EpName></PrivateEndpointData>`))
	f.Fuzz(func(t *testing.T, p []byte) {
		root, st, _, err := ParseUUX(p)
		if err != nil {
			return
		}
		MediaText(st.CurrentMedia)
		if root != "Data" {
			return
		}
		// What the server passes on must read back the same.
		_, again, _, err := ParseUUX(AppendUBX(nil, st))
		if err != nil || again != st {
			t.Fatalf("round trip of %+v: %+v %v", st, again, err)
		}
	})
}
