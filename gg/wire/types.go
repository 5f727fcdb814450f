package wire

import "fmt"

// Packet types (libgadu's GG_* names in the comments). Protobuf bodies are
// marked pb: and name their ggpb message.
const (
	// Login.
	TypeWelcome       uint32 = 0x0001 // S→C GG_WELCOME: Welcome (seed)
	TypeLoginOK       uint32 = 0x0003 // S→C GG_LOGIN_OK: empty; pre-GG8 success, libgadu still accepts it
	TypeLoginFailed   uint32 = 0x0009 // S→C GG_LOGIN_FAILED: empty; libgadu reports a bad password
	TypeNeedEmail     uint32 = 0x0014 // S→C GG_NEED_EMAIL: libgadu treats it as login SUCCESS; never use for failure
	TypeLoginHashType uint32 = 0x0016 // S→C GG_LOGIN_HASH_TYPE_INVALID: libgadu ignores it while logging in (times out)
	TypeLogin80       uint32 = 0x0031 // C→S GG_LOGIN80: pre-GG11 login with the GG32 or SHA-1 hash
	TypeLogin80OK     uint32 = 0x0035 // S→C GG_LOGIN80_OK: GG8 success, libgadu accepts it
	TypeLogin80Failed uint32 = 0x0043 // S→C GG_LOGIN80_FAILED: LoginFailed80Body; bad password
	TypeLogin105      uint32 = 0x0083 // C→S GG_LOGIN105: pb:GG105Login
	TypeLogin110OK    uint32 = 0x009D // S→C GG_LOGIN110_OK: pb:GG110LoginOK
	TypeIMToken       uint32 = 0x008C // S→C GG_IMTOKEN: pb:GG110Imtoken, right after login OK

	// Keep-alive and session end.
	TypePong          uint32 = 0x0007 // S→C GG_PONG: empty, legacy
	TypePing          uint32 = 0x0008 // C→S GG_PING: empty
	TypeDisconnecting uint32 = 0x000B // S→C GG_DISCONNECTING: empty; kicked (e.g. by another login)
	TypeSendMsgAck    uint32 = 0x0005 // S→C GG_SEND_MSG_ACK: SendMsgAck, the pre-GG11 receipt with a status
	TypeDisconnectAck uint32 = 0x000D // S→C GG_DISCONNECT_ACK: empty; answers a NOT_AVAIL status
	TypePong110       uint32 = 0x00A1 // S→C GG_PONG110: pb:GG110Pong
	TypeOwnDisconnect uint32 = 0x0062 // C→S GG_OWN_DISCONNECT: end another session of the same account (multilogon)

	// Own status and contacts' presence.
	TypeStatus80           uint32 = 0x0036 // S→C GG_STATUS80: one ContactStatus
	TypeNotifyReply80      uint32 = 0x0037 // S→C GG_NOTIFY_REPLY80: one or more ContactStatus
	TypeNewStatus80        uint32 = 0x0038 // C→S GG_NEW_STATUS80: NewStatus
	TypeUserData           uint32 = 0x0044 // S→C GG_USER_DATA: contact attributes (not encoded here)
	TypeNewStatus105       uint32 = 0x0063 // C→S GG_NEW_STATUS105: defined, never sent by libgadu 1.12
	TypeNotify105First     uint32 = 0x0077 // C→S GG_NOTIFY105_FIRST: notify list chunk, more follow
	TypeNotify105Last      uint32 = 0x0078 // C→S GG_NOTIFY105_LAST: last notify list chunk
	TypeNotify105ListEmpty uint32 = 0x0079 // C→S GG_NOTIFY105_LIST_EMPTY: empty; no contacts
	TypeAddNotify105       uint32 = 0x007B // C→S GG_ADD_NOTIFY105: one notify list entry
	TypeRemoveNotify105    uint32 = 0x007C // C→S GG_REMOVE_NOTIFY105: one notify list entry

	// Messages.
	TypeTypingNotify  uint32 = 0x0059 // both GG_TYPING_NOTIFICATION: Typing
	TypeSendMsg110    uint32 = 0x007D // C→S GG_SEND_MSG110: pb:GG110SendMessage
	TypeRecvMsg110    uint32 = 0x007E // S→C GG_RECV_MSG110: pb:GG110RecvMessage
	TypeRecvOwnMsg110 uint32 = 0x0082 // S→C GG_RECV_OWN_MSG110: pb:GG110RecvMessage, sent from another session
	TypeAck110        uint32 = 0x0086 // C→S GG_ACK110: pb:GG110Ack, for messages, MPA notifications…
	TypeSendMsgAck110 uint32 = 0x0087 // S→C GG_SEND_MSG_ACK110: pb:GG110MessageAck

	// Conference (not implemented by this project yet).
	TypeChatCreate  uint32 = 0x0047 // C→S GG_CHAT_CREATE
	TypeChatLeave   uint32 = 0x0052 // C→S GG_CHAT_LEAVE
	TypeChatRecvMsg uint32 = 0x0088 // S→C GG_CHAT_RECV_MSG: pb:GG110RecvMessage with chat_id
	TypeChatSendMsg uint32 = 0x008D // C→S GG_CHAT_SEND_MSG: pb:GG110SendMessage with chat_id
	TypeChatInvite  uint32 = 0x0090 // C→S GG_CHAT_INVITE

	// Contact-list import/export and public directory.
	TypePubdir50Request    uint32 = 0x0014 // C→S GG_PUBDIR50_REQUEST (same number as GG_NEED_EMAIL)
	TypeUserlist100Request uint32 = 0x0040 // C→S GG_USERLIST100_REQUEST: Userlist100
	TypeUserlist100Reply   uint32 = 0x0041 // S→C GG_USERLIST100_REPLY: Userlist100
	TypeUserlist100Version uint32 = 0x005C // S→C GG_USERLIST100_VERSION: UserlistVersion

	// Server notices after login (libgadu only logs them) and MPA.
	TypeMultilogonInfo    uint32 = 0x005B // S→C GG_MULTILOGON_INFO
	TypeUINInfo           uint32 = 0x007A // S→C GG_UIN_INFO
	TypeEvent110          uint32 = 0x0084 // S→C GG_EVENT110: pb:GG110Event, the MPA notification; acked with GG110Ack{MPA}
	TypeAccessInfo        uint32 = 0x008F // S→C GG_ACCESS_INFO: pb:GG110AccessInfo
	TypeOptions           uint32 = 0x009B // S→C GG_OPTIONS: pb:GG110Options
	TypeMagicNotification uint32 = 0x009F // S→C GG_MAGIC_NOTIFICATION: protobuf of unknown layout; acked
	TypeTransferInfo      uint32 = 0x00A0 // S→C GG_TRANSFER_INFO: pb:GG112TransferInfo; acked
)

var typeNames = map[uint32]string{
	TypeWelcome:            "GG_WELCOME",
	TypeLoginOK:            "GG_LOGIN_OK",
	TypeLoginFailed:        "GG_LOGIN_FAILED",
	TypeNeedEmail:          "GG_NEED_EMAIL/GG_PUBDIR50_REQUEST",
	TypeLoginHashType:      "GG_LOGIN_HASH_TYPE_INVALID",
	TypeLogin80:            "GG_LOGIN80",
	TypeLogin80OK:          "GG_LOGIN80_OK",
	TypeLogin80Failed:      "GG_LOGIN80_FAILED",
	TypeLogin105:           "GG_LOGIN105",
	TypeLogin110OK:         "GG_LOGIN110_OK",
	TypeIMToken:            "GG_IMTOKEN",
	TypePong:               "GG_PONG",
	TypePing:               "GG_PING",
	TypeDisconnecting:      "GG_DISCONNECTING",
	TypeSendMsgAck:         "GG_SEND_MSG_ACK",
	TypeDisconnectAck:      "GG_DISCONNECT_ACK",
	TypePong110:            "GG_PONG110",
	TypeOwnDisconnect:      "GG_OWN_DISCONNECT",
	TypeStatus80:           "GG_STATUS80",
	TypeNotifyReply80:      "GG_NOTIFY_REPLY80",
	TypeNewStatus80:        "GG_NEW_STATUS80",
	TypeUserData:           "GG_USER_DATA",
	TypeNewStatus105:       "GG_NEW_STATUS105",
	TypeNotify105First:     "GG_NOTIFY105_FIRST",
	TypeNotify105Last:      "GG_NOTIFY105_LAST",
	TypeNotify105ListEmpty: "GG_NOTIFY105_LIST_EMPTY",
	TypeAddNotify105:       "GG_ADD_NOTIFY105",
	TypeRemoveNotify105:    "GG_REMOVE_NOTIFY105",
	TypeTypingNotify:       "GG_TYPING_NOTIFICATION",
	TypeSendMsg110:         "GG_SEND_MSG110",
	TypeRecvMsg110:         "GG_RECV_MSG110",
	TypeRecvOwnMsg110:      "GG_RECV_OWN_MSG110",
	TypeAck110:             "GG_ACK110",
	TypeSendMsgAck110:      "GG_SEND_MSG_ACK110",
	TypeChatCreate:         "GG_CHAT_CREATE",
	TypeChatLeave:          "GG_CHAT_LEAVE",
	TypeChatRecvMsg:        "GG_CHAT_RECV_MSG",
	TypeChatSendMsg:        "GG_CHAT_SEND_MSG",
	TypeChatInvite:         "GG_CHAT_INVITE",
	TypeUserlist100Request: "GG_USERLIST100_REQUEST",
	TypeUserlist100Reply:   "GG_USERLIST100_REPLY",
	TypeUserlist100Version: "GG_USERLIST100_VERSION",
	TypeMultilogonInfo:     "GG_MULTILOGON_INFO",
	TypeUINInfo:            "GG_UIN_INFO",
	TypeEvent110:           "GG_EVENT110",
	TypeAccessInfo:         "GG_ACCESS_INFO",
	TypeOptions:            "GG_OPTIONS",
	TypeMagicNotification:  "GG_MAGIC_NOTIFICATION",
	TypeTransferInfo:       "GG_TRANSFER_INFO",
}

// KnownType reports whether t is a packet type libgadu names.
func KnownType(t uint32) bool {
	_, ok := typeNames[t]
	return ok
}

// TypeName returns libgadu's name for a packet type, or its number in hex.
func TypeName(t uint32) string {
	if name, ok := typeNames[t]; ok {
		return name
	}
	return fmt.Sprintf("0x%04x", t)
}
