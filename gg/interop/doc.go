// Package interop holds tests that drive the real Gadu-Gadu client
// libraries shipped by Debian (libgadu 1.12 and libpurple 2's gg plugin)
// against a whole Crosstalk node. The clients are small C programs under
// testdata, compiled by the tests; see the *_test.go files.
//
// They need cc, pkg-config, libgadu-dev and libpurple-dev. Without them the
// tests skip, unless CI=true, where they fail instead.
package interop
