package mysql

import (
	"context"
	"testing"

	"github.com/wardenhq/warden/internal/testenv"
)

const benchShort = `SELECT id, name, email FROM users WHERE id = ?`

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

// BenchmarkClassifyVersioned has executable comments, so it is classified
// under several server readings when the server is unknown.
func BenchmarkClassifyVersioned(b *testing.B) {
	benchClassify(b, `SELECT /*!40001 SQL_NO_CACHE */ id FROM t /*!80000 WHERE id > 0 */`, Options{})
}

func BenchmarkClassifyVersionedKnownServer(b *testing.B) {
	benchClassify(b, `SELECT /*!40001 SQL_NO_CACHE */ id FROM t /*!80000 WHERE id > 0 */`, Options{ServerVersion: "8.0.36"})
}

// BenchmarkParseOnly is the floor: vitess's parse alone.
func BenchmarkParseOnlyShort(b *testing.B) { benchParse(b, benchShort) }
func BenchmarkParseOnlyLong(b *testing.B)  { benchParse(b, benchLong(b)) }

func benchParse(b *testing.B, sql string) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := theParser.Parse(sql); err != nil {
			b.Fatal(err)
		}
	}
}
