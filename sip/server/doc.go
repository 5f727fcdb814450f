// Package server is Crosstalk's Office Communications Server 2007 R2
// front end: SIP over TCP or TLS as Office Communicator and pidgin-sipe
// 1.25 speak it, over the protocol-neutral hub. An account signs in as
// sip:<its e-mail>; contacts are named by their e-mail addresses too.
// Framing is package wire's, NTLM and the message signatures package
// ntlm's. The facts pidgin-sipe expects are gathered in the project's
// spec/sip.md; where the specifications leave a choice, this is ours:
//
// Sign-in:
//   - Three REGISTERs on one Call-ID: the first, without Authorization,
//     gets 401 offering only NTLM (realm "SIP Communications Service",
//     Config.TargetName, version 4), since pidgin-sipe takes the first
//     scheme it knows; the one with an empty gssapi-data gets 401 with a
//     connectionless NTLMv2 CHALLENGE and a fresh opaque value; the one
//     with the AUTHENTICATE is checked against the stored password and
//     must itself be signed. Success is 200 with Expires
//     (Config.RegisterExpires), the client's Contact with a gruu, one
//     Supported line each for adhoclist and msrtc-event-categories (OCS
//     2007 mode), Allow-Events without blanks, ms-keep-alive with
//     timeout=Config.KeepAlive and Server: RTC/3.5 (a major version of 6
//     or more would put pidgin-sipe in Skype for Business mode).
//   - The account is found by the From address of the REGISTER; the NTLM
//     user and domain only enter the hash, as Windows clients send
//     "DOMAIN\user" and pidgin-sipe the address itself.
//   - A wrong password is 401 (pidgin-sipe does not retry NTLM and says
//     authentication failed), an unknown account 404, a sign-in held back
//     by the login guard 401 with an ms-diagnostics reason saying to try
//     later, a client that cannot sign (no key exchange, NTLMv1) 403.
//   - Once signed in, every message we send is signed (Authentication-
//     Info with rspauth, srand, snum, opaque, targetname, realm), and every
//     request and response from the client must be: a request without a
//     good signature gets 401 (pidgin-sipe signs it again), and after
//     maxBadSignatures of them the client is dropped; an unsigned response
//     is ignored.
//   - A signed REGISTER renews the registration; with Expires: 0 it signs
//     out (200, then the connection closes). A new NTLM handshake on a
//     signed-in connection replaces the keys, for the same account only.
//   - Keep-alives (CRLF CRLF) get a CRLF back. A signed-in connection
//     silent for Config.IdleTimeout, or whose registration lapsed, and
//     one not signed in after Config.LoginTimeout, is closed; a signed-in
//     one is first told it is deregistered (a registration-notify
//     BENOTIFY with an ms-diagnostics reason), as it is when a newer SIP
//     sign-in of the account takes over and at shutdown.
//
// After sign-in:
//   - The session is attached to the hub invisible, and shows as the
//     client publishes: the state the user chose (userState), else the
//     machine's, mapped with pidgin-sipe's availability thresholds
//     (3000–4499 online, 4500–5999 idle, busy, "on-the-phone" activity →
//     phone, be right back, away, "out-to-lunch" → lunch, 18000 and up →
//     invisible), with the note as status text (at most MaxNoteBytes).
//   - vnd-microsoft-roaming-contacts is answered with the forward list and
//     its groups (group 0 is "~", Other Contacts; hub group n is id n+1)
//     piggy-backed on the 200; vnd-microsoft-roaming-self with no
//     categories, no containers and the people who added the account and
//     got no answer (pidgin-sipe asks the user about them, and its
//     setSubscribers acknowledgement puts them on the allow list);
//     vnd-microsoft-provisioning-v2 with an empty 200. After a contact
//     list change the whole list is sent again, and after someone adds
//     the account, roaming-self again.
//   - Presence subscriptions (a batchSub to the client's own URI) get 200,
//     then one BENOTIFY per contact with its categories (state with an
//     aggregate availability, note, contact card), and one per change.
//     BENOTIFY, which pidgin-sipe does not answer, carries everything we
//     push.
//   - Contact list SOAP (setContact, deleteContact, addGroup, modifyGroup,
//     deleteGroup) changes the hub's forward list and groups; a member
//     added to the blocked container (32000) is blocked, one added to any
//     other container or removed from the blocked one unblocked.
//
// Messages:
//   - The client's INVITE to a contact who cannot be reached (offline,
//     invisible, blocking or blocked) is 480, as OCS answers: there are no
//     offline messages from OCS clients, and pidgin-sipe then says the
//     contact is offline. Otherwise the session starts, the text of the
//     INVITE's ms-text-format goes at once, and the 200 says so
//     (Supported: ms-text-format) so it is not sent again. A MESSAGE in a
//     session whose contact went offline is 480 too (the client drops the
//     session, INVITEs again and hears 480); one the contact does not
//     accept is 403, one for a full mailbox 503. HTML is reduced to text;
//     file transfer invitations (text/x-msmsgsinvite) are taken as Files
//     below, other content types are 415.
//   - A contact's message goes in the newest IM session with that contact,
//     or in a new one we INVITE the client to; messages wait for its 200.
//     A message counts as delivered once queued; if the client never
//     answers (Config.TransactionTimeout, after which the connection is
//     dropped) or the connection ends first, it goes back to the mailbox;
//     a client that refuses it (an error answer) is counted (message
//     outcome "refused"), since bringing it again would only be refused
//     again. Stored messages are brought at sign-in the same way and leave
//     the mailbox when the client answers 200.
//   - At most Config.MaxDialogs IM sessions per connection; past it the
//     one idle longest ends (BYE) to make room, and a client INVITE is 503.
//   - Typing comes and goes as INFO with KeyboardActivity (and
//     im-iscomposing MESSAGEs from the client).
//
// Files (files.go), as OCS 2007 carried them (spec/sip.md section 5; the
// invitation is package msnp/invite's, the transfer msnp/msnftp's, its
// encryption msnp/secureftp's):
//   - Invitations travel as in-session MESSAGEs of text/x-msmsgsinvite
//     with the bare "Name: value" body (200 to each; a body without
//     command or cookie is 400). A client's INVITE whose ms-text-format is
//     an invitation starts the session without taking it (no Supported:
//     ms-text-format), so the client sends it again as a MESSAGE.
//   - The server always stands in for the contact; nothing goes from
//     client to client. A client's file for a contact online only through
//     GG becomes a drive ticket, accepted once the contact allows it
//     (rejected: CANCEL REJECT; unanswered in Config.FileAnswerTimeout:
//     TIMEOUT); for a contact online elsewhere it is accepted at once,
//     kept in the drive, and handed on by the drive (an offer over MSN or
//     SIP, a download link over MySpaceIM and IMIP); for an offline
//     contact, without Config.Files, or with another Application-GUID it
//     is CANCEL REJECT_NOT_INSTALLED; larger than the drive takes, or
//     failing, CANCEL FAIL; past Config.MaxFileTransfers invitations on
//     the connection, CANCEL REJECT. A client asking for encryption
//     (Encryption: R or S) gets fresh 24-byte keys in the ACCEPT and
//     speaks MSN_SECURE_FTP; without it, plain MSNFTP (Communicator with
//     AllowUnencryptedFileTransfer).
//   - The server's ACCEPT always names a port it opens (IP-Address, Port,
//     AuthCookie, Sender-Connect: TRUE) on the address the client reached
//     it at, or, behind NAT, at Config.FileHost (the port then listens on
//     every address), whether or not the client said Connectivity: N:
//     pidgin-sipe, when it listens itself, accepts a blocking socket and then waits,
//     before every block, for the receiver to speak. USR must name the
//     contact's address, as pidgin-sipe checks it against its session.
//     The port takes connections only from the address of the client's
//     SIP connection (others are closed): a receiver has no other way to
//     tell its sender, and plain MSNFTP no MAC.
//   - A file for the client (the drive's hub event, from any node) is
//     offered from its sender in their IM session, with Encryption: R and
//     without Connectivity; the client's ACCEPT with keys (pidgin-sipe's
//     always have them) makes it MSN_SECURE_FTP, one without plain
//     MSNFTP. The server connects to the port the ACCEPT names, on the
//     address the client's SIP connection comes from (never IP-Address),
//     or, when it names none, opens one and says so in its own ACCEPT.
//     CANCEL REJECT is a decline for the drive (the ticket is rejected);
//     no answer in Config.FileAnswerTimeout is CANCEL TIMEOUT to the
//     client.
//   - An MSN or SIP recipient answers a client's file only once the drive
//     keeps it, after the client's transfer ended: when they refuse it
//     (the drive's ticket-changed notice), the client gets CANCEL REJECT
//     for it then, for the last rememberedFiles files of the connection.
//     pidgin-sipe ignores it, its transfer being over.
//   - Config.FileLegTimeout bounds the wait for a connection and every
//     step of a transfer. pidgin-sipe 1.25 on libpurple 2.14 never sends
//     BYE for a file it received (libpurple leaves ending the transfer to
//     it, and it does not), though the whole file is on its disk: such a
//     transfer fails after FileLegTimeout. A client's CANCEL stops a
//     waiting or running transfer without a CANCEL back; a failure the
//     client cannot know of otherwise is a CANCEL with FAIL, FTTIMEOUT or
//     TIMEOUT.
//
// Bad input: a message the framing cannot take (syntax, over a limit of
// Config.Limits) closes the connection; a request without Call-ID, From,
// To or a CSeq matching its method is 400; a request before sign-in 403;
// unknown methods 501, unknown events 489, in-dialog requests outside a
// dialog 481.
//
// An idle session costs its socket, the session's record and
// subscriptions, and one goroutine with a small stack that waits for the
// socket to be readable holding no read buffer (internal/idleread; over
// TLS, whose buffers may already hold what comes next, it waits in a read
// instead). Reading, sign-in with its NTLM and database work, and every
// handler run on shared workers (internal/offstack), so that no deep call
// leaves its stack behind on the connection's goroutine.
package server
