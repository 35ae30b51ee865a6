package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rapport-crm/rapport/store"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate")
	cfgPath := configFlag(fs)
	if rest, err := parseFlags(fs, args, stdout); err != nil {
		return err
	} else if len(rest) > 0 {
		return usageError{"migrate", fmt.Sprintf("unexpected argument %q", rest[0])}
	}
	_, s, err := openConfigured(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintln(stdout, "schema is up to date")
	rep, err := s.PhoneKeyReport(ctx)
	if err != nil {
		return err
	}
	printPhoneKeyReport(stdout, rep)
	return nil
}

// printPhoneKeyReport says what the conversion to canonical phone numbers
// could not do by itself: numbers shared by several customers (not
// merged: that needs proof) and numbers it could not read.
func printPhoneKeyReport(w io.Writer, rep *store.PhoneKeyReport) {
	if rep == nil || (rep.Duplicates == 0 && rep.Invalid == 0) {
		return
	}
	fmt.Fprintf(w, "phone numbers, converted to one canonical form on %s (%d checked, %d on record):\n", rep.At.Format(time.DateOnly), rep.Checked, rep.Keyed)
	if rep.Duplicates > 0 {
		fmt.Fprintf(w, "  %d customer(s) share a number an older customer has on record; they were NOT merged.\n", rep.Duplicates)
		fmt.Fprintln(w, "  Decide each: GET /api/v1/phone-claims?status=pending (method \"duplicate\"), then approve (merge) or reject.")
	}
	if rep.Invalid > 0 {
		fmt.Fprintf(w, "  %d customer(s) have a number that is not a valid phone number; it was left as it was.\n", rep.Invalid)
	}
	for _, x := range rep.Samples {
		if x.KeptBy != 0 {
			fmt.Fprintf(w, "  customer %d: %s is on record for customer %d\n", x.CustomerID, x.Phone, x.KeptBy)
		} else {
			fmt.Fprintf(w, "  customer %d: %q is not a valid phone number\n", x.CustomerID, x.Phone)
		}
	}
	if n := rep.Duplicates + rep.Invalid; n > len(rep.Samples) {
		fmt.Fprintf(w, "  ... and %d more\n", n-len(rep.Samples))
	}
}
