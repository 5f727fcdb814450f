package wire

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultPort is the official server port (and pidgin's default).
const DefaultPort = 1863

// Message types: the first key of a message.
const (
	TypeLoginChallenge = "lc"       // server: \lc\1 greeting with nc, \lc\2 success
	TypeLogin2         = "login2"   // client: login response
	TypePersist        = "persist"  // client: persist request
	TypePersistReply   = "persistr" // server: persist reply (or unsolicited data)
	TypeBM             = "bm"       // buddy message, both directions
	TypeStatus         = "status"   // client: own presence
	TypeError          = "error"    // server: error, with fatal when it ends the session
	TypeKeepAlive      = "ka"       // server: keep-alive
	TypeAddBuddy       = "addbuddy" // client
	TypeDelBuddy       = "delbuddy" // client
	TypeBlockList      = "blocklist"
	TypeLogout         = "logout"  // client (Digsby; pidgin just closes)
	TypeSetInfo        = "setinfo" // client: profile fields in a dictionary "info"
	TypeWebChallenge   = "webchlg" // client (Digsby)
)

// Values of "lc".
const (
	LCChallenge = 1 // greeting: \lc\1\nc\<base64 nonce>\id\1\final\
	LCSuccess   = 2 // \lc\2\sesskey\..\proof\..\userid\..\profileid\..\uniquenick\..\id\1\final\
)

// Constants of the login2 exchange.
const (
	// AuthAlgorithm is the value of "login2" (0x30002).
	AuthAlgorithm = 196610
	// PidginClientVersion is pidgin 2.10.12's "clientver" and "cv".
	PidginClientVersion = 697
	// LangID and IMLang are the "langid" and "imlang" pidgin sends.
	LangID = 1033
	IMLang = "ENGLISH"
	// LoginStatus and LoginID are the constant "status" and "id" values of
	// login2 in both known clients (their meaning is unknown).
	LoginStatus = 100
	LoginID     = 1
)

// bm (buddy message) types.
const (
	BMIM            = 1   // instant message, "delayable": stored when the recipient is offline
	BMStatus        = 100 // presence (server to client), msg in Presence format
	BMAction        = 121 // action/instant: typing, zaps; web-client IMs also come as 121
	BMMedia         = 122 // conversation window opened
	BMProfile       = 124 // profile/user info, ignored by clients
	BMStatusMood    = 126 // status mood, ignored
	BMClientVersion = 200 // unofficial client version string
)

// Presence codes, in \status\<code> and in the "s" of bm 100. Clients send
// 0 for invisible; servers broadcast 0 for offline and for hidden users.
// Other codes are shown as online by pidgin.
const (
	StatusOffline   = 0
	StatusInvisible = 0
	StatusOnline    = 1
	StatusIdle      = 2
	StatusAway      = 5
)

// Action strings carried in the msg of bm 121.
const (
	ActionTyping     = "%typing%"
	ActionStopTyping = "%stoptyping%"
	// ZapPrefix is followed by the zap number 0..9.
	ZapPrefix = "!!!ZAP_SEND!!!=RTE_BTN_ZAPS_"
)

// Zaps, by number.
const (
	ZapZap = iota
	ZapWhack
	ZapTorch
	ZapSmooch
	ZapHug
	ZapSlap
	ZapGoose
	ZapHighFive
	ZapPunk
	ZapRaspberry
)

// ZapNames names the zaps by number.
var ZapNames = [...]string{"zap", "whack", "torch", "smooch", "hug", "bslap", "goose", "high-five", "punk", "raspberry"}

// ZapMsg is the bm 121 msg that sends zap n.
func ZapMsg(n int) string { return ZapPrefix + strconv.Itoa(n) }

// ParseZap reads a zap out of a bm 121 msg; ok is false for anything else
// (typing notifications, group-chat messages, text).
func ParseZap(msg string) (n int, ok bool) {
	rest, found := strings.CutPrefix(msg, ZapPrefix)
	if !found {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || n >= len(ZapNames) {
		return 0, false
	}
	return n, true
}

// Error codes of \error\\err\<code>\errmsg\<text>\[fatal\]\final\.
const (
	ErrCodeParse             = 1    // could not parse a request
	ErrCodeNotLoggedIn       = 2    // request before login
	ErrCodeBadSessionKey     = 3    // invalid session key
	ErrCodeLoggedInElsewhere = 6    // another login of the account; pidgin does not reconnect
	ErrCodeBadEmail          = 259  // unknown e-mail (historic)
	ErrCodeBadPassword       = 260  // incorrect password; pidgin: "Incorrect username or password"
	ErrCodeBadUID            = 4352 // bad uid in a persist request
)

// Persist "cmd" values: a code, with flag bits.
const (
	CmdGet    = 1
	CmdPut    = 2
	CmdDelete = 3
	CmdReply  = 256  // set in replies: 257 get reply, 258 put reply
	CmdAction = 512  // 514 action put (add contact), 515 action delete
	CmdError  = 1024 // set in error replies, e.g. 1025
)

// CmdCode strips the flag bits from a cmd.
func CmdCode(cmd int) int { return cmd &^ (CmdReply | CmdAction | CmdError) }

// Contact visibility (contact records, persist 0/9).
const (
	VisibilityShown   = 1
	VisibilityBlocked = 2 // on the deny list
)

// DataSet names what a persist request is about: its "dsn" and "lid".
type DataSet uint32

// DS makes a DataSet; dsn and lid are kept to 16 bits each.
func DS(dsn, lid int) DataSet { return DataSet(uint32(dsn&0xFFFF)<<16 | uint32(lid&0xFFFF)) }

// DSN returns the "dsn" value.
func (d DataSet) DSN() int { return int(d >> 16) }

// LID returns the "lid" value.
func (d DataSet) LID() int { return int(d & 0xFFFF) }

func (d DataSet) String() string { return fmt.Sprintf("%d/%d", d.DSN(), d.LID()) }

// The data sets of persist requests (dsn<<16 | lid), with the cmd and body
// each is used with.
const (
	DSContactList   DataSet = 0<<16 | 1    // get, empty: records starting with ContactID
	DSContactInfo   DataSet = 0<<16 | 2    // get, ContactID: basic contact info
	DSDeleteContact DataSet = 0<<16 | 8    // 515, ContactID: remove buddy or unblock
	DSAddContact    DataSet = 0<<16 | 9    // 514, ContactID GroupName Position Visibility NickName NameSelect
	DSOwnIMInfo     DataSet = 1<<16 | 4    // get, empty: own IM settings
	DSContactIMInfo DataSet = 1<<16 | 7    // get, ContactID: a contact's IM info
	DSSetIMInfo     DataSet = 1<<16 | 10   // 514, preferences
	DSIMInfoByID    DataSet = 1<<16 | 17   // get, UserID: IM info by id
	DSGroupList     DataSet = 2<<16 | 6    // get, empty: records starting with GroupID
	DSGroup         DataSet = 2<<16 | 16   // put/delete: GroupID GroupName GroupFlag Position
	DSProfile       DataSet = 4<<16 | 3    // get, UserID: a user's profile
	DSOwnProfile    DataSet = 4<<16 | 5    // get, UserID=<own>: own profile
	DSLookup        DataSet = 5<<16 | 7    // get, UserName or Email: user lookup
	DSSocialAlerts  DataSet = 7<<16 | 10   // get, empty (Digsby)
	DSNewItems      DataSet = 7<<16 | 18   // get, empty: Mail, BlogComment, ... = On when new
	DSSetUserName   DataSet = 9<<16 | 14   // put, UserName: reply 258 with Code=0
	DSImportFriends DataSet = 14<<16 | 21  // put, GroupName: reply Completed=True
	DSTopFriends    DataSet = 15<<16 | 22  // put, GroupName
	DSInvite        DataSet = 16<<16 | 25  // constant only
	DSWebChallenge  DataSet = 17<<16 | 26  // get; may come unsolicited
	DSUserSong      DataSet = 21<<16 | 28  // constant only
	DSServerSetting DataSet = 101<<16 | 20 // 257, pushed unsolicited: MaxContacts, ...
	DSAdSettings    DataSet = 512<<16 | 20 // 257, pushed unsolicited
)

// Persist is a persist request (\persist\1\...) or reply (\persistr\\...).
type Persist struct {
	Reply   bool   // persistr
	SessKey uint32 // requests only
	Cmd     int
	DataSet DataSet
	UID     uint32 // the session user; requests omit it when 0
	RID     int    // request id, echoed in the reply
	Body    Dict
}

// ParsePersist reads a persist or persistr message. cmd, dsn, lid and rid
// are required; uid and sesskey default to 0.
func ParsePersist(m Message) (Persist, error) {
	var p Persist
	switch m.Type() {
	case TypePersist:
	case TypePersistReply:
		p.Reply = true
	default:
		return p, malformed("%q is not a persist message", m.Type())
	}
	var ok [4]bool
	var dsn, lid int
	p.Cmd, ok[0] = m.Int("cmd")
	dsn, ok[1] = m.Int("dsn")
	lid, ok[2] = m.Int("lid")
	p.RID, ok[3] = m.Int("rid")
	for i, name := range []string{"cmd", "dsn", "lid", "rid"} {
		if !ok[i] {
			return p, malformed("persist without a numeric %s", name)
		}
	}
	if dsn < 0 || dsn > 0xFFFF || lid < 0 || lid > 0xFFFF {
		return p, malformed("persist dsn/lid %d/%d out of range", dsn, lid)
	}
	p.DataSet = DS(dsn, lid)
	p.UID, _ = m.Uint32("uid")
	p.SessKey, _ = m.Uint32("sesskey")
	p.Body = m.Dict("body")
	return p, nil
}

// Message encodes p in the order of the captured official exchanges:
// \persist\1\sesskey\S\cmd\C\dsn\D\uid\U\lid\L\rid\R\body\B\final\ and
// \persistr\\cmd\C\dsn\D\uid\U\lid\L\rid\R\body\B\final\. A request with
// UID 0 has no uid field; a reply always has one.
func (p Persist) Message() Message {
	var m Message
	if p.Reply {
		m = append(m, Flag(TypePersistReply))
	} else {
		m = append(m, Int(TypePersist, 1), Uint("sesskey", p.SessKey))
	}
	m = append(m, Int("cmd", int64(p.Cmd)), Int("dsn", int64(p.DataSet.DSN())))
	if p.Reply || p.UID != 0 {
		m = append(m, Uint("uid", p.UID))
	}
	return append(m, Int("lid", int64(p.DataSet.LID())), Int("rid", int64(p.RID)), Dictionary("body", p.Body))
}

// Presence is the msg of a bm 100:
// |s|<code>|ss|<headline>|ls|<location>|ip|<int>|p|<int>
type Presence struct {
	Status   int
	Headline string // plain text
	Location string
	IP       uint32 // "ip"; meaning unconfirmed, 0 is fine
	P        int    // "p"; meaning unknown, 0 is fine
}

// ParsePresence reads a bm 100 msg (already unescaped). Pairs are read by
// name; missing ones stay zero, unknown ones (caps, ts) are ignored. As in
// pidgin, a status that is not a number counts as 0 but the string is
// still accepted.
func ParsePresence(msg string) Presence {
	var p Presence
	items := SplitList(msg)
	if len(items) > 0 && items[0] == "" {
		items = items[1:]
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(items); i += 2 {
		k, v := items[i], items[i+1]
		if seen[k] {
			continue
		}
		seen[k] = true
		switch k {
		case "s":
			p.Status, _ = strconv.Atoi(v)
		case "ss":
			p.Headline = v
		case "ls":
			p.Location = v
		case "ip":
			n, _ := strconv.ParseUint(v, 10, 32)
			p.IP = uint32(n)
		case "p":
			p.P, _ = strconv.Atoi(v)
		}
	}
	return p
}

// Encode returns the msg for a bm 100, to be escaped like any text value.
// "|" is removed from the headline and location.
func (p Presence) Encode() string {
	return "|" + JoinList("s", strconv.Itoa(p.Status), "ss", p.Headline, "ls", p.Location,
		"ip", strconv.FormatUint(uint64(p.IP), 10), "p", strconv.Itoa(p.P))
}
