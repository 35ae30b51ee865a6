package store

// What the tests of package store_test reach inside for.

// CustomerCols are the columns the import writes and reads.
const CustomerCols = customerCols

// Insert is CustomerImport.insert: cs in one INSERT, their ids read back.
func (w *CustomerImport) Insert(cs []*Customer) error { return w.insert(cs) }

// CustomersWhere is CustomerImport.customersWhere, the import's read.
func (w *CustomerImport) CustomersWhere(col string, keys []string) ([]*Customer, error) {
	return w.customersWhere(col, keys)
}
