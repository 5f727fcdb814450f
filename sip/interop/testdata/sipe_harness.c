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
 * server's certificate. Buddies come from the server's contact list.
 * Events and commands are those of internal/cprog/purple's harness, and:
 *
 *   status ID [TEXT]    set the account's status (available, away, busy…)
 *                       with TEXT as its note
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

static gboolean sipe_command(PurpleAccount *account, const char *verb, char *rest)
{
	char *text;

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
	if (argc == 7)
		purple_certificate_add_ca_search_path(argv[6]);
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
