package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/rapport-crm/rapport/importer"
	"github.com/rapport-crm/rapport/store"
)

// runImport is `rapport import customers|orders|points [-skip-bad-rows]
// FILE.csv` (points: opening balances).
// It prints a summary and every rejected row; rejected rows make the exit
// status 1 unless -skip-bad-rows (then the good rows are written). Rows
// already stored (an orders file imported again) are skipped and counted as
// duplicates; that is success.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("import")
	cfgPath := configFlag(fs)
	skip := fs.Bool("skip-bad-rows", false, "write the good rows even if some are bad (the bad ones are still reported)")
	rest, err := parseFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(rest) == 0 || (rest[0] != "customers" && rest[0] != "orders" && rest[0] != "points") {
		return usageError{"import", "say what the file holds: customers, orders or points (opening balances)"}
	}
	kind := rest[0]
	if len(rest) != 2 {
		return usageError{"import", fmt.Sprintf("give exactly one CSV file of %s", kind)}
	}
	path := rest[1]
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import %s: %w", kind, err)
	}
	defer file.Close()
	cfg, s, err := openConfigured(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer s.Close()
	var res *importer.Result
	switch kind {
	case "customers":
		res, err = importer.Customers(ctx, s, file, *skip)
	case "points":
		res, err = importer.Points(ctx, s, file, importer.Options{SkipBad: *skip})
	default:
		res, err = importer.Orders(ctx, s, file, *skip, cfg.Location())
	}
	if err != nil {
		if store.ErrorCode(err) != store.EINTERNAL {
			err = fmt.Errorf("%s", store.ErrorMessage(err))
		}
		return fmt.Errorf("import %s %s: %w", kind, path, err)
	}
	for _, r := range res.Rejected {
		fmt.Fprintf(stdout, "line %d: %s\n", r.Line, r.Reason)
	}
	fmt.Fprintf(stdout, "%s: %d rows, %d written (%d created, %d updated), %d rejected, %d duplicates skipped\n",
		kind, res.Rows, res.Written, res.Created, res.Updated, len(res.Rejected), res.Duplicates)
	if len(res.Rejected) > 0 && !*skip {
		return exitErr{code: 1, err: fmt.Errorf("import %s: %d bad rows, nothing written (use -skip-bad-rows to write the good ones)", kind, len(res.Rejected))}
	}
	if kind == "orders" && res.Created > 0 {
		return settleImport(ctx, &Main{Config: cfg, Logger: newLogger(stderr), Store: s}, stdout)
	}
	return nil
}
