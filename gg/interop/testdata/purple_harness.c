/*
 * purple_harness: a headless libpurple 2 client for Crosstalk's interop
 * tests, using the gg protocol plugin (prpl-gg) as Pidgin would.
 *
 *   purple_harness USERDIR PLUGINDIR SERVER UIN PASSWORD [BUDDY...]
 *
 * It keeps its libpurple state in USERDIR, loads protocol plugins from
 * PLUGINDIR, and signs in UIN with the account option gg_server=SERVER (an
 * IPv4 address; Pidgin 2's gg plugin then dials port 8074 of it). BUDDY
 * numbers are put on the buddy list first, so the plugin sends them as its
 * notify list. Events and commands are those of internal/cprog/purple's
 * harness. The program exits by itself after PURPLE_HARNESS_LIFETIME
 * seconds (default 60).
 */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

int main(int argc, char **argv)
{
	PurpleAccount *account;
	const char *env;
	int i;

	if (argc < 6) {
		fprintf(stderr, "usage: %s USERDIR PLUGINDIR SERVER UIN PASSWORD [BUDDY...]\n", argv[0]);
		return 2;
	}
	harness_init(argv[1], argv[2], "prpl-gg", FALSE);
	account = purple_account_new(argv[4], "prpl-gg");
	purple_account_set_password(account, argv[5]);
	/* Without gg_server the plugin asks the GG hub (appmsg.gadu-gadu.pl)
	 * where to connect; with it, it dials SERVER:8074 directly. */
	purple_account_set_string(account, "gg_server", argv[3]);
	purple_account_set_string(account, "encryption", "none");
	purple_accounts_add(account);
	for (i = 6; i < argc; i++)
		purple_blist_add_buddy(purple_buddy_new(account, argv[i], NULL), NULL, NULL, NULL);
	env = getenv("PURPLE_HARNESS_LIFETIME");
	harness_run(account, NULL, env ? atoi(env) : 60);
}
