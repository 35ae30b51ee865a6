package web

import (
	"embed"
	"net/http"
)

//go:embed console/index.html
var consoleFS embed.FS

// consoleRoutes serves the console: one static page that drives the admin
// API with the token the user pastes (kept in the browser, never a cookie,
// so the API needs no CSRF protection).
func (s *Server) consoleRoutes() {
	page, _ := consoleFS.ReadFile("console/index.html")
	s.mux.HandleFunc("GET /console/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Write(page)
	})
	s.mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusFound)
	})
}
