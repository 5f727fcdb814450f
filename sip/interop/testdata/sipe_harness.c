/*
 * sipe_harness: a headless libpurple 2 client with the pidgin-sipe plugin
 * (prpl-sipe, Office Communicator / OCS 2007) for Crosstalk's interop
 * tests.
 *
 *   sipe_harness USERDIR PLUGINDIRS SERVER ADDRESS PASSWORD [CADIR]
 *
 * It keeps its libpurple state in USERDIR, loads protocol plugins from
 * PLUGINDIRS (colon-separated), and signs in ADDRESS (user@domain) with
 * the account options server=SERVER (host:port), transport=tcp and
 * authentication=ntlm. With CADIR it signs in over TLS (transport=tls)
 * and libpurple trusts the authorities whose certificates (PEM) are in
 * CADIR besides the system's: the directory joins the search path of its
 * certificate authority pool, which it reads when it first checks a
 * server's certificate.
 *
 * A question libpurple asks its user with a choice of actions (accept a
 * certificate no trusted authority signed?) is answered with its Reject
 * or Cancel action, as a careful user answers it; it prints
 *
 *   REFUSED <primary text>
 *
 * or, when no action refuses, UNANSWERED <primary text>; a file offered
 * while recvfiles says to decline is refused so. Buddies come from the
 * server's contact list. Events and commands are those of internal/cprog/purple's harness, and:
 *
 *   status ID [TEXT]    set the account's status (available, away, busy…)
 *                       with TEXT as its note
 *   sendfile NAME PATH  offer NAME the file at PATH
 *   recvfiles DIR       accept files offered from now on into DIR (under
 *                       the offered name); "recvfiles -" declines them
 *
 * File transfers print:
 *
 *   XFER_OFFER <who> <size> <name>           (a file offered to us)
 *   XFER_DONE send|recv <who> <local path>
 *   XFER_CANCEL send|recv <who> local|remote
 *
 * libpurple's debug output goes to stderr with every SIP message
 * pidgin-sipe sends and receives (it logs only when libpurple's debugging
 * is verbose). The program exits by itself after SIPE_HARNESS_LIFETIME
 * seconds (default 60).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Where files offered to us go; NULL declines them. */
static char *recv_dir;

static const char *xfer_direction(PurpleXfer *xfer)
{
	return purple_xfer_get_type(xfer) == PURPLE_XFER_SEND ? "send" : "recv";
}

/* An offer to us: accepted into recv_dir at once, before libpurple would
 * ask the user; otherwise the user's refusal declines it. */
static void xfer_offered(PurpleXfer *xfer, gpointer data)
{
	char *path;

	harness_out("XFER_OFFER %s %lu %s", purple_xfer_get_remote_user(xfer),
		    (unsigned long)purple_xfer_get_size(xfer), purple_xfer_get_filename(xfer));
	if (recv_dir == NULL)
		return;
	path = g_build_filename(recv_dir, purple_xfer_get_filename(xfer), NULL);
	purple_xfer_request_accepted(xfer, path);
	g_free(path);
}

static void xfer_done(PurpleXfer *xfer, gpointer data)
{
	harness_out("XFER_DONE %s %s %s", xfer_direction(xfer), purple_xfer_get_remote_user(xfer),
		    purple_xfer_get_local_filename(xfer));
}

static void xfer_cancelled(PurpleXfer *xfer, gpointer data)
{
	harness_out("XFER_CANCEL %s %s %s", xfer_direction(xfer), purple_xfer_get_remote_user(xfer),
		    purple_xfer_get_status(xfer) == PURPLE_XFER_STATUS_CANCEL_LOCAL ? "local" : "remote");
}

/* refusal is the refusing action of a question, chosen once libpurple
 * has finished asking. */
struct refusal {
	PurpleRequestActionCb cb;
	void *user_data;
	int index;
};

static gboolean refuse(gpointer data)
{
	struct refusal *r = data;

	r->cb(r->user_data, r->index);
	g_free(r);
	return FALSE;
}

static void *request_action(const char *title, const char *primary, const char *secondary,
			    int default_action, PurpleAccount *acct, const char *who,
			    PurpleConversation *conv, void *user_data, size_t action_count,
			    va_list actions)
{
	struct refusal *r = g_new0(struct refusal, 1);
	char *line = g_strdup(primary ? primary : "");
	size_t i;

	for (i = 0; i < action_count; i++) {
		const char *label = va_arg(actions, const char *);
		PurpleRequestActionCb cb = va_arg(actions, PurpleRequestActionCb);

		/* Labels carry mnemonics: "_Reject". */
		if (label != NULL && (strcmp(label + (*label == '_'), "Reject") == 0 ||
				      strcmp(label + (*label == '_'), "Cancel") == 0)) {
			r->cb = cb;
			r->index = (int)i;
		}
	}
	r->user_data = user_data;
	g_strdelimit(line, "\r\n", ' ');
	harness_out("%s %s", r->cb != NULL ? "REFUSED" : "UNANSWERED", line);
	g_free(line);
	if (r->cb == NULL) {
		g_free(r);
		return NULL;
	}
	g_idle_add(refuse, r);
	return r;
}

static PurpleRequestUiOps request_ops = {
	.request_action = request_action,
};

static gboolean sipe_command(PurpleAccount *account, const char *verb, char *rest)
{
	char *text;

	if (strcmp(verb, "sendfile") == 0 && rest != NULL && strchr(rest, ' ') != NULL) {
		char *path = strchr(rest, ' ');

		*path++ = '\0';
		serv_send_file(purple_account_get_connection(account), rest, path);
		harness_out("OK sendfile");
		return TRUE;
	}
	if (strcmp(verb, "recvfiles") == 0 && rest != NULL) {
		g_free(recv_dir);
		recv_dir = strcmp(rest, "-") == 0 ? NULL : g_strdup(rest);
		harness_out("OK recvfiles");
		return TRUE;
	}
	if (strcmp(verb, "status") != 0 || rest == NULL)
		return FALSE;
	text = strchr(rest, ' ');
	if (text != NULL)
		*text++ = '\0';
	if (purple_account_get_status(account, rest) == NULL) {
		harness_out("ERR status %s unknown", rest);
		return TRUE;
	}
	purple_account_set_status(account, rest, TRUE, "message", text ? text : "", NULL);
	harness_out("OK status");
	return TRUE;
}

int main(int argc, char **argv)
{
	PurpleAccount *account;
	const char *env;

	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: %s USERDIR PLUGINDIRS SERVER ADDRESS PASSWORD [CADIR]\n", argv[0]);
		return 2;
	}
	harness_init(argv[1], argv[2], "prpl-sipe", TRUE);
	purple_request_set_ui_ops(&request_ops);
	if (argc == 7)
		purple_certificate_add_ca_search_path(argv[6]);
	purple_signal_connect(purple_xfers_get_handle(), "file-recv-request", &recv_dir,
			      PURPLE_CALLBACK(xfer_offered), NULL);
	purple_signal_connect(purple_xfers_get_handle(), "file-send-complete", &recv_dir,
			      PURPLE_CALLBACK(xfer_done), NULL);
	purple_signal_connect(purple_xfers_get_handle(), "file-recv-complete", &recv_dir,
			      PURPLE_CALLBACK(xfer_done), NULL);
	purple_signal_connect(purple_xfers_get_handle(), "file-send-cancel", &recv_dir,
			      PURPLE_CALLBACK(xfer_cancelled), NULL);
	purple_signal_connect(purple_xfers_get_handle(), "file-recv-cancel", &recv_dir,
			      PURPLE_CALLBACK(xfer_cancelled), NULL);
	account = purple_account_new(argv[4], "prpl-sipe");
	purple_account_set_password(account, argv[5]);
	purple_account_set_string(account, "server", argv[3]);
	purple_account_set_string(account, "transport", argc == 7 ? "tls" : "tcp");
	purple_account_set_string(account, "authentication", "ntlm");
	/* No calendar: no Exchange autodiscovery over HTTP. */
	purple_account_set_bool(account, "dont-publish", TRUE);
	purple_accounts_add(account);
	env = getenv("SIPE_HARNESS_LIFETIME");
	harness_run(account, sipe_command, env ? atoi(env) : 60);
}
