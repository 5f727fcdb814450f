// Package webchat is Crosstalk's chat in the browser: a static page (HTML,
// JavaScript and CSS embedded in the binary, no build step) that speaks
// the web chat protocol of package wire to package server over a
// WebSocket. PROTOCOL.md describes the protocol for bots in any language.
package webchat

import (
	"bytes"
	"embed"
	"html"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// tokenMeta is the page's place for a chat token, empty in the file.
const tokenMeta = `<meta name="crosstalk-chat-token" content="">`

// Handler serves the page at "/" and its assets, and passes the
// WebSocket ("/ws") and uploads ("/upload/...") to socket; the caller
// strips its mount point (the node mounts it at /chat). Every answer
// carries a strict Content Security Policy: scripts and styles only from
// the page's own files, connections only to its own host.
//
// chatToken, when not nil, mints a chat token for a request from a
// browser signed in to the web pages ("" for others): the page is then
// served with it in its crosstalk-chat-token meta element, and logs in
// with it at once. Such a page is never stored by caches.
func Handler(socket http.Handler, chatToken func(*http.Request) string) http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is part of the build
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil || !bytes.Contains(index, []byte(tokenMeta)) {
		panic("webchat: index.html lacks " + tokenMeta) // the embedded tree is part of the build
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
			if p == "/" && r.Method == http.MethodGet && chatToken != nil {
				if token := chatToken(r); token != "" {
					h.Set("Cache-Control", "no-store")
					h.Set("Content-Type", "text/html; charset=utf-8")
					page := bytes.Replace(index, []byte(tokenMeta),
						[]byte(`<meta name="crosstalk-chat-token" content="`+html.EscapeString(token)+`">`), 1)
					_, _ = w.Write(page)
					return
				}
			}
			assets.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}
