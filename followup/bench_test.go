package followup_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rapport-crm/rapport/followup"
	"github.com/rapport-crm/rapport/store"
	"github.com/rapport-crm/rapport/store/storetest"
)

// BenchmarkHandleCustomerMessage is the follow-up hook's cost on every
// ordinary customer message (no open complaint, no complaint word).
func BenchmarkHandleCustomerMessage(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(d, func(b *testing.B) {
			ctx := context.Background()
			s := storetest.Open(b, d)
			svc, err := followup.New(followup.DefaultConfig(), followup.Options{Store: s, Templates: texts(s)})
			if err != nil {
				b.Fatal(err)
			}
			id, err := s.ResolveIdentity(ctx, store.Contact{Channel: "telegram", ExternalID: "c1"})
			if err != nil {
				b.Fatal(err)
			}
			m, _, err := s.RecordInbound(ctx, id, store.Inbound{Channel: "telegram", DedupKey: "1", ChatID: "c1", Text: "what time do you open tomorrow?"})
			if err != nil {
				b.Fatal(err)
			}
			ev := &store.ChatEvent{Message: m, Identity: id, SenderID: "c1"}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := svc.HandleChat(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNotifyNew renders and claims one new-task notice per task
// (customer card with three messages, keyboard, outbox row).
func BenchmarkNotifyNew(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(d, func(b *testing.B) {
			ctx := context.Background()
			s := storetest.Open(b, d)
			svc, err := followup.New(followup.DefaultConfig(), followup.Options{Store: s, Templates: texts(s), Location: time.UTC})
			if err != nil {
				b.Fatal(err)
			}
			st, _ := s.CreateStaff(ctx, store.StaffInput{Name: "a", Role: store.RoleAgent})
			code, _, _ := s.CreateBindingCode(ctx, st.ID, store.SystemActor())
			if _, err := s.RedeemBindingCode(ctx, store.BindRequest{Channel: "telegram", ExternalID: "s1", Code: code}); err != nil {
				b.Fatal(err)
			}
			id, _ := s.ResolveIdentity(ctx, store.Contact{Channel: "telegram", ExternalID: "c1", DisplayName: "C"})
			for i := 0; i < 3; i++ {
				s.RecordInbound(ctx, id, store.Inbound{Channel: "telegram", DedupKey: fmt.Sprint(i), ChatID: "c1", Text: "hello"})
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if _, _, err := s.CreateTask(ctx, store.TaskInput{CustomerID: id.CustomerID, Kind: "manual", Title: "t"}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if n, err := svc.NotifyNew(ctx); err != nil || n != 1 {
					b.Fatal(n, err)
				}
			}
		})
	}
}
