package mysql

import (
	"context"
	"reflect"
	"testing"

	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/policy/sqlclass"
)

// TestCacheAgreesWithClassify: through a cache, every corpus statement is
// classified exactly as without one, for each server version, the second
// time (from the cache) as the first; the versions are kept apart, so an
// executable comment is read for the server asking.
func TestCacheAgreesWithClassify(t *testing.T) {
	ctx := context.Background()
	c := NewCache(10000)
	versions := []string{"", "10.11.6-MariaDB", "8.0.36"}
	n := 0
	for _, path := range []string{"testdata/bypass.txt", "testdata/readonly.txt"} {
		for _, cs := range testenv.LoadCorpus(t, path) {
			for _, v := range versions {
				want, wantErr := Classify(ctx, cs.SQL, Options{ServerVersion: v})
				for pass := range 2 {
					got, err := Classify(ctx, cs.SQL, Options{ServerVersion: v, Cache: c})
					if !reflect.DeepEqual(got, want) || !sameError(err, wantErr) {
						t.Fatalf("%s (version %q, pass %d): cached %+v, %v; uncached %+v, %v", cs.Name, v, pass, got, err, want, wantErr)
					}
				}
				n++
			}
		}
	}
	if c.Len() == 0 || c.Len() > n {
		t.Fatalf("cache holds %d entries after %d classifications", c.Len(), n)
	}
	// A caller changing its facts changes nothing cached.
	f, _ := Classify(ctx, "SELECT a FROM t", Options{Cache: c})
	was := f.Statements[0].TablesRead[0]
	f.Statements[0].TablesRead[0] = "changed"
	again, _ := Classify(ctx, "SELECT a FROM t", Options{Cache: c})
	if again.Statements[0].TablesRead[0] != was {
		t.Fatalf("the cache shares its facts with callers: %+v", again.Statements[0].TablesRead)
	}
}

// TestCacheBounded: the cache never holds more than its bound, and texts
// longer than 16 KiB are not kept.
func TestCacheBounded(t *testing.T) {
	ctx := context.Background()
	c := NewCache(8)
	for i := range 100 {
		Classify(ctx, "SELECT "+string(rune('a'+i%26))+" FROM t"+string(rune('a'+i/26)), Options{Cache: c})
	}
	if c.Len() != 8 {
		t.Fatalf("%d entries, want 8", c.Len())
	}
	long := make([]byte, 0, maxCachedSQL+64)
	long = append(long, "SELECT 1 /* "...)
	for len(long) < maxCachedSQL+32 {
		long = append(long, 'x')
	}
	long = append(long, " */"...)
	empty := NewCache(8)
	if _, err := Classify(ctx, string(long), Options{Cache: empty, MaxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if empty.Len() != 0 {
		t.Fatalf("a %d-byte text was cached", len(long))
	}
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	ea, oka := a.(*sqlclass.Error)
	eb, okb := b.(*sqlclass.Error)
	if oka != okb {
		return false
	}
	if !oka {
		return a.Error() == b.Error()
	}
	return ea.Construct == eb.Construct && ea.Reason == eb.Reason && ea.Location == eb.Location && a.Error() == b.Error()
}
