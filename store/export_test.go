package store

import "gorm.io/gorm"

// WithArrivalReadHook runs fn before each read-back of a group of
// inbound messages (see writeArrivals), with the group's database handle.
func WithArrivalReadHook(fn func(*gorm.DB)) Option {
	return func(s *Store) { s.inbox.beforeRead = fn }
}
