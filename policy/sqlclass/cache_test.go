package sqlclass

import (
	"context"
	"reflect"
	"strconv"
	"testing"

	"github.com/wardenhq/warden/internal/testenv"
)

// TestCacheByShape tries to make the shape-keyed cache answer for one text
// what it learned from another: for every statement of the corpora, the
// cache is first taught a variant with every constant changed, and must
// then classify the statement exactly as an uncached Classify does.
func TestCacheByShape(t *testing.T) {
	ctx := context.Background()
	var cases []corpusCase
	cases = append(cases, loadCorpus(t, "testdata/bypass.txt")...)
	cases = append(cases, loadCorpus(t, "testdata/readonly.txt")...)
	cases = append(cases, []corpusCase{
		{name: "set_config names the setting", sql: "SELECT set_config('transaction_read_only', 'off', false)"},
		{name: "set_config, harmless setting", sql: "SELECT set_config('application_name', 'x', false)"},
		{name: "explain analyze off", sql: "EXPLAIN (ANALYZE 'off') DELETE FROM t"},
		{name: "explain analyze on", sql: "EXPLAIN (ANALYZE 'on') DELETE FROM t"},
		{name: "begin read write", sql: "BEGIN TRANSACTION READ WRITE"},
		{name: "statement position", sql: "  SELECT a FROM t WHERE b = 'x''y' AND c = 12.5 ;  "},
		{name: "pgbench", sql: "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;"},
		{name: "pgbench update", sql: "UPDATE pgbench_accounts SET abalance = abalance + -4 WHERE aid = 7;"},
	}...)
	shaped := 0
	for _, c := range cases {
		variant, ok := testenv.OtherConstants(c.sql)
		if !ok {
			continue
		}
		for _, teach := range []string{variant, c.sql} {
			cache := NewCache(16)
			if teach != c.sql {
				_, _ = Classify(ctx, teach, Options{Cache: cache})
			}
			got, gotErr := Classify(ctx, c.sql, Options{Cache: cache})
			want, wantErr := Classify(ctx, c.sql, Options{})
			if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: taught %q, then %q classified as\n%+v %v\nuncached:\n%+v %v", c.name, teach, c.sql, got, gotErr, want, wantErr)
			}
			if gotErr != nil && wantErr != nil && gotErr.Error() != wantErr.Error() {
				t.Errorf("%s: cached error %q, uncached %q", c.name, gotErr, wantErr)
			}
		}
		if _, ok := Shape(c.sql); ok {
			shaped++
		}
	}
	if shaped < 50 {
		t.Errorf("only %d corpus statements have a shape; the test proves little", shaped)
	}

	// Texts of one shape share one entry.
	cache := NewCache(16)
	for i := range 100 {
		if _, err := Classify(ctx, "SELECT abalance FROM pgbench_accounts WHERE aid = "+strconv.Itoa(i), Options{Cache: cache}); err != nil {
			t.Fatal(err)
		}
	}
	if n := cache.Len(); n != 1 {
		t.Errorf("100 texts of one shape took %d cache entries", n)
	}
}
