// Package wire frames IMUnified (IMIP/1.0) blocks, the protocol the Yahoo!
// Messenger IMIP client spoke to Odigo's server on TCP port 11319, and holds
// its vocabulary: block types, header names, presence values, ACK codes,
// LIST subcommands, the imip-md5 login hash, the MESG time format and the
// "number "nick"" addresses. It keeps no protocol state; the client (and
// server) packages decide what a block means. Decoders never panic on any
// input.
//
// # Framing
//
//	<TYPE>[ <arg>...]CRLF
//	<decimal length>CRLF
//	<Name>: <value>CRLF        zero or more
//	CRLF                       the blank line, optional
//	<body>                     optional, not CRLF-terminated
//
// The length counts every byte after the CRLF of the length line: the
// header lines with their CRLFs, the blank line when present, the body.
// Headers end at the first empty line or at the end of the counted bytes;
// the rest is the body. The next block starts right after the counted
// bytes. Every block carries "ID: <n>"; an answer carries
// "Reference: <ID it answers>". Known sources: Matthias Wimmer's notes and
// captured sessions (2002), see /work/shared/spec/imip.md and seed 004.
//
// # Choices where the sources are silent
//
// These are ours. Each is what a client or server of 2002 would most
// plausibly accept, leaning to lenient reading and canonical writing.
//
// Framing:
//   - Text is UTF-8 and lengths count bytes.
//   - The blank line: Block.Blank says whether it is sent without a body.
//     The client package always sends it (as the Yahoo! client did); a
//     server should omit it when the body is empty (as Odigo did). Readers
//     accept both.
//   - Lenient reading: empty lines before a type line are skipped (a peer
//     that ends a body with an uncounted CRLF), lines may end in a bare LF,
//     runs of spaces in the type line count as one, "Name:value" without a
//     space is accepted, leading spaces and tabs of a value are dropped,
//     surrounding spaces of the length line are ignored. Header names are
//     kept as sent; Block.Get compares them case-insensitively.
//   - Strict reading: a length that is not a decimal number, or whose
//     bytes end inside a header line (too short), is a *LengthError; a line
//     in the header section that is not "Name: value" (often the next
//     block's type line swallowed by a length that is too long) is a
//     *SyntaxError; a bare CR inside a line is a *SyntaxError. Both wrap
//     ErrMalformed, and the connection should be dropped after them.
//   - Limits: DefaultMaxBlock (64 KiB) for the counted bytes, DefaultMaxLine
//     (1024) for the type and length lines; above them, *TooLargeError
//     without reading further.
//   - Type line arguments are split at spaces, but a double-quoted span
//     is kept together, so `LIST ACCEPT 1234567 "Nick Name"` has the three
//     arguments ACCEPT, 1234567 and "Nick Name" (quotes included). The block
//     type may not contain a quote.
//   - Writing refuses (ErrInvalid) what would not read back the same: CR or
//     LF in a header value, a header name that is empty or has a colon,
//     space or control character, an argument that would split differently.
//   - IDs and References are decimal uint32; "+5" is not a number.
//
// Vocabulary:
//   - imip-md5 is lowercase hex MD5 of the salt, exactly as the body of the
//     server's HELO (not trimmed), directly followed by the password bytes
//     as given; the seed's worked example (salt 1919833824, password
//     Passwort → 3da461811be2c27177eeb8d3c81bb016) fixes the order.
//     CheckLoginHash also accepts upper-case hex.
//   - ACK codes follow Wimmer's observations (seed 004), which the spec's
//     guessed meanings contradict: 800 STAT without status, 801 STAT with
//     an unknown status, 810 wrong password, 811 unknown user (at login or
//     as a MESG recipient). Generalised: 800 for a missing argument or
//     header (or an unknown block type), 801 for an invalid value, 811 for
//     any unknown user (LIST too). 812 "not logged in" is ours (80x request
//     errors, 81x authentication/session errors). Any code other than 600
//     is a failure of the referenced block.
//   - Presence values are ONLINE, AWAY, BUSY, OFFLINE (from a client:
//     invisible). ParseStatus ignores case; anything else is for ACK 801.
//   - The server MESG carries "Time: yyyy-mm-ddThh:mm:ssZ" (TimeLayout, UTC,
//     seconds), as the seed shows, on live and stored messages alike; the
//     spec's "Date" (RFC 1123) proposal is superseded, though the client
//     reads a Date header when there is no Time.
//   - Addresses are `number "nick"`. There is no escape for quotes: a
//     parser takes the nickname between the first and the last quote after
//     the number; FormatAddress turns a quote in a nickname into an
//     apostrophe and control characters into spaces. User ids are any token
//     without spaces, control characters, quotes or commas (Odigo's were
//     digits).
//   - The Buddy header of the server's LOGN is a list of addresses
//     separated by commas outside quotes; we write ", " and read with or
//     without spaces, skipping empty entries.
//
// Session layouts (used by package client; a server should accept them):
//   - Client blocks have ID as the first header, counted from 1001, and
//     always the blank line. HELO: Protocol. LOGN <user>: Client, Auth-Type,
//     body = hash. STAT <status>: body = optional status text. PING, DISC:
//     nothing else. MESG: To, ACK-Type: errors-only, From (self), body.
//     LIST ADD <user>: List: Buddy, From (self), body = optional request
//     text. LIST ACCEPT <user> "<nick>": From (self); the nickname as the
//     request carried it, left out when there was none. LIST REJECT <user>:
//     From (self). LIST REMOVE <user>: List: Buddy, From (self). "From" in
//     the LIST blocks is read as our own number, as in LIST ADD.
//   - Every client block except an errors-only MESG is answered with an ACK
//     (LIST REJECT too, which the seed does not show); LOGN is answered with
//     the LOGN echo (optionally with Buddy) or an error ACK, after which the
//     client hangs up. A MESG without ACK-Type is acknowledged with 600.
//   - A server LIST ADD without a user is a subscription request (From
//     `number "nick"`, List, body = text). A server LIST block naming a user
//     (in the type line or From) reports a list change; the client reports
//     the first non-OFFLINE STAT from a user it added as consent.
//   - Keep-alive: the client PINGs every Keep-Alive seconds from the
//     server's HELO after login; a missing or unreadable Keep-Alive counts
//     as 60 (Odigo's), 0 as none. The client answers a server PING with
//     ACK 600 although Odigo never sent one. A server DISC may carry a
//     reason as its body.
//   - An Auth-Type missing from the server's HELO is taken as imip-md5.
package wire
