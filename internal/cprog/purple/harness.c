/* harness.c: see harness.h. */
#include "harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static PurpleAccount *account;
static harness_command own_command;

void harness_out(const char *fmt, ...)
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

/* --- The event loop: libpurple asks its UI for timers and fd watches;
 * GLib's main loop provides both. --- */

struct watch {
	PurpleInputFunction func;
	gpointer data;
};

static gboolean watch_fired(GIOChannel *ch, GIOCondition cond, gpointer data)
{
	struct watch *w = data;
	PurpleInputCondition pc = 0;

	/* Errors and hang-ups are reported as readable/writable, so the
	 * plugin's read or write sees them and fails properly. */
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

/* Debug output to stderr, where the test keeps it for failure reports;
 * stdout is only for events. */
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
	harness_out("SIGNED_ON");
}

static void connection_error(PurpleConnection *gc, PurpleConnectionError reason, const char *desc, gpointer data)
{
	char *d = escaped(desc);

	harness_out("CONNECTION_ERROR %d %s", (int)reason, d);
	g_free(d);
}

static void buddy_state(PurpleBuddy *buddy)
{
	PurpleStatus *st = purple_presence_get_active_status(purple_buddy_get_presence(buddy));
	char *msg = escaped(purple_status_get_attr_string(st, "message"));

	harness_out("BUDDY %s %s %s", purple_buddy_get_name(buddy), purple_status_get_id(st), msg);
	g_free(msg);
}

static void buddy_signed(PurpleBuddy *buddy, gpointer data)
{
	buddy_state(buddy);
}

static void buddy_status_changed(PurpleBuddy *buddy, PurpleStatus *old, PurpleStatus *now, gpointer data)
{
	buddy_state(buddy);
}

static void received_im(PurpleAccount *acct, char *sender, char *message, PurpleConversation *conv,
			PurpleMessageFlags flags, gpointer data)
{
	char *m = escaped(message);

	harness_out("IM %s %d %s", sender, (int)flags, m);
	g_free(m);
}

static void buddy_typing(PurpleAccount *acct, const char *name, gpointer data)
{
	harness_out("TYPING %s", name);
}

/* --- Commands --- */

static void command(char *line)
{
	char *rest = strchr(line, ' ');

	if (rest != NULL)
		*rest++ = '\0';
	if (strcmp(line, "quit") == 0) {
		harness_out("OK quit");
		/* Disconnecting makes the plugin sign off. */
		purple_account_set_enabled(account, HARNESS_UI_ID, FALSE);
		exit(0);
	} else if (strcmp(line, "msg") == 0 && rest != NULL && strchr(rest, ' ') != NULL) {
		char *text = strchr(rest, ' ');
		PurpleConversation *conv;

		*text++ = '\0';
		if (!purple_account_is_connected(account)) {
			harness_out("ERR msg not connected");
			return;
		}
		conv = purple_find_conversation_with_account(PURPLE_CONV_TYPE_IM, rest, account);
		if (conv == NULL)
			conv = purple_conversation_new(PURPLE_CONV_TYPE_IM, account, rest);
		/* The text goes in as the conversation window's HTML would. */
		purple_conv_im_send(PURPLE_CONV_IM(conv), text);
		harness_out("OK msg");
	} else if (own_command == NULL || !own_command(account, line, rest)) {
		harness_out("ERR %s unknown command", line);
	}
}

static gboolean stdin_ready(GIOChannel *ch, GIOCondition cond, gpointer data)
{
	char *line = NULL;
	gsize len = 0, term = 0;
	GIOStatus st = g_io_channel_read_line(ch, &line, &len, &term, NULL);

	if (st == G_IO_STATUS_EOF || st == G_IO_STATUS_ERROR)
		return FALSE;	/* the test closed our input: keep going */
	if (line != NULL) {
		line[term] = '\0';
		command(line);
		g_free(line);
	}
	return TRUE;
}

static gboolean lifetime_over(gpointer data)
{
	harness_out("LIFETIME");
	exit(1);
	return FALSE;
}

void harness_init(const char *userdir, const char *plugindirs, const char *prpl_id, gboolean verbose)
{
	gchar **dirs;
	int i;

	/* Everything libpurple saves (accounts.xml, blist.xml…) stays in the
	 * test's temporary directory. */
	purple_util_set_user_dir(userdir);
	purple_debug_set_enabled(FALSE);	/* else it also prints to stdout */
	purple_debug_set_verbose(verbose);
	purple_debug_set_unsafe(verbose);
	purple_debug_set_ui_ops(&debug_ops);
	purple_eventloop_set_ui_ops(&loop_ops);
	dirs = g_strsplit(plugindirs, ":", 0);
	for (i = 0; dirs[i] != NULL; i++)
		purple_plugins_add_search_path(dirs[i]);
	g_strfreev(dirs);
	if (!purple_core_init(HARNESS_UI_ID)) {
		fprintf(stderr, "purple_core_init failed\n");
		exit(1);
	}
	purple_set_blist(purple_blist_new());
	purple_blist_load();
	purple_prefs_load();
	if (purple_find_prpl(prpl_id) == NULL) {
		fprintf(stderr, "no %s in %s\n", prpl_id, plugindirs);
		exit(1);
	}
}

void harness_run(PurpleAccount *acct, harness_command own, int lifetime)
{
	void *handle = &account;
	GMainLoop *loop = g_main_loop_new(NULL, FALSE);
	GIOChannel *in;

	account = acct;
	own_command = own;
	g_timeout_add_seconds(lifetime, lifetime_over, NULL);
	purple_signal_connect(purple_connections_get_handle(), "signed-on", handle,
			      PURPLE_CALLBACK(signed_on), NULL);
	purple_signal_connect(purple_connections_get_handle(), "connection-error", handle,
			      PURPLE_CALLBACK(connection_error), NULL);
	purple_signal_connect(purple_blist_get_handle(), "buddy-signed-on", handle,
			      PURPLE_CALLBACK(buddy_signed), NULL);
	purple_signal_connect(purple_blist_get_handle(), "buddy-signed-off", handle,
			      PURPLE_CALLBACK(buddy_signed), NULL);
	purple_signal_connect(purple_blist_get_handle(), "buddy-status-changed", handle,
			      PURPLE_CALLBACK(buddy_status_changed), NULL);
	purple_signal_connect(purple_conversations_get_handle(), "received-im-msg", handle,
			      PURPLE_CALLBACK(received_im), NULL);
	purple_signal_connect(purple_conversations_get_handle(), "buddy-typing", handle,
			      PURPLE_CALLBACK(buddy_typing), NULL);

	purple_account_set_enabled(account, HARNESS_UI_ID, TRUE);
	/* An available saved status is what makes enabled accounts sign in. */
	purple_savedstatus_activate(purple_savedstatus_new(NULL, PURPLE_STATUS_AVAILABLE));

	in = g_io_channel_unix_new(0);
	g_io_add_watch(in, G_IO_IN | G_IO_HUP | G_IO_ERR, stdin_ready, NULL);
	g_main_loop_run(loop);
	exit(0);
}
