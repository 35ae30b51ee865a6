package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// BenchmarkCreateTask opens tasks assigned by load among 10 agents, with a
// dedup key each (care's path).
func BenchmarkCreateTask(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(d, func(b *testing.B) {
			ctx := context.Background()
			s := storetest.Open(b, d)
			for i := 0; i < 10; i++ {
				if _, err := s.CreateStaff(ctx, store.StaffInput{Name: fmt.Sprint("a", i), Role: store.RoleAgent}); err != nil {
					b.Fatal(err)
				}
			}
			c, err := s.CreateCustomer(ctx, store.CustomerInput{Name: ptr("x")})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: c.ID, Kind: "revisit", Title: "t", DedupKey: fmt.Sprint("bench:", i)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
