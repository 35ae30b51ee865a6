package store

import (
	"time"

	"gorm.io/gorm"
)

// What the tests of package store_test reach inside for.

// WithArrivalReadHook runs fn before each read-back of a group of
// inbound messages (see writeArrivals), with the group's database handle.
func WithArrivalReadHook(fn func(*gorm.DB)) Option {
	return func(s *Store) { s.beforeArrivalRead = fn }
}

// WithArrivalLinger sets how long an intake writer lingers (see
// arrivalLinger) and within how long of a group's end it does.
func WithArrivalLinger(wait, window time.Duration) Option {
	return func(s *Store) { s.inbox.linger, s.inbox.lingerWindow = wait, window }
}

// CustomerCols are the columns the import writes and reads.
const CustomerCols = customerCols

// Insert is CustomerImport.insert: cs in one INSERT, given their ids.
func (w *CustomerImport) Insert(cs []*Customer) error { return w.insert(cs) }

// CustomersWhere is CustomerImport.customersWhere, the import's read.
func (w *CustomerImport) CustomersWhere(col string, keys []string) ([]*Customer, error) {
	return w.customersWhere(col, keys)
}

// Reads counts the import's batches that read before they wrote.
func (w *CustomerImport) Reads() int { return w.reads }

// MigrationIDs lists the ids of the schema steps in order.
func MigrationIDs() (ids []string) {
	for _, m := range migrations() {
		ids = append(ids, m.id())
	}
	return ids
}

// StepName is stepName, for TestStepName.
var StepName = stepName
