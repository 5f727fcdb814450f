// Package webchat is Crosstalk's chat in the browser: a static page (HTML,
// JavaScript and CSS embedded in the binary, no build step) that speaks
// the web chat protocol of package wire to package server over a
// WebSocket. PROTOCOL.md describes the protocol for bots in any language.
package webchat

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// Handler serves the page at "/" and its assets, and passes the
// WebSocket ("/ws") and uploads ("/upload/...") to socket; the caller
// strips its mount point (the node mounts it at /chat). Every answer
// carries a strict Content Security Policy: scripts and styles only from
// the page's own files, connections only to its own host.
func Handler(socket http.Handler) http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is part of the build
	}
	assets := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/ws" || strings.HasPrefix(p, "/upload/") {
			socket.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
			"connect-src 'self' ws://"+r.Host+" wss://"+r.Host+"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		switch p {
		case "":
			// The mount point without its slash: on to it with one,
			// relative, whatever the mount point is.
			mount := strings.SplitN(r.RequestURI, "?", 2)[0]
			http.Redirect(w, r, path.Base(mount)+"/", http.StatusMovedPermanently)
		case "/", "/app.js", "/style.css":
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Allow", "GET, HEAD")
				http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
				return
			}
			h.Set("Cache-Control", "no-cache")
			assets.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}
