package web

import (
	"embed"
	"io/fs"
	"net/http"
)

// consoleFS is the console: one page (index.html) and the plain
// JavaScript modules and stylesheet it loads. Nothing is built; what is
// here is what the browser runs. Layout: js/app.js starts it, js/api.js
// talks to the server, js/i18n.js holds every UI string, js/screens/ has
// one module per screen (docs/console.md).
//
//go:embed console
var consoleFS embed.FS

// consolePolicy allows only the console's own files and API: no inline
// script, nothing from elsewhere.
const consolePolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; media-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// consoleRoutes serve the console's files under /console/.
func (s *Server) consoleRoutes() {
	sub, _ := fs.Sub(consoleFS, "console")
	files := http.StripPrefix("/console/", http.FileServerFS(sub))
	page, _ := consoleFS.ReadFile("console/index.html")
	s.mux.HandleFunc("GET /console/{path...}", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", consolePolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		// Small files, changed by every release: always revalidate.
		h.Set("Cache-Control", "no-cache")
		if p := r.PathValue("path"); p == "" || p == "index.html" {
			h.Set("Content-Type", "text/html; charset=utf-8")
			w.Write(page)
			return
		}
		files.ServeHTTP(w, r)
	})
	s.mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusFound)
	})
}
