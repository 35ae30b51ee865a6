package store_test

import (
	"encoding/json"
	"testing"

	"github.com/rapport-crm/rapport/store"
)

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in   string
		fen  int64
		bad  bool
		text string
	}{
		{in: "1280.5", fen: 128050, text: "1280.50"},
		{in: "250000", fen: 25000000, text: "250000.00"},
		{in: "0.29", fen: 29, text: "0.29"}, // 0.29*100 is 28.999999999999996 as a float
		{in: "0.1", fen: 10, text: "0.10"},
		{in: " -3.5 ", fen: -350, text: "-3.50"},
		{in: "+7", fen: 700, text: "7.00"},
		{in: ".5", fen: 50, text: "0.50"},
		{in: "12.500", fen: 1250, text: "12.50"}, // trailing zeros are exact
		{in: "999999999999.99", fen: 99999999999999, text: "999999999999.99"},
		{in: "-999999999999.99", fen: -99999999999999, text: "-999999999999.99"},
		{in: "0012.00", fen: 1200, text: "12.00"},
		{in: "12.345", bad: true},
		{in: "1000000000000", bad: true},
		{in: "1e3", bad: true},
		{in: "1,280.50", bad: true},
		{in: "", bad: true},
		{in: ".", bad: true},
		{in: "-", bad: true},
		{in: "NaN", bad: true},
		{in: "12.3.4", bad: true},
		{in: "１２", bad: true}, // full-width digits
	}
	for _, tt := range tests {
		m, err := store.ParseMoney("amount", tt.in)
		if tt.bad {
			if !store.IsCode(err, store.EINVALID) {
				t.Errorf("%q: %v, want 422", tt.in, err)
			}
			continue
		}
		if err != nil || m.Fen() != tt.fen || m.String() != tt.text {
			t.Errorf("%q = %d %q, %v; want %d %q", tt.in, m.Fen(), m.String(), err, tt.fen, tt.text)
		}
	}
}

// JSON: a number with exactly two decimals out; a number or a string in,
// read by its decimal text (no float on the way).
func TestMoneyJSON(t *testing.T) {
	var v struct {
		Amount store.Money `json:"amount"`
	}
	for in, want := range map[string]string{
		`{"amount": 1280.5}`:                      `{"amount":1280.50}`,
		`{"amount": "1280.5"}`:                    `{"amount":1280.50}`,
		`{"amount": 999999999999.99}`:             `{"amount":999999999999.99}`,
		`{"amount": 0.07}`:                        `{"amount":0.07}`,
		`{"amount": -20}`:                         `{"amount":-20.00}`,
		`{"amount": 0.29}`:                        `{"amount":0.29}`, // 28.999999999999996 fen as a float
		`{"amount": 1000000000000.00}`:            "",
		`{"amount": 12.3400}`:                     `{"amount":12.34}`,
		`{"amount": null}`:                        `{"amount":0.00}`,
		`{"amount": 1.23e2}`:                      "",
		`{"amount": 1.005}`:                       "",
		`{"amount": true}`:                        "",
		`{"amount": "12 yuan"}`:                   "",
		`{"amount": 100000000000000000000000000}`: "",
	} {
		v.Amount = store.Money{}
		err := json.Unmarshal([]byte(in), &v)
		if want == "" {
			if !store.IsCode(err, store.EINVALID) {
				t.Errorf("%s: %v, want a 422 naming amount", in, err)
			}
			continue
		}
		out, _ := json.Marshal(v)
		if err != nil || string(out) != want {
			t.Errorf("%s -> %s, %v; want %s", in, out, err, want)
		}
	}
}
