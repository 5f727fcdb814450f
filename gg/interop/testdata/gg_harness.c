/*
 * gg_harness: a scriptable libgadu client for Crosstalk's interop tests.
 *
 *   gg_harness HOST PORT UIN PASSWORD [COMMAND...]
 *
 * It logs in with protocol 11 (GG_LOGIN105, SHA-1 hash, UTF-8) to HOST:PORT
 * and prints one line per libgadu event on stdout, e.g.
 *
 *   EVENT CONN_SUCCESS
 *   EVENT IMTOKEN <token>
 *   EVENT NOTIFY60 <uin> <status> <descr>
 *   EVENT STATUS60 <uin> <status> <descr>
 *   EVENT MSG <sender> <seq> <class> <text>
 *   EVENT ACK110 <msg_type> <seq>
 *   EVENT TYPING <uin> <length>
 *   EVENT PONG110
 *   EVENT JSON_EVENT <subtype> <data>
 *   EVENT CONN_FAILED <failure number>
 *   EVENT DISCONNECT / DISCONNECT_ACK / OTHER <type>
 *
 * Free text is printed last on its line with backslash and newline escaped,
 * so a reader splits on the first spaces only. Commands come from the
 * extra arguments (run once the login succeeded) and then from stdin, one
 * per line:
 *
 *   notify [UIN...]       send the contact list (empty list is allowed)
 *   add UIN               add one contact
 *   msg UIN TEXT          send a message; prints "SENT <seq>"
 *   typing UIN LENGTH     typing notification
 *   status CODE [DESCR]   change status (GG_STATUS_* number)
 *   ping                  GG_PING
 *   quit                  log off and exit 0
 *
 * Every command is answered with "OK <command>" or "ERR <command> ..." so
 * the driving test can tell it was taken. Set GG_HARNESS_DEBUG=1 for
 * libgadu's own debug output on stderr. The process exits by itself after
 * GG_HARNESS_LIFETIME seconds (default 60), so a lost test cannot leave it
 * running.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgadu.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static struct gg_session *sess;
static int connected;

/* out prints one line and flushes: the test reads it through a pipe. */
static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* escaped returns s with backslashes and line breaks escaped, so free text
 * stays on its line. The result is static: use it once per out() call. */
static const char *escaped(const char *s)
{
	static char buf[65536];
	size_t n = 0;

	if (s == NULL)
		return "";
	for (; *s != '\0' && n < sizeof(buf) - 3; s++) {
		switch (*s) {
		case '\\': buf[n++] = '\\'; buf[n++] = '\\'; break;
		case '\n': buf[n++] = '\\'; buf[n++] = 'n'; break;
		case '\r': buf[n++] = '\\'; buf[n++] = 'r'; break;
		default: buf[n++] = *s;
		}
	}
	buf[n] = '\0';
	return buf;
}

static void report(struct gg_event *e)
{
	union gg_event_union *u = &e->event;
	int i;

	switch (e->type) {
	case GG_EVENT_NONE:
		break;
	case GG_EVENT_CONN_SUCCESS:
		connected = 1;
		out("EVENT CONN_SUCCESS");
		break;
	case GG_EVENT_CONN_FAILED:
		out("EVENT CONN_FAILED %d", (int)u->failure);
		break;
	case GG_EVENT_IMTOKEN:
		out("EVENT IMTOKEN %s", escaped(u->imtoken.imtoken));
		break;
	case GG_EVENT_NOTIFY60:
		/* An array ended by an entry with uin 0. */
		for (i = 0; u->notify60[i].uin != 0; i++)
			out("EVENT NOTIFY60 %u %d %s", (unsigned)u->notify60[i].uin,
			    u->notify60[i].status, escaped(u->notify60[i].descr));
		break;
	case GG_EVENT_STATUS60:
		out("EVENT STATUS60 %u %d %s", (unsigned)u->status60.uin,
		    u->status60.status, escaped(u->status60.descr));
		break;
	case GG_EVENT_MSG:
		out("EVENT MSG %u %u %d %s", (unsigned)u->msg.sender,
		    (unsigned)u->msg.seq, u->msg.msgclass,
		    escaped((const char *)u->msg.message));
		break;
	case GG_EVENT_ACK110:
		out("EVENT ACK110 %u %u", (unsigned)u->ack110.msg_type,
		    (unsigned)u->ack110.seq);
		break;
	case GG_EVENT_ACK:
		/* Raised next to ACK110 in GG_COMPAT_LEGACY mode. */
		out("EVENT ACK %u %d %d", (unsigned)u->ack.recipient,
		    u->ack.status, u->ack.seq);
		break;
	case GG_EVENT_TYPING_NOTIFICATION:
		out("EVENT TYPING %u %d", (unsigned)u->typing_notification.uin,
		    u->typing_notification.length);
		break;
	case GG_EVENT_PONG110:
		out("EVENT PONG110");
		break;
	case GG_EVENT_PONG:
		out("EVENT PONG");
		break;
	case GG_EVENT_JSON_EVENT:
		out("EVENT JSON_EVENT %s %s", u->json_event.type ? u->json_event.type : "-",
		    escaped(u->json_event.data));
		break;
	case GG_EVENT_DISCONNECT:
		out("EVENT DISCONNECT");
		break;
	case GG_EVENT_DISCONNECT_ACK:
		out("EVENT DISCONNECT_ACK");
		break;
	default:
		out("EVENT OTHER %d", e->type);
	}
}

/* command runs one command line; it is modified in place. */
static void command(char *line)
{
	char *verb = strtok(line, " ");
	char *rest = strtok(NULL, "");	/* everything after the verb */
	uin_t uin;
	int r = 0;

	if (verb == NULL)
		return;
	if (strcmp(verb, "quit") == 0) {
		out("OK quit");
		if (connected)
			gg_logoff(sess);
		gg_free_session(sess);
		exit(0);
	}
	if (!connected) {
		out("ERR %s not connected", verb);
		return;
	}
	if (strcmp(verb, "notify") == 0) {
		uin_t list[256];
		int n = 0;
		char *tok;

		for (tok = strtok(rest, " "); tok != NULL && n < 256; tok = strtok(NULL, " "))
			list[n++] = strtoul(tok, NULL, 10);
		/* With n == 0 libgadu sends GG_NOTIFY105_LIST_EMPTY. */
		r = gg_notify(sess, n > 0 ? list : NULL, n);
	} else if (strcmp(verb, "add") == 0 && rest != NULL) {
		r = gg_add_notify(sess, strtoul(rest, NULL, 10));
	} else if (strcmp(verb, "msg") == 0 && rest != NULL) {
		char *text = strchr(rest, ' ');

		uin = strtoul(rest, NULL, 10);
		text = text ? text + 1 : "";
		r = gg_send_message(sess, GG_CLASS_CHAT, uin, (const unsigned char *)text);
		if (r >= 0)
			out("SENT %d", r);
	} else if (strcmp(verb, "typing") == 0 && rest != NULL) {
		char *len = strchr(rest, ' ');

		uin = strtoul(rest, NULL, 10);
		r = gg_typing_notification(sess, uin, len ? atoi(len + 1) : 0);
	} else if (strcmp(verb, "status") == 0 && rest != NULL) {
		char *descr = strchr(rest, ' ');
		int code = atoi(rest);

		r = descr ? gg_change_status_descr(sess, code, descr + 1)
			  : gg_change_status(sess, code);
	} else if (strcmp(verb, "ping") == 0) {
		r = gg_ping(sess);
	} else {
		out("ERR %s unknown command", verb);
		return;
	}
	if (r < 0)
		out("ERR %s %s", verb, strerror(errno));
	else
		out("OK %s", verb);
}

/* stdin_lines feeds complete lines read from stdin to command(). It returns
 * 0 at end of input. */
static int stdin_lines(void)
{
	static char buf[65536];
	static size_t used;
	ssize_t n = read(0, buf + used, sizeof(buf) - 1 - used);
	char *start, *nl;

	if (n <= 0)
		return 0;
	used += n;
	buf[used] = '\0';
	start = buf;
	while ((nl = strchr(start, '\n')) != NULL) {
		*nl = '\0';
		if (nl > start && nl[-1] == '\r')
			nl[-1] = '\0';
		command(start);
		start = nl + 1;
	}
	used -= start - buf;
	memmove(buf, start, used);
	if (used == sizeof(buf) - 1)
		used = 0;	/* an over-long line: drop it */
	return 1;
}

int main(int argc, char **argv)
{
	struct gg_login_params p;
	struct in_addr addr;
	char **script = argv + 5;
	int scriptlen = argc - 5, stdin_open = 1;
	const char *env;
	time_t give_up;

	if (argc < 5) {
		fprintf(stderr, "usage: %s HOST PORT UIN PASSWORD [COMMAND...]\n", argv[0]);
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &addr) != 1) {
		fprintf(stderr, "HOST must be an IPv4 address\n");
		return 2;
	}
	env = getenv("GG_HARNESS_DEBUG");
	if (env != NULL && *env != '\0' && strcmp(env, "0") != 0)
		gg_debug_level = 255;	/* libgadu writes its debug to stderr */
	env = getenv("GG_HARNESS_LIFETIME");
	give_up = time(NULL) + (env ? atoi(env) : 60);

	memset(&p, 0, sizeof(p));
	p.struct_size = sizeof(p);
	p.uin = strtoul(argv[3], NULL, 10);
	p.password = argv[4];
	p.async = 1;	/* we need the failure reason, which sync login loses */
	p.status = GG_STATUS_AVAIL;
	p.protocol_version = GG_PROTOCOL_VERSION_110;
	p.hash_type = GG_LOGIN_HASH_SHA1;
	p.encoding = GG_ENCODING_UTF8;
	p.protocol_features = GG_FEATURE_ALL;
	p.compatibility = GG_COMPAT_1_12_0;	/* no legacy GG_EVENT_ACK duplicates */
	/* With an address and a port set libgadu dials exactly that: no hub
	 * lookup at appmsg.gadu-gadu.pl, no fallback to port 443. */
	p.server_addr = addr.s_addr;
	p.server_port = atoi(argv[2]);

	sess = gg_login(&p);
	if (sess == NULL) {
		out("EVENT CONN_FAILED -1");
		return 1;
	}

	for (;;) {
		fd_set rd, wr;
		struct timeval tv = { 1, 0 };	/* wake up to check the lifetime */
		int maxfd = 0, r;

		if (time(NULL) > give_up) {
			out("EVENT LIFETIME");
			return 1;
		}
		FD_ZERO(&rd);
		FD_ZERO(&wr);
		if (stdin_open) {
			FD_SET(0, &rd);
		}
		/* The watched descriptor can change while connecting. */
		if (sess->fd >= 0) {
			if (sess->check & GG_CHECK_READ)
				FD_SET(sess->fd, &rd);
			if (sess->check & GG_CHECK_WRITE)
				FD_SET(sess->fd, &wr);
			maxfd = sess->fd;
		}
		r = select(maxfd + 1, &rd, &wr, NULL, &tv);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("select");
			return 1;
		}
		if (sess->fd >= 0 && (FD_ISSET(sess->fd, &rd) || FD_ISSET(sess->fd, &wr))) {
			struct gg_event *e = gg_watch_fd(sess);
			int last;

			if (e == NULL) {
				out("EVENT CONN_LOST");
				return 1;
			}
			/* After these the server closes the connection: we are done. */
			last = e->type == GG_EVENT_CONN_FAILED || e->type == GG_EVENT_DISCONNECT ||
				 e->type == GG_EVENT_DISCONNECT_ACK;
			report(e);
			if (e->type == GG_EVENT_CONN_SUCCESS) {
				int i;

				for (i = 0; i < scriptlen; i++) {
					char *line = strdup(script[i]);

					command(line);
					free(line);
				}
			}
			if (last) {
				int code = e->type == GG_EVENT_CONN_FAILED;

				gg_event_free(e);
				gg_free_session(sess);
				return code;
			}
			gg_event_free(e);
		}
		if (stdin_open && FD_ISSET(0, &rd) && !stdin_lines())
			stdin_open = 0;	/* the test closed our input: keep going */
	}
}
