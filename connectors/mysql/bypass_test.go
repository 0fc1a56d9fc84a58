package mysql_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/internal/testenv"
)

func runCase(c connectors.SQL, req connectors.QueryRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.Query(ctx, req)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	return rows.Close()
}

// TestReadOnlyWallAlone runs the classifier's bypass corpus straight at
// MariaDB, with the classifier out of the way, as read-only requests of
// the admin user, and proves that the read-only session on its own
// changes no data.
func TestReadOnlyWallAlone(t *testing.T) {
	e := fixture(t, nil, testenv.MySQLBypassFixture()...)
	before := testenv.MySQLFingerprint(t, e.side)
	ran, refused, skipped := 0, 0, 0
	for _, c := range testenv.MySQLBypassCorpus(t) {
		if testenv.MySQLExternalEffect(c.SQL) {
			skipped++
			continue
		}
		if err := runCase(e.conn, connectors.QueryRequest{SQL: c.SQL, ReadOnly: true, Timeout: 2 * time.Second}); err == nil {
			ran++
		} else {
			refused++
		}
		if after := testenv.MySQLFingerprint(t, e.side); after != before {
			t.Fatalf("case %s changed the database with only the read-only wall:\n%s\nbefore: %s\nafter:  %s", c.Name, c.SQL, before, after)
		}
	}
	t.Logf("read-only wall alone: %d cases ran to completion without changing data, %d were refused by MariaDB, %d with external effects left to the classifier and the minted user", ran, refused, skipped)
	if ran+refused < 90 {
		t.Errorf("only %d corpus cases were exercised", ran+refused)
	}
}

// TestGrantsWallAlone runs the whole corpus, external effects included,
// as a read-only minted user in READ WRITE transactions, with the
// classifier out of the way: the user's grants on their own change no
// data, no server setting and write no server file.
func TestGrantsWallAlone(t *testing.T) {
	for _, f := range testenv.MySQLOutfiles {
		if _, err := os.Stat(f); err == nil {
			t.Skipf("%s exists already; remove it to run this test", f)
		}
	}
	f := newJIT(t)
	for _, s := range append([]string{"DROP TABLE secrets"}, testenv.MySQLBypassFixture()...) {
		if _, err := f.side.Exec(s); err != nil {
			t.Fatalf("setup %q: %v", s, err)
		}
	}
	resp := f.mint(t, uniqueLease(t), connectors.SQLGrants{ReadOnly: true})
	before := testenv.MySQLFingerprint(t, f.side)
	ran, refused := 0, 0
	for _, c := range testenv.MySQLBypassCorpus(t) {
		if err := runCase(f.conn, connectors.QueryRequest{SQL: c.SQL, Timeout: 500 * time.Millisecond, Credential: resp.Credential}); err == nil {
			ran++
		} else {
			refused++
		}
		if after := testenv.MySQLFingerprint(t, f.side); after != before {
			t.Fatalf("case %s changed the database with only the minted user's grants:\n%s\nbefore: %s\nafter:  %s", c.Name, c.SQL, before, after)
		}
	}
	for _, path := range testenv.MySQLOutfiles {
		if _, err := os.Stat(path); err == nil {
			os.Remove(path)
			t.Errorf("a corpus case wrote the server file %s as a minted user", path)
		}
	}
	t.Logf("grants wall alone: %d cases ran without changing anything, %d were refused by MariaDB", ran, refused)
}
