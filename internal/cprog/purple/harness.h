/*
 * harness: what the interop tests' headless libpurple 2 clients share
 * (gg/interop's purple_harness.c, sip/interop's sipe_harness.c). Each
 * program sets up its account; this runs libpurple on GLib's main loop,
 * prints one line per event on stdout and takes commands on stdin:
 *
 *   SIGNED_ON
 *   CONNECTION_ERROR <reason> <description>
 *   BUDDY <name> <status id> <status message>
 *   IM <sender> <flags> <message>
 *   TYPING <name>
 *   LIFETIME                     (gave up: the lifetime ran out)
 *
 * Free text is last on its line, with backslash and newlines escaped.
 * Commands, answered with "OK <verb>" or "ERR ...":
 *
 *   msg NAME TEXT      send an IM through a conversation, as a user would
 *   quit               sign off and exit 0
 *
 * and what the program's own command function takes. libpurple's debug
 * output goes to stderr.
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <glib.h>
#include <purple.h>

#define HARNESS_UI_ID "crosstalk-interop"

/* harness_out prints one line and flushes: the test reads it through a
 * pipe. */
void harness_out(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* harness_init starts libpurple with its state in userdir and protocol
 * plugins from plugindirs (colon-separated), and checks that prpl_id
 * loaded; verbose turns on libpurple's verbose and unsafe debugging
 * (which some plugins need to log at all). It exits on failure. */
void harness_init(const char *userdir, const char *plugindirs, const char *prpl_id, gboolean verbose);

/* harness_command takes a command the harness does not know (the line
 * split into verb and rest, rest NULL without arguments) and returns FALSE
 * when it does not know it either. */
typedef gboolean (*harness_command)(PurpleAccount *account, const char *verb, char *rest);

/* harness_run enables account with an available status, prints its
 * events, runs commands (own, when not NULL, for the program's own) and
 * exits after lifetime seconds. It does not return. */
void harness_run(PurpleAccount *account, harness_command own, int lifetime) G_GNUC_NORETURN;

#endif
