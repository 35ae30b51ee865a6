package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-crm/rapport/store"
)

// ImportJobs runs CSV imports in the background; cmd wires importer.Jobs.
type ImportJobs interface {
	// Submit spools body and queues a job for it.
	Submit(ctx context.Context, in store.ImportJobInput, body io.Reader) (*store.ImportJob, error)
	// Freshen sets the progress of the jobs this process runs to what it
	// knows now (the rows lag behind).
	Freshen(jobs ...*store.ImportJob)
}

// maxImportBytes bounds an uploaded CSV file by default.
const maxImportBytes = 100 << 20

// importUploadTime is how long an upload may take (the server's read
// timeout is for API calls, not for a 100 MiB file on a shop's line).
const importUploadTime = 10 * time.Minute

func (s *Server) importRoutes() {
	managers := []store.Role{store.RoleAdmin, store.RoleManager}
	s.api("POST /imports", s.startImport, managers...).doc(op{
		Summary: "Import a CSV file of customers or orders in the background",
		Description: "The body is the file itself (`Content-Type: text/csv`), up to 100 MiB and 1,000,000 rows (413, 422 " +
			"naming `file`); `kind` says what it holds, as for `rapport import`. The answer is the queued job (202): watch " +
			"it with GET /imports/{id} (`status` queued → checking → writing → done or failed, `rows_done` of " +
			"`rows_total`, `bad_rows`). Without `skip_bad_rows` a bad row means nothing is written and the job fails; " +
			"with it the good rows are written. Either way the bad rows are at GET /imports/{id}/bad-rows.csv. A job " +
			"whose server stops is failed (nothing of it is written: upload the file again). 503 while a server " +
			"already holds 4 imports.",
		Query: []param{
			query("kind", "What the file holds.", ref("ImportKind")),
			query("skip_bad_rows", "1: write the good rows even if some are bad.", enum("0", "1", "true", "false")),
			query("file_name", "The file's name, to show.", schema{"type": "string"}),
		},
		In:      schema{"type": "string", "description": "The CSV file (UTF-8, header row)."},
		InMedia: "text/csv",
		Out:     store.ImportJob{},
		Status:  http.StatusAccepted,
		Errors:  []int{http.StatusServiceUnavailable},
	})
	s.api("GET /imports", s.listImports, managers...).doc(op{
		Summary: "Import jobs, newest first",
		Paged:   true,
		Out:     list[*store.ImportJob]{},
	})
	s.api("GET /imports/{id}", s.getImport, managers...).doc(op{
		Summary: "One import job and how far it has got",
		Out:     store.ImportJob{},
	})
	s.api("GET /imports/{id}/bad-rows.csv", s.importBadRows, managers...).doc(op{
		Summary: "An import's bad rows as CSV: line,reason",
		Description: "The first 10,000 by line (`bad_rows_kept` of `bad_rows`), with a byte order mark for spreadsheet " +
			"programs. Empty but for the header until the job has ended.",
		Out:   schema{"type": "string"},
		Media: "text/csv",
	})
}

func (s *Server) startImport(w http.ResponseWriter, r *http.Request, p *store.Principal) error {
	if s.Imports == nil {
		return store.Errorf(store.EUNAVAILABLE, "imports are not available on this server")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); strings.HasPrefix(mt, "multipart/") || mt == "application/x-www-form-urlencoded" {
		return errBadRequest{"send the CSV file itself as the body (Content-Type: text/csv), not a form"}
	}
	q := r.URL.Query()
	in := store.ImportJobInput{Kind: q.Get("kind"), FileName: q.Get("file_name"), CreatedBy: p.StaffID}
	switch v := q.Get("skip_bad_rows"); v {
	case "", "0", "false":
	case "1", "true":
		in.SkipBadRows = true
	default:
		return store.Invalid("skip_bad_rows", "%q is not 1 or 0", v)
	}
	if !store.ValidImportKind(in.Kind) {
		return store.Invalid("kind", "%q is not customers, orders or points", in.Kind)
	}
	// The whole upload gets importUploadTime; errors are ignored where the
	// connection cannot have deadlines (a test recorder).
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(importUploadTime))
	job, err := s.Imports.Submit(r.Context(), in, http.MaxBytesReader(w, r.Body, s.ImportLimit))
	if err != nil {
		return err
	}
	s.audit(r, p, "import.start", "import_job", job.ID, map[string]any{"kind": job.Kind, "file_name": job.FileName,
		"bytes": job.FileBytes, "skip_bad_rows": job.SkipBadRows})
	writeJSON(w, http.StatusAccepted, job)
	return nil
}

func (s *Server) listImports(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	items, next, err := s.Store.ListImportJobs(r.Context(), pg)
	if err != nil {
		return err
	}
	if s.Imports != nil {
		s.Imports.Freshen(items...)
	}
	writeJSON(w, http.StatusOK, list[*store.ImportJob]{Items: items, NextCursor: next})
	return nil
}

func (s *Server) getImport(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	job, err := s.Store.ImportJobByID(r.Context(), id)
	if err != nil {
		return err
	}
	if s.Imports != nil {
		s.Imports.Freshen(job)
	}
	writeJSON(w, http.StatusOK, job)
	return nil
}

// importBadRows streams the kept bad rows a page at a time.
func (s *Server) importBadRows(w http.ResponseWriter, r *http.Request, _ *store.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	job, err := s.Store.ImportJobByID(r.Context(), id)
	if err != nil {
		return err
	}
	rows, err := s.Store.ImportBadRows(r.Context(), job.ID, 0, 0)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="import-%d-bad-rows.csv"`, job.ID))
	io.WriteString(w, "\ufeff")
	out := csv.NewWriter(w)
	out.Write([]string{"line", "reason"})
	for len(rows) > 0 {
		for _, b := range rows {
			out.Write([]string{strconv.Itoa(b.Line), b.Reason})
		}
		if out.Flush(); out.Error() != nil {
			return nil // the client went away
		}
		if rows, err = s.Store.ImportBadRows(r.Context(), job.ID, rows[len(rows)-1].Line, 0); err != nil {
			s.Logger.Error("import bad rows", "job", job.ID, "err", err)
			return nil // the answer has begun: it ends short
		}
	}
	out.Flush()
	return nil
}
