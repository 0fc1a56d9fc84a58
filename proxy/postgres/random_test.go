package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestRandomProtocolSequences throws random, well-formed sequences of
// extended-protocol messages, simple queries and transaction control at
// the proxy — good and refused statements, unknown names, blocks left
// failed — and checks after each that the proxy answered up to
// ReadyForQuery, that its transaction status is one PostgreSQL could give,
// and that the connection still works. Nothing may be written.
func TestRandomProtocolSequences(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: shopSetup, rules: writeRules})
	ctx := context.Background()
	admin := h.admin()
	var before int
	admin.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&before)
	hc := h.wire("alice")
	fe := hc.Frontend
	sqls := []string{"SELECT id FROM orders WHERE id < $1", "SELECT count(*) FROM customers", "DELETE FROM customers",
		"UPDATE customers SET name = 'x'", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT s1", "ROLLBACK TO SAVEPOINT s1",
		"SELECT 1/0", "SELEC nonsense", "", "SELECT * FROM nope", "SET search_path = evil", "COMMIT; DELETE FROM customers"}
	names := []string{"", "a", "b"}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	rows, errs, completed := 0, 0, 0
	for round := 0; round < 2000; round++ {
		var msgs []pgproto3.FrontendMessage
		var desc []string
		if rng.IntN(4) == 0 {
			q := pick(sqls)
			msgs = append(msgs, &pgproto3.Query{String: strings.ReplaceAll(q, "$1", "5")})
			desc = append(desc, "Q "+q)
		} else {
			for n := 1 + rng.IntN(6); n > 0; n-- {
				switch rng.IntN(5) {
				case 0:
					q, nm := pick(sqls), pick(names)
					msgs = append(msgs, &pgproto3.Parse{Name: nm, Query: q})
					desc = append(desc, fmt.Sprintf("P %q %s", nm, q))
				case 1:
					nm := pick(names)
					msgs = append(msgs, &pgproto3.Bind{PreparedStatement: nm, Parameters: [][]byte{[]byte("5")}})
					desc = append(desc, fmt.Sprintf("B %q", nm))
				case 2:
					msgs = append(msgs, &pgproto3.Execute{MaxRows: uint32(rng.IntN(3))})
					desc = append(desc, "E")
				case 3:
					nm := pick(names)
					msgs = append(msgs, &pgproto3.Describe{ObjectType: 'S', Name: nm})
					desc = append(desc, fmt.Sprintf("D S %q", nm))
				case 4:
					nm := pick(names)
					msgs = append(msgs, &pgproto3.Close{ObjectType: 'S', Name: nm})
					desc = append(desc, fmt.Sprintf("C S %q", nm))
				}
			}
			msgs = append(msgs, &pgproto3.Sync{})
		}
		for _, m := range msgs {
			fe.Send(m)
		}
		hc.Conn.SetDeadline(time.Now().Add(15 * time.Second))
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		var status byte
		for status == 0 {
			msg, err := fe.Receive()
			if err != nil {
				t.Fatalf("round %d (%s): %v", round, strings.Join(desc, "; "), err)
			}
			switch r := msg.(type) {
			case *pgproto3.ReadyForQuery:
				status = r.TxStatus
			case *pgproto3.DataRow:
				rows++
			case *pgproto3.ErrorResponse:
				errs++
			case *pgproto3.CommandComplete:
				completed++
			}
		}
		if !strings.ContainsRune("ITE", rune(status)) {
			t.Fatalf("round %d: status %q", round, status)
		}
		if status != 'I' && rng.IntN(3) == 0 {
			fe.Send(&pgproto3.Query{String: "ROLLBACK"})
			fe.Flush()
			for {
				msg, err := fe.Receive()
				if err != nil {
					t.Fatal(err)
				}
				if r, ok := msg.(*pgproto3.ReadyForQuery); ok {
					if r.TxStatus != 'I' {
						t.Fatalf("round %d: ROLLBACK left status %c", round, r.TxStatus)
					}
					break
				}
			}
		}
	}
	fe.Send(&pgproto3.Query{String: "ROLLBACK"})
	fe.Send(&pgproto3.Query{String: "SELECT count(*) FROM orders"})
	fe.Flush()
	rfq, got := 0, ""
	for rfq < 2 {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			got = string(m.Values[0])
		case *pgproto3.ReadyForQuery:
			rfq++
		}
	}
	t.Logf("2000 rounds: %d rows, %d commands completed, %d errors", rows, completed, errs)
	var after int
	admin.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&after)
	if got != "100" || after != before {
		t.Fatalf("at the end: orders %q, customers %d (was %d)", got, after, before)
	}
}
