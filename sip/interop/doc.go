// Package interop holds tests that drive Debian's pidgin-sipe 1.25 (the
// libpurple plugin for Office Communications Server 2007) against a whole
// Crosstalk node, through a small libpurple client of our own under
// testdata. The clients are compiled by the tests.
//
// They need cc, pkg-config, libpurple-dev, libxml2-dev and pidgin-sipe.
// Without them the tests skip, unless CI=true, where they fail instead.
package interop
