/*
 * sipe_harness: a headless libpurple 2 client with the pidgin-sipe plugin
 * (prpl-sipe, Office Communicator / OCS 2007) for Crosstalk's interop
 * tests.
 *
 *   sipe_harness USERDIR PLUGINDIRS SERVER ADDRESS PASSWORD
 *
 * It keeps its libpurple state in USERDIR, loads protocol plugins from
 * PLUGINDIRS (colon-separated), and signs in ADDRESS (user@domain) with
 * the account options server=SERVER (host:port), transport=tcp and
 * authentication=ntlm. Buddies come from the server's contact list. One
 * line per event on stdout:
 *
 *   SIGNED_ON
 *   CONNECTION_ERROR <reason> <description>
 *   BUDDY <name> <status id> <status message>
 *   IM <sender> <flags> <message>
 *   TYPING <name>
 *   LIFETIME                     (gave up, see below)
 *
 * Free text is last on its line, with backslash and newlines escaped.
 * Commands on stdin, one per line, answered with "OK <verb>" or "ERR ...":
 *
 *   msg NAME TEXT       send an IM through a conversation, as a user would
 *   status ID [TEXT]    set the account's status (available, away, busy…)
 *                       with TEXT as its note
 *   quit                sign off and exit 0
 *
 * libpurple's debug output goes to stderr, with every SIP message
 * pidgin-sipe sends and receives. The program exits by itself
 * after SIPE_HARNESS_LIFETIME seconds (default 60).
 */
#include <glib.h>
#include <stdarg.h>
#include <purple.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UI_ID "crosstalk-interop"

static PurpleAccount *account;
static GMainLoop *loop;

static void out(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

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

/* escaped returns a newly allocated copy of s fit for one output line. */
static char *escaped(const char *s)
{
	GString *b = g_string_new(NULL);

	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '\\')
			g_string_append(b, "\\\\");
		else if (*s == '\n')
			g_string_append(b, "\\n");
		else if (*s == '\r')
			g_string_append(b, "\\r");
		else
			g_string_append_c(b, *s);
	}
	return g_string_free(b, FALSE);
}

/* --- libpurple's event loop on GLib's --- */

struct watch {
	PurpleInputFunction func;
	gpointer data;
};

static gboolean watch_fired(GIOChannel *ch, GIOCondition cond, gpointer data)
{
	struct watch *w = data;
	PurpleInputCondition pc = 0;

	if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR))
		pc |= PURPLE_INPUT_READ;
	if (cond & (G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL))
		pc |= PURPLE_INPUT_WRITE;
	w->func(w->data, g_io_channel_unix_get_fd(ch), pc);
	return TRUE;
}

static guint input_add(gint fd, PurpleInputCondition cond, PurpleInputFunction func, gpointer data)
{
	struct watch *w = g_new0(struct watch, 1);
	GIOCondition gc = 0;
	GIOChannel *ch;
	guint id;

	w->func = func;
	w->data = data;
	if (cond & PURPLE_INPUT_READ)
		gc |= G_IO_IN | G_IO_HUP | G_IO_ERR;
	if (cond & PURPLE_INPUT_WRITE)
		gc |= G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL;
	ch = g_io_channel_unix_new(fd);
	id = g_io_add_watch_full(ch, G_PRIORITY_DEFAULT, gc, watch_fired, w, g_free);
	g_io_channel_unref(ch);
	return id;
}

static PurpleEventLoopUiOps loop_ops = {
	.timeout_add = g_timeout_add,
	.timeout_remove = g_source_remove,
	.input_add = input_add,
	.input_remove = g_source_remove,
	.timeout_add_seconds = g_timeout_add_seconds,
};

static void debug_print(PurpleDebugLevel level, const char *category, const char *arg)
{
	fprintf(stderr, "[%d] %s: %s", (int)level, category ? category : "-", arg);
}

static gboolean debug_enabled(PurpleDebugLevel level, const char *category)
{
	return TRUE;
}

static PurpleDebugUiOps debug_ops = {
	.print = debug_print,
	.is_enabled = debug_enabled,
};

/* --- Signals --- */

static void signed_on(PurpleConnection *gc, gpointer data)
{
	out("SIGNED_ON");
}

static void connection_error(PurpleConnection *gc, PurpleConnectionError reason, const char *desc, gpointer data)
{
	char *d = escaped(desc);

	out("CONNECTION_ERROR %d %s", (int)reason, d);
	g_free(d);
}

static void buddy_state(PurpleBuddy *buddy)
{
	PurpleStatus *st = purple_presence_get_active_status(purple_buddy_get_presence(buddy));
	char *msg = escaped(purple_status_get_attr_string(st, "message"));

	out("BUDDY %s %s %s", purple_buddy_get_name(buddy), purple_status_get_id(st), msg);
	g_free(msg);
}

static void buddy_status_changed(PurpleBuddy *buddy, PurpleStatus *old, PurpleStatus *now, gpointer data)
{
	buddy_state(buddy);
}

static void buddy_signed(PurpleBuddy *buddy, gpointer data)
{
	buddy_state(buddy);
}

static void received_im(PurpleAccount *acct, char *sender, char *message, PurpleConversation *conv,
			PurpleMessageFlags flags, gpointer data)
{
	char *m = escaped(message);

	out("IM %s %d %s", sender, (int)flags, m);
	g_free(m);
}

static void buddy_typing(PurpleAccount *acct, const char *name, gpointer data)
{
	out("TYPING %s", name);
}

/* --- Commands --- */

static void command(char *line)
{
	char *rest = strchr(line, ' ');

	if (rest != NULL)
		*rest++ = '\0';
	if (strcmp(line, "quit") == 0) {
		out("OK quit");
		purple_account_set_enabled(account, UI_ID, FALSE);
		exit(0);
	} else if (strcmp(line, "msg") == 0 && rest != NULL && strchr(rest, ' ') != NULL) {
		char *text = strchr(rest, ' ');
		PurpleConversation *conv;

		*text++ = '\0';
		if (!purple_account_is_connected(account)) {
			out("ERR msg not connected");
			return;
		}
		conv = purple_find_conversation_with_account(PURPLE_CONV_TYPE_IM, rest, account);
		if (conv == NULL)
			conv = purple_conversation_new(PURPLE_CONV_TYPE_IM, account, rest);
		purple_conv_im_send(PURPLE_CONV_IM(conv), text);
		out("OK msg");
	} else if (strcmp(line, "status") == 0 && rest != NULL) {
		char *text = strchr(rest, ' ');

		if (text != NULL)
			*text++ = '\0';
		if (purple_account_get_status(account, rest) == NULL) {
			out("ERR status %s unknown", rest);
			return;
		}
		purple_account_set_status(account, rest, TRUE, "message", text ? text : "", NULL);
		out("OK status");
	} else {
		out("ERR %s unknown command", line);
	}
}

static gboolean stdin_ready(GIOChannel *ch, GIOCondition cond, gpointer data)
{
	char *line = NULL;
	gsize len = 0, term = 0;
	GIOStatus st = g_io_channel_read_line(ch, &line, &len, &term, NULL);

	if (st == G_IO_STATUS_EOF || st == G_IO_STATUS_ERROR)
		return FALSE;
	if (line != NULL) {
		line[term] = '\0';
		command(line);
		g_free(line);
	}
	return TRUE;
}

static gboolean lifetime_over(gpointer data)
{
	out("LIFETIME");
	exit(1);
	return FALSE;
}

int main(int argc, char **argv)
{
	PurpleSavedStatus *status;
	GIOChannel *in;
	const char *env;
	gchar **dirs;
	int i;

	if (argc != 6) {
		fprintf(stderr, "usage: %s USERDIR PLUGINDIRS SERVER ADDRESS PASSWORD\n", argv[0]);
		return 2;
	}
	loop = g_main_loop_new(NULL, FALSE);
	env = getenv("SIPE_HARNESS_LIFETIME");
	g_timeout_add_seconds(env ? atoi(env) : 60, lifetime_over, NULL);

	purple_util_set_user_dir(argv[1]);
	purple_debug_set_enabled(FALSE);	/* else it also prints to stdout */
	/* pidgin-sipe logs only when one of these is set; "unsafe" adds every
	 * SIP message it sends and receives. */
	purple_debug_set_verbose(TRUE);
	purple_debug_set_unsafe(TRUE);
	purple_debug_set_ui_ops(&debug_ops);
	purple_eventloop_set_ui_ops(&loop_ops);
	dirs = g_strsplit(argv[2], ":", 0);
	for (i = 0; dirs[i] != NULL; i++)
		purple_plugins_add_search_path(dirs[i]);
	g_strfreev(dirs);
	if (!purple_core_init(UI_ID)) {
		fprintf(stderr, "purple_core_init failed\n");
		return 1;
	}
	purple_set_blist(purple_blist_new());
	purple_blist_load();
	purple_prefs_load();
	if (purple_find_prpl("prpl-sipe") == NULL) {
		fprintf(stderr, "no prpl-sipe in %s\n", argv[2]);
		return 1;
	}

	purple_signal_connect(purple_connections_get_handle(), "signed-on", &account,
			      PURPLE_CALLBACK(signed_on), NULL);
	purple_signal_connect(purple_connections_get_handle(), "connection-error", &account,
			      PURPLE_CALLBACK(connection_error), NULL);
	purple_signal_connect(purple_blist_get_handle(), "buddy-signed-on", &account,
			      PURPLE_CALLBACK(buddy_signed), NULL);
	purple_signal_connect(purple_blist_get_handle(), "buddy-signed-off", &account,
			      PURPLE_CALLBACK(buddy_signed), NULL);
	purple_signal_connect(purple_blist_get_handle(), "buddy-status-changed", &account,
			      PURPLE_CALLBACK(buddy_status_changed), NULL);
	purple_signal_connect(purple_conversations_get_handle(), "received-im-msg", &account,
			      PURPLE_CALLBACK(received_im), NULL);
	purple_signal_connect(purple_conversations_get_handle(), "buddy-typing", &account,
			      PURPLE_CALLBACK(buddy_typing), NULL);

	account = purple_account_new(argv[4], "prpl-sipe");
	purple_account_set_password(account, argv[5]);
	purple_account_set_string(account, "server", argv[3]);
	purple_account_set_string(account, "transport", "tcp");
	purple_account_set_string(account, "authentication", "ntlm");
	/* No calendar: no Exchange autodiscovery over HTTP. */
	purple_account_set_bool(account, "dont-publish", TRUE);
	purple_accounts_add(account);

	purple_account_set_enabled(account, UI_ID, TRUE);
	status = purple_savedstatus_new(NULL, PURPLE_STATUS_AVAILABLE);
	purple_savedstatus_activate(status);

	in = g_io_channel_unix_new(0);
	g_io_add_watch(in, G_IO_IN | G_IO_HUP | G_IO_ERR, stdin_ready, NULL);
	g_main_loop_run(loop);
	return 0;
}
