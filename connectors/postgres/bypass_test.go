package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/internal/testenv"
)

// TestReadOnlyWallAlone runs the classifier's bypass corpus straight at
// PostgreSQL, with the classifier out of the way, as read-only requests,
// and proves that the read-only transaction on its own changes no data.
func TestReadOnlyWallAlone(t *testing.T) {
	f, p := fixture(t, nil, testenv.BypassFixture...)
	db := fixtureDatabase(t, f.Conn)
	side := p.Connect(t, db)
	before := testenv.Fingerprint(t, side)
	ran, refused, skipped := 0, 0, 0
	for _, c := range testenv.BypassCorpus(t) {
		name, sql := c.Name, c.SQL
		if testenv.ExternalEffect(sql) {
			skipped++
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rows, err := f.Conn.Query(ctx, connectors.QueryRequest{SQL: sql, ReadOnly: true, Timeout: 2 * time.Second})
		if err == nil {
			for rows.Next() {
			}
			err = rows.Close()
		}
		cancel()
		if err == nil {
			ran++
		} else {
			refused++
		}
		if after := testenv.Fingerprint(t, side); after != before {
			t.Fatalf("case %s changed the database with only the read-only wall:\n%s\nbefore: %s\nafter:  %s", name, sql, before, after)
		}
	}
	t.Logf("read-only wall alone: %d cases ran to completion without changing data, %d were refused by PostgreSQL, %d with external effects left to the classifier and the JIT role", ran, refused, skipped)
	if ran+refused < 100 {
		t.Errorf("only %d corpus cases were exercised", ran+refused)
	}
}

// fixtureDatabase recovers the database name from the connector's info.
func fixtureDatabase(t *testing.T, f interface{ Info() connectors.Info }) string {
	t.Helper()
	target := f.Info().Target
	return target[strings.LastIndex(target, "/")+1:]
}
