package sqlclass

import (
	"context"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/wardenhq/warden/internal/testenv"
)

const benchShort = `select id, name, email from users where id = $1`

func benchLong(b *testing.B) string {
	return testenv.CorpusSQL(b, "testdata/readonly.txt", "analytical-report")
}

func benchClassify(b *testing.B, sql string, opts Options) {
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(sql)))
	for b.Loop() {
		f, err := Classify(ctx, sql, opts)
		if err != nil || !f.ReadOnly {
			b.Fatalf("%v %+v", err, f)
		}
	}
}

func BenchmarkClassifyShort(b *testing.B) { benchClassify(b, benchShort, Options{}) }
func BenchmarkClassifyLong(b *testing.B)  { benchClassify(b, benchLong(b), Options{}) }

func BenchmarkClassifyShortCached(b *testing.B) {
	benchClassify(b, benchShort, Options{Cache: NewCache(1024)})
}

func BenchmarkClassifyLongCached(b *testing.B) {
	benchClassify(b, benchLong(b), Options{Cache: NewCache(1024)})
}

// BenchmarkParseOnly is the floor: pg_query's parse and protobuf decode.
func BenchmarkParseOnlyShort(b *testing.B) { benchParse(b, benchShort) }
func BenchmarkParseOnlyLong(b *testing.B)  { benchParse(b, benchLong(b)) }

func benchParse(b *testing.B, sql string) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pg_query.Parse(sql); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWalkLong is the classifier's own share: the tree walk alone,
// on a tree parsed once.
func BenchmarkWalkLong(b *testing.B) {
	tree, err := pg_query.Parse(benchLong(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range tree.GetStmts() {
			if _, werr := walkStatement(raw.GetStmt(), 0); werr != nil {
				b.Fatal(werr)
			}
		}
	}
}
