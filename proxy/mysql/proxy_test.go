package mysql_test

import (
	"context"
	"testing"
)

func TestDriverTextAndBinary(t *testing.T) {
	h := newHarness(t, harnessOptions{setup: []string{
		"CREATE TABLE items (id int PRIMARY KEY, name varchar(40), price decimal(8,2), made datetime, data blob)",
		"INSERT INTO items VALUES (1, 'one', 1.50, '2024-01-02 03:04:05', x'00ff'), (2, 'two', 2.25, NULL, NULL)",
	}})
	db := h.open("alice")
	ctx := context.Background()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil {
		t.Fatalf("text protocol: %v", err)
	}
	if n != 2 {
		t.Fatalf("count = %d", n)
	}
	var name string
	var price string
	if err := db.QueryRowContext(ctx, "SELECT name, price FROM items WHERE id = ?", 2).Scan(&name, &price); err != nil {
		t.Fatalf("binary protocol: %v", err)
	}
	if name != "two" || price != "2.25" {
		t.Fatalf("got %q %q", name, price)
	}
}
