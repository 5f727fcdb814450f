package web

import (
	"strings"
	"testing"
)

// TestTokensPasteAfterFlags: session tokens and invite codes follow flags
// on command lines (crosstalk admin --token …), so none may begin with '-'
// or hold anything a shell or URL would need quoted.
func TestTokensPasteAfterFlags(t *testing.T) {
	for range 1000 {
		token := newToken()
		if len(token) < 40 || strings.Trim(token, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("token %q", token)
		}
	}
}
