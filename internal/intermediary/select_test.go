package intermediary

import (
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
)

// TestSelectNotes checks which notes a payment spends: the smallest single
// note that covers the amount, the first in key order among equals;
// otherwise the largest first, equals in key order, at most MaxInputs;
// reserved notes never; and the refusals when the unspent ones fall short.
func TestSelectNotes(t *testing.T) {
	cur := money.Currency{Code: "XTS", Exponent: 2}
	note := func(tx byte, index uint32, value uint64) money.Note {
		return money.Note{TxID: money.TxID{tx}, Index: index, Output: money.Output{Value: value}}
	}
	index := func(recs ...noteRec) map[noteID]noteRec {
		m := map[noteID]noteRec{}
		for _, r := range recs {
			m[idOf(r.Note)] = r
		}
		return m
	}
	unspent := func(n money.Note) noteRec { return noteRec{Note: n, State: stateUnspent} }
	reserved := func(n money.Note) noteRec { return noteRec{Note: n, State: stateReserved} }
	many := func(n int, value uint64) []noteRec {
		var out []noteRec
		for i := range n {
			out = append(out, unspent(note(byte(i+1), 0, value)))
		}
		return out
	}
	cases := []struct {
		name   string
		notes  map[noteID]noteRec
		amount uint64
		want   []money.Note
		code   errcode.Code
	}{
		{"smallest covering note", index(unspent(note(1, 0, 500)), unspent(note(2, 0, 120)), unspent(note(3, 0, 90))), 100,
			[]money.Note{note(2, 0, 120)}, ""},
		{"exact note", index(unspent(note(1, 0, 500)), unspent(note(2, 0, 100))), 100, []money.Note{note(2, 0, 100)}, ""},
		{"equal notes: first in key order", index(unspent(note(9, 0, 100)), unspent(note(4, 2, 100)), unspent(note(4, 1, 100))), 100,
			[]money.Note{note(4, 1, 100)}, ""},
		{"reserved note skipped", index(reserved(note(1, 0, 100)), unspent(note(2, 0, 300))), 100, []money.Note{note(2, 0, 300)}, ""},
		{"largest first", index(unspent(note(1, 0, 30)), unspent(note(2, 0, 60)), unspent(note(3, 0, 50))), 100,
			[]money.Note{note(2, 0, 60), note(3, 0, 50)}, ""},
		{"largest first, equals in key order", index(unspent(note(7, 0, 40)), unspent(note(5, 0, 40)), unspent(note(6, 0, 40))), 100,
			[]money.Note{note(5, 0, 40), note(6, 0, 40), note(7, 0, 40)}, ""},
		{"short", index(unspent(note(1, 0, 30)), reserved(note(2, 0, 500))), 100, nil, errcode.InsufficientFunds},
		{"empty", index(), 1, nil, errcode.InsufficientFunds},
		{"more than MaxInputs notes needed", index(many(money.MaxInputs+1, 10)...), 10 * (money.MaxInputs + 1), nil, errcode.InsufficientFunds},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, sum, err := selectNotes(tc.notes, tc.amount, cur)
			if errcode.Of(err) != tc.code {
				t.Fatalf("error %v, want code %q", err, tc.code)
			}
			if tc.code != "" {
				return
			}
			var want uint64
			for _, n := range tc.want {
				want += n.Value
			}
			if len(got) != len(tc.want) || sum != want {
				t.Fatalf("got %v (sum %d), want %v", got, sum, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
