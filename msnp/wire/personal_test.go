package wire

import (
	"errors"
	"testing"
)

func TestParseMSNObject(t *testing.T) {
	param := "%3Cmsnobj%20Creator%3D%22alice%40example.com%22%20Size%3D%2222731%22%20Type%3D%223%22%20Location%3D%22TFR2C.tmp%22%20Friendly%3D%22AAA%3D%22%20SHA1D%3D%22trC8SlFx2sWQxZMIBAWSEnXc8oQ%3D%22%20SHA1C%3D%22U32o6bosZzluJq82eAtMUx5dIEI%3D%22%2F%3E"
	o, err := ParseMSNObject(param)
	if err != nil {
		t.Fatal(err)
	}
	if o.Creator != "alice@example.com" || o.Type != MSNObjectDisplayPicture || o.Size != "22731" || o.SHA1D != "trC8SlFx2sWQxZMIBAWSEnXc8oQ=" {
		t.Fatalf("got %+v", o)
	}
	for _, bad := range []string{"0", "%zz", "%3Cfoo%2F%3E", "%3Cmsnobj%20Type%3D%223%22%20Size%3D%221%22%2F%3E", "%3Cmsnobj%20Creator%3D%22a%22%20Type%3D%22x%22%20Size%3D%221%22%2F%3E", "%3Cmsnobj"} {
		if _, err := ParseMSNObject(bad); !errors.Is(err, ErrBadMSNObject) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestUUX(t *testing.T) {
	root, st, _, err := ParseUUX([]byte(`<Data><PSM>Fish &amp; chips</PSM><CurrentMedia>\0Music\01\0{0} - {1}\0Song\0Band\0Album\0\0</CurrentMedia><MachineGuid>{F26D1F07-95E2-403C-BC18-D4BFED493428}</MachineGuid></Data>`))
	if err != nil || root != "Data" {
		t.Fatal(root, err)
	}
	if st.PSM != "Fish & chips" || st.MachineGUID != "{F26D1F07-95E2-403C-BC18-D4BFED493428}" {
		t.Fatalf("got %+v", st)
	}
	if got := MediaText(st.CurrentMedia); got != "Song - Band" {
		t.Errorf("media text %q", got)
	}
	if got := string(AppendUBX(nil, st)); got != `<Data><PSM>Fish &amp; chips</PSM><CurrentMedia>\0Music\01\0{0} - {1}\0Song\0Band\0Album\0\0</CurrentMedia><MachineGuid>{F26D1F07-95E2-403C-BC18-D4BFED493428}</MachineGuid></Data>` {
		t.Errorf("UBX %s", got)
	}
	if root, _, ep, err := ParseUUX([]byte(`<EndpointData><Capabilities>1:2</Capabilities></EndpointData>`)); err != nil || root != "EndpointData" || ep.Capabilities != "1:2" {
		t.Errorf("endpoint data: %q %v", root, err)
	}
	if _, _, ep, err := ParseUUX([]byte(`<PrivateEndpointData><EpName>den &amp; co</EpName><Idle>false</Idle></PrivateEndpointData>`)); err != nil || ep.Name != "den & co" {
		t.Fatalf("private endpoint: %+v %v", ep, err)
	}
	ubx := AppendEndpoint(nil, Endpoint{GUID: "{A}", Capabilities: "1:2", Name: "den"}, true)
	if want := `<EndpointData id="{A}"><Capabilities>1:2</Capabilities></EndpointData><PrivateEndpointData id="{A}"><EpName>den</EpName><Idle>false</Idle><ClientType>1</ClientType><State>NLN</State></PrivateEndpointData>`; string(ubx) != want {
		t.Fatalf("AppendEndpoint: %s", ubx)
	}
	if _, _, _, err := ParseUUX([]byte(`<Data><PSM>x</Data>`)); !errors.Is(err, ErrBadPersonalStatus) {
		t.Errorf("broken XML: %v", err)
	}
	if MediaText(`\0Music\00\0{0}\0x\0\0`) != "" || MediaText("junk") != "" {
		t.Error("media off or junk must give no text")
	}
	if got := MediaText(`\0Music\01\0{0}{1}{9}\0{0}\0{1}`); got != "{0}{1}" {
		t.Errorf("values are not formats: %q", got)
	}
}
