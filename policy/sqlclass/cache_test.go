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
	var cases []testenv.CorpusCase
	cases = append(cases, testenv.LoadCorpus(t, "testdata/bypass.txt")...)
	cases = append(cases, testenv.LoadCorpus(t, "testdata/readonly.txt")...)
	cases = append(cases, []testenv.CorpusCase{
		{Name: "set_config names the setting", SQL: "SELECT set_config('transaction_read_only', 'off', false)"},
		{Name: "set_config, harmless setting", SQL: "SELECT set_config('application_name', 'x', false)"},
		{Name: "explain analyze off", SQL: "EXPLAIN (ANALYZE 'off') DELETE FROM t"},
		{Name: "explain analyze on", SQL: "EXPLAIN (ANALYZE 'on') DELETE FROM t"},
		{Name: "begin read write", SQL: "BEGIN TRANSACTION READ WRITE"},
		{Name: "statement position", SQL: "  SELECT a FROM t WHERE b = 'x''y' AND c = 12.5 ;  "},
		{Name: "pgbench", SQL: "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;"},
		{Name: "pgbench update", SQL: "UPDATE pgbench_accounts SET abalance = abalance + -4 WHERE aid = 7;"},
	}...)
	shaped := 0
	for _, c := range cases {
		variant, ok := testenv.OtherConstants(c.SQL)
		if !ok {
			continue
		}
		for _, teach := range []string{variant, c.SQL} {
			cache := NewCache(16)
			if teach != c.SQL {
				_, _ = Classify(ctx, teach, Options{Cache: cache})
			}
			got, gotErr := Classify(ctx, c.SQL, Options{Cache: cache})
			want, wantErr := Classify(ctx, c.SQL, Options{})
			if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: taught %q, then %q classified as\n%+v %v\nuncached:\n%+v %v", c.Name, teach, c.SQL, got, gotErr, want, wantErr)
			}
			if gotErr != nil && wantErr != nil && gotErr.Error() != wantErr.Error() {
				t.Errorf("%s: cached error %q, uncached %q", c.Name, gotErr, wantErr)
			}
		}
		if _, ok := Shape(c.SQL); ok {
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
