package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"

	"gorm.io/gorm"
)

// Page is the contract's cursor pagination: limit (default 50, max 500) and
// an opaque cursor from the previous page's next_cursor.
type Page struct {
	Limit  int
	Cursor string
}

func (p Page) parse() (limit int, after int64, err error) {
	limit = p.Limit
	switch {
	case limit == 0:
		limit = 50
	case limit < 0 || limit > 500:
		return 0, 0, Invalid("limit", "must be between 1 and 500")
	}
	if p.Cursor != "" {
		after, err = decodeCursor(p.Cursor)
		if err != nil {
			return 0, 0, Invalid("cursor", "not a cursor from this API")
		}
	}
	return limit, after, nil
}

// byID reads the row of T with the primary key id; a missing one is
// ENOTFOUND naming what ("survey 7 not found"). Every XByID getter is
// this.
func byID[T any](ctx context.Context, s *Store, what string, id int64) (*T, error) {
	var row T
	if err := s.db.WithContext(ctx).Take(&row, id).Error; err != nil {
		return nil, fmt.Errorf("%s: %w", what, notFound(err, "%s %d", what, id))
	}
	return &row, nil
}

// pageOf reads one page of q, which the caller has ordered and started
// after the cursor: it asks for limit+1 rows, the extra one telling that
// another page follows, and next is then the cursor of the page's last row
// (key gives it; "" on the last page). An empty page is an empty slice,
// never nil (the API lists it as []).
func pageOf[T any](q *gorm.DB, limit int, key func(T) int64) (rows []T, next string, err error) {
	if err := q.Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, "", err
	}
	if len(rows) > limit {
		rows = rows[:limit]
		next = encodeCursor(key(rows[limit-1]))
	}
	if rows == nil {
		rows = []T{}
	}
	return rows, next, nil
}

func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10)))
}

func decodeCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || id < 0 {
		return 0, strconv.ErrSyntax
	}
	return id, nil
}
