package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// namesOf maps the ids of rows of T (a table with id and name) to their
// names; unknown ids are left out. what names the rows in an error.
func namesOf[T any](ctx context.Context, db *gorm.DB, what string, ids []int64) (map[int64]string, error) {
	out := map[int64]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID   int64
		Name string
	}
	if err := db.WithContext(ctx).Model(new(T)).Select("id", "name").Where("id IN ?", ids).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("%s names: %w", what, err)
	}
	for _, r := range rows {
		out[r.ID] = r.Name
	}
	return out, nil
}
