package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestCNMobile holds the short cut to libphonenumber: over every 5-digit
// prefix of an 11-digit number starting with 1 (the ranges decide on at
// most five digits), with suffixes that would trip a rule on later digits
// (a carrier or international prefix: 00…) and random ones, written the
// ways the short cut accepts, in regions that read them differently. Where
// it answers, the library gives the same number; and every number the
// library takes as a CN mobile takes the short cut.
func TestCNMobile(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 1))
	fixed := []string{"000000", "999999", "001234", "000001", "100000"}
	checked := 0
	for p := 10000; p < 20000; p++ {
		d := fmt.Sprintf("%d%06d", p, rng.IntN(1e6))
		if _, ok := cnMobile(d, "CN"); !ok {
			// Not a short cut: the library must not take it as a mobile
			// written this way either (it would be a slow path, not a
			// wrong answer, but the ranges would be stale).
			if got, err := parsePhone(d, "CN"); err == nil {
				t.Errorf("%s: library reads %s, the short cut does not", d, got)
			}
			continue
		}
		// Two numbers a prefix, each written one of the ways (a few
		// seconds for all of them, minutes under -race).
		for k, suffix := range []string{fixed[p%len(fixed)], fmt.Sprintf("%06d", rng.IntN(1e6))} {
			d := fmt.Sprintf("%d%s", p, suffix)
			in := []struct{ s, region string }{
				{d, "CN"},
				{"+86" + d, "HK"},
				{"+86 " + d[:3] + " " + d[3:7] + " " + d[7:], "US"},
				{d[:3] + "-" + d[3:7] + "-" + d[7:], "CN"},
			}[(p+k)%4]
			fast, ok := cnMobile(in.s, in.region)
			lib, err := parsePhone(in.s, in.region)
			checked++
			if !ok || err != nil || fast != lib {
				t.Fatalf("%q in %s: short cut %q, %v; library %q, %v", in.s, in.region, fast, ok, lib, err)
			}
		}
	}
	t.Logf("%d numbers agree", checked)
}

func TestCNMobileDeclines(t *testing.T) {
	for _, in := range []struct{ s, region string }{
		{"13800138000", "HK"}, // read in HK: the library's call
		{"1380013800", "CN"},
		{"138001380001", "CN"},
		{"+8513800138000", "CN"},
		{"+86 (138) 0013 8000", "CN"},
		{"+86 1380013800", "CN"},
		{"8613800138000", "CN"},
		{"１３８００１３８０００", "CN"},
		{"17406000000", "CN"}, // 1740[0-5] only
		{"14600000000", "CN"},
		{"12345678901", "CN"},
		{"+86", "CN"},
		{"", "CN"},
	} {
		if got, ok := cnMobile(in.s, in.region); ok {
			t.Errorf("cnMobile(%q, %s) = %q, want the library", in.s, in.region, got)
		}
	}
}

// FuzzCNMobile: whatever is typed, where the short cut answers the library
// gives the same number.
func FuzzCNMobile(f *testing.F) {
	for _, s := range []string{"13800138000", "+86 138-0013-8000", "-13800138000", "+86--138 0013 8000 -", "17405000000", "+8617951000000", "19400000000", "  1 3 8 0 0 1 3 8 0 0 0"} {
		f.Add(s, "CN")
		f.Add(s, "US")
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		fast, ok := cnMobile(s, region)
		if !ok {
			return
		}
		if len(s) > maxPhoneInput {
			return // CanonicalPhone refuses it before either path
		}
		lib, err := parsePhone(s, region)
		if err != nil || lib != fast {
			t.Errorf("%q in %q: short cut %q; library %q, %v", s, region, fast, lib, err)
		}
	})
}
