package web

import (
	"cmp"
	"fmt"
	"net/http"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/templates"
)

// templateRoutes mounts the template endpoints: everyone may read; admins
// and managers may preview (it runs their code) and change.
func (s *Server) templateRoutes() {
	managers := []store.Role{store.RoleAdmin, store.RoleManager}
	// Every template route answers 503 while no template service is wired.
	unwired := []int{http.StatusServiceUnavailable}
	locale := []param{query("locale", "Default zh-CN; a body's `locale` wins.", ref("Locale"))}
	s.api("GET /templates", s.withTemplates(s.handleTemplates)).doc(op{
		Summary: "Every template key's active text",
		Query:   locale,
		Out:     list[templates.Template]{},
		Errors:  unwired,
	})
	s.api("GET /templates/{key}", s.withTemplates(s.handleTemplate)).doc(op{
		Summary:     "One template's active text",
		Description: "An unknown key is 404 naming the known ones. The shipped text is version 1.",
		Query:       locale,
		Out:         templates.Template{},
		Errors:      unwired,
	})
	s.api("PUT /templates/{key}", s.withTemplates(s.handleTemplateSave), managers...).doc(op{
		Summary: "Save a new active version",
		Description: "A body that does not parse, does not render against sample data, or exceeds the render budget " +
			"is 422 with its line and reason, and the active version stays. At most 4 saves and previews run at " +
			"once per process; more are 503 with Retry-After.",
		Query:  locale,
		In:     templateSaveInput{},
		Out:    templates.Template{},
		Errors: unwired,
	})
	s.api("POST /templates/{key}/preview", s.withTemplates(s.handleTemplatePreview), managers...).doc(op{
		Summary: "Render without saving",
		Description: "A draft `body`, or a saved `version`, or the active text, for a real customer (`customer_id`) " +
			"or sample data. Limits as for saving.",
		Query:  locale,
		In:     templatePreviewInput{},
		Out:    templates.Preview{},
		Errors: unwired,
	})
	s.api("GET /templates/{key}/versions", s.withTemplates(s.handleTemplateVersions)).doc(op{
		Summary: "A template's versions, newest first",
		Query:   locale,
		Paged:   true,
		Out:     list[templates.Version]{},
		Errors:  unwired,
	})
	s.api("POST /templates/{key}/rollback", s.withTemplates(s.handleTemplateRollback), managers...).doc(op{
		Summary: "Make an earlier version active again",
		Query:   locale,
		In:      templateRollbackInput{},
		Out:     templates.Template{},
		Errors:  unwired,
	})
	s.api("GET /templates/{key}/audit", s.withTemplates(s.handleTemplateAudit)).doc(op{
		Summary: "Who changed a template, newest first",
		Paged:   true,
		Out:     list[store.TemplateAudit]{},
		Errors:  unwired,
	})
}

// Request bodies of the template routes.
type (
	templateSaveInput struct {
		Body   string `json:"body"`
		Locale string `json:"locale"`
	}
	templatePreviewInput struct {
		CustomerID int64  `json:"customer_id"`
		Body       string `json:"body"`
		Locale     string `json:"locale"`
		Version    int    `json:"version"`
	}
	templateRollbackInput struct {
		Version int    `json:"version"`
		Locale  string `json:"locale"`
	}
)

// withTemplates answers 503 when no template service is wired.
func (s *Server) withTemplates(h apiFunc) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
		if s.Templates == nil {
			return store.Errorf(store.EUNAVAILABLE, "template service unavailable")
		}
		return h(w, r, p)
	}
}

func (s *Server) handleTemplates(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	ts, err := s.Templates.List(r.Context(), r.URL.Query().Get("locale"))
	return respondList(w, ts, "", err)
}

func (s *Server) handleTemplate(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	t, err := s.Templates.Get(r.Context(), r.PathValue("key"), r.URL.Query().Get("locale"))
	return respond(w, http.StatusOK, t, err)
}

func (s *Server) handleTemplateSave(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	var in templateSaveInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := s.templateActor(r, p)
	if err != nil {
		return err
	}
	t, err := s.Templates.Save(r.Context(), r.PathValue("key"), cmp.Or(in.Locale, r.URL.Query().Get("locale")), in.Body, a)
	if err != nil {
		return err
	}
	s.audit(r, p, "template.save", "template", t.Key, map[string]any{"locale": t.Locale, "version": t.Version})
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) handleTemplatePreview(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	var in templatePreviewInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	pv, err := s.Templates.Preview(r.Context(), templates.PreviewInput{
		Key: r.PathValue("key"), Locale: cmp.Or(in.Locale, r.URL.Query().Get("locale")), Body: in.Body, Version: in.Version, CustomerID: in.CustomerID,
	})
	return respond(w, http.StatusOK, pv, err)
}

func (s *Server) handleTemplateVersions(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	vs, next, err := s.Templates.Versions(r.Context(), r.PathValue("key"), r.URL.Query().Get("locale"), pg)
	return respondList(w, vs, next, err)
}

func (s *Server) handleTemplateRollback(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	var in templateRollbackInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := s.templateActor(r, p)
	if err != nil {
		return err
	}
	t, err := s.Templates.Rollback(r.Context(), r.PathValue("key"), cmp.Or(in.Locale, r.URL.Query().Get("locale")), in.Version, a)
	if err != nil {
		return err
	}
	s.audit(r, p, "template.rollback", "template", t.Key, map[string]any{"locale": t.Locale, "to": in.Version, "version": t.Version})
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) handleTemplateAudit(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	rows, next, err := s.Templates.Audit(r.Context(), r.PathValue("key"), pg)
	return respondList(w, rows, next, err)
}

// templateActor names the caller for the audit: the staff member behind
// the token, else the token.
func (s *Server) templateActor(r *http.Request, p *store.Principal) (templates.Actor, error) {
	a := templates.Actor{Name: fmt.Sprintf("token #%d", p.TokenID), StaffID: p.StaffID, Source: store.TemplateSourceAPI}
	if p.StaffID != nil {
		st, err := s.Store.StaffByID(r.Context(), *p.StaffID)
		if err != nil && !store.IsCode(err, store.ENOTFOUND) {
			return a, err
		}
		if st != nil {
			a.Name = st.Name
		}
	}
	return a, nil
}
