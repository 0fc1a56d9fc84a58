package testenv

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// OtherConstants returns sql with every constant PostgreSQL's scanner sees
// (strings, integers, decimals) replaced by a different one of the same
// kind — the string one that quotes, comments and ends statements inside
// itself — and false if sql has none or does not scan. Tests of caches
// keyed by a statement's shape teach the cache the variant, then check it
// answers for the original exactly as if it had never seen the variant.
func OtherConstants(sql string) (string, bool) {
	res, err := pg_query.Scan(sql)
	if err != nil {
		return "", false
	}
	var b strings.Builder
	last, n := 0, 0
	for _, tok := range res.GetTokens() {
		var repl string
		switch tok.GetToken() {
		case pg_query.Token_SCONST:
			repl = "'changed '' text; DROP TABLE t --'"
		case pg_query.Token_ICONST:
			repl = "987654"
		case pg_query.Token_FCONST:
			repl = "3.25"
		default:
			continue
		}
		b.WriteString(sql[last:tok.GetStart()])
		b.WriteString(repl)
		last = int(tok.GetEnd())
		n++
	}
	b.WriteString(sql[last:])
	return b.String(), n > 0
}
