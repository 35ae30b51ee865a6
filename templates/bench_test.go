package templates

import (
	"context"
	"testing"

	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// BenchmarkRender is the care engine's inner loop: the active version of a
// manager-edited template (version 2, cached) for one customer.
func BenchmarkRender(b *testing.B) {
	for _, dialect := range storetest.Dialects {
		b.Run(dialect, func(b *testing.B) {
			s := storetest.Open(b, dialect)
			svc := New(s, Config{BusinessName: "安心家电", Location: shanghai})
			ctx := context.Background()
			if _, err := svc.Save(ctx, "maintenance", store.LocaleZH, svc.defaults[ref("maintenance", store.LocaleZH)]+"\n{{.Customer.Tier}}", meg); err != nil {
				b.Fatal(err)
			}
			d := sample("maintenance", store.LocaleZH, true)
			d.Customer.Salutation, d.Customer.Honorific = "", ""
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r, err := svc.Render(ctx, "maintenance", store.LocaleZH, d)
					if err != nil || r.Version != 2 {
						b.Fatal(r, err)
					}
				}
			})
		})
	}
}
