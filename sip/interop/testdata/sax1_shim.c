/*
 * sax1_shim: preloaded into the pidgin-sipe harness to work around a
 * regression of Debian 12's libxml2 2.9.14 security updates (seen in
 * 2.9.14+dfsg-1.3~deb12u5 and ~deb12u6): a SAX handler marked
 * XML_SAX2_MAGIC that has only the SAX1 element callbacks (startElement,
 * endElement) gets no element callbacks at all. pidgin-sipe 1.25 parses
 * every XML document that way (sipe-xml.c), so on such a system it reads
 * no contact list, presence or roaming data from any server.
 *
 * The shim tests libxml2 once; only when the regression is there does it
 * hand such handlers to libxml2 marked as SAX1 (initialized = 1), which
 * libxml2 then calls as documented. It says so once on stderr.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <string.h>

typedef int (*parse_fn)(xmlSAXHandlerPtr, void *, const char *, int);

static int started;

static void probe_start(void *user_data, const xmlChar *name, const xmlChar **attrs)
{
	started = 1;
}

/* broken reports whether libxml2 ignores SAX1 callbacks of a handler
 * marked XML_SAX2_MAGIC (-1: not tested yet). */
static int broken = -1;

int xmlSAXUserParseMemory(xmlSAXHandlerPtr sax, void *user_data, const char *buffer, int size)
{
	static parse_fn real;
	xmlSAXHandler copy;

	if (real == NULL)
		real = (parse_fn)dlsym(RTLD_NEXT, "xmlSAXUserParseMemory");
	if (broken < 0) {
		xmlSAXHandler probe;

		memset(&probe, 0, sizeof(probe));
		probe.startElement = probe_start;
		probe.initialized = XML_SAX2_MAGIC;
		started = 0;
		real(&probe, NULL, "<a/>", 4);
		broken = !started;
		if (broken)
			fprintf(stderr, "sax1_shim: libxml2 ignores SAX1 callbacks; passing them as SAX1\n");
	}
	if (broken && sax != NULL && sax->initialized == XML_SAX2_MAGIC &&
	    sax->startElementNs == NULL && sax->endElementNs == NULL &&
	    (sax->startElement != NULL || sax->endElement != NULL)) {
		copy = *sax;
		copy.initialized = 1;
		return real(&copy, user_data, buffer, size);
	}
	return real(sax, user_data, buffer, size);
}
