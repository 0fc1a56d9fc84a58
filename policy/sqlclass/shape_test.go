package sqlclass

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/wardenhq/warden/internal/testenv"
)

// markers writes a shape readably: {s}, {i} and {f} stand for the string,
// integer and numeric markers.
func markers(s string) string {
	return strings.NewReplacer("{s}", string(rune(stringMarker)), "{i}", string(rune(integerMarker)),
		"{f}", string(rune(numericMarker))).Replace(s)
}

// shapeCases are texts with their shape, or refused (ok false).
var shapeCases = []struct {
	name, sql, want string
	ok              bool
}{
	// pgbench's simple-protocol statements.
	{"pgbench select", "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;", "SELECT abalance FROM pgbench_accounts WHERE aid = {i};", true},
	{"pgbench update", "UPDATE pgbench_accounts SET abalance = abalance + -5 WHERE aid = 7;", "UPDATE pgbench_accounts SET abalance = abalance + -{i} WHERE aid = {i};", true},
	{"pgbench insert", "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, CURRENT_TIMESTAMP);",
		"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ({i}, {i}, {i}, {i}, CURRENT_TIMESTAMP);", true},
	{"pgbench tellers", "UPDATE pgbench_tellers SET tbalance = tbalance + 4211 WHERE tid = 3;", "UPDATE pgbench_tellers SET tbalance = tbalance + {i} WHERE tid = {i};", true},
	{"pgbench extended", "SELECT abalance FROM pgbench_accounts WHERE aid = $1", "SELECT abalance FROM pgbench_accounts WHERE aid = $1", true},

	// Whitespace and statement ends.
	{"empty", "", "", true},
	{"only whitespace", " \t\n\r\f\v", " \t\n\r\f\v", true},
	{"whitespace kept", "SELECT\t1 ,\r\n\f\v2", "SELECT\t{i} ,\r\n\f\v{i}", true},
	{"semicolon alone", ";", ";", true},
	{"trailing semicolon and space", "SELECT 1 ; \n ", "SELECT {i} ; \n ", true},
	{"two statements", "SELECT 1; SELECT 2", "", false},
	{"semicolon then junk", "SELECT 1;x", "", false},
	{"two semicolons", "SELECT 1;;", "", false},
	{"write after commit", "COMMIT; DELETE FROM t", "", false},

	// Strings.
	{"string", "SELECT 'abc'", "SELECT {s}", true},
	{"empty string", "SELECT ''", "SELECT {s}", true},
	{"doubled quote", "SELECT 'it''s'", "SELECT {s}", true},
	{"only a doubled quote", "SELECT ''''", "SELECT {s}", true},
	{"string hides statements", "SELECT '; DROP TABLE t; --', '/* x */', '$$', '$1', 'a\"b'", "SELECT {s}, {s}, {s}, {s}, {s}", true},
	{"string with newline", "SELECT 'a\nb'", "SELECT {s}", true},
	{"string with utf8", "SELECT 'héllo 日本'", "SELECT {s}", true},
	{"string with control byte", "SELECT 'a\x01b'", "SELECT {s}", true},
	{"strings side by side", "SELECT 'a'||'b'", "SELECT {s}||{s}", true},
	{"string then identifier", "SELECT 'a'b", "SELECT {s}b", true},
	{"concatenated on new line", "SELECT 'a'\n'b'", "", false},
	{"two strings one line", "SELECT 'a' 'b'", "", false},
	{"operator between lines", "SELECT 'a' ||\n'b'", "SELECT {s} ||\n{s}", true},
	{"typed literal with space", "SELECT date '2024-01-01'", "SELECT date {s}", true},
	{"cast", "SELECT '1'::int", "SELECT {s}::int", true},
	{"json operator", "SELECT a->>'k' FROM t", "SELECT a->>{s} FROM t", true},
	{"backslash", `SELECT 'a\b'`, "", false},
	{"backslash quote", `SELECT 'a\' OR 1=1 --'`, "", false},
	{"unterminated string", "SELECT 'abc", "", false},
	{"unterminated after doubled", "SELECT 'abc''", "", false},
	{"nul in string", "SELECT 'a\x00b'", "", false},
	{"invalid utf8 in string", "SELECT '\xff'", "", false},
	{"surrogate in string", "SELECT '\xed\xa0\x80'", "", false},
	{"escape string", "SELECT E'a'", "", false},
	{"escape string lower", "SELECT e'\\x41'", "", false},
	{"bit string", "SELECT B'0101'", "", false},
	{"hex string", "SELECT X'1F'", "", false},
	{"national string", "SELECT N'x'", "", false},
	{"unicode string", "SELECT U&'d\\0061t'", "", false},
	{"unicode string lower", "SELECT u&'x'", "", false},
	{"unicode identifier", `SELECT U&"x"`, "", false},
	{"typed literal without space", "SELECT date'2024-01-01'", "", false},
	{"identifier ending in u then &", "SELECT xu&'a'", "SELECT xu&{s}", true},
	{"dollar quoted", "SELECT $$a$$", "", false},
	{"tagged dollar quoted", "SELECT $tag$a$tag$", "", false},
	{"lone dollar", "SELECT $", "", false},

	// Numbers.
	{"integers", "SELECT 0, 7, 007, 2147483647, 0002147483647", "SELECT {i}, {i}, {i}, {i}, {i}", true},
	{"integers beyond int32", "SELECT 2147483648, 99999999999999999999", "SELECT {f}, {f}", true},
	{"decimals", "SELECT 1.5, .5, 5., 00.10", "SELECT {f}, {f}, {f}, {f}", true},
	{"exponents", "SELECT 1e10, 1E+10, 1e-5, 1.e5, .5e3, 1.5E-07", "SELECT {f}, {f}, {f}, {f}, {f}, {f}", true},
	{"negative", "SELECT -1, - 2.5, 1-1, 1+-2", "SELECT -{i}, - {f}, {i}-{i}, {i}+-{i}", true},
	{"number then string", "SELECT 1'a'", "SELECT {i}{s}", true},
	{"number in brackets", "SELECT a[1:2] FROM t", "SELECT a[{i}:{i}] FROM t", true},
	{"dot dot", "SELECT a..5", "SELECT a..{i}", true},
	{"dot number after identifier", "SELECT t.5", "SELECT t{f}", true},
	{"number after param", "SELECT $1.5", "SELECT $1{f}", true},
	{"trailing junk", "SELECT 123abc", "", false},
	{"hex integer", "SELECT 0x1F", "", false},
	{"octal integer", "SELECT 0o17", "", false},
	{"binary integer", "SELECT 0b101", "", false},
	{"underscores", "SELECT 1_000", "", false},
	{"exponent without digits", "SELECT 1e", "", false},
	{"exponent sign without digits", "SELECT 1e+", "", false},
	{"exponent then letter", "SELECT 1e5e", "", false},
	{"range", "SELECT 1..2", "", false},
	{"two dots", "SELECT 1.2.3", "", false},
	{"decimal then letter", "SELECT 1.x", "", false},
	{"decimal then underscore", "SELECT 1._5", "", false},
	{"number then dollar", "SELECT 1$", "", false},
	{"number then non-ascii", "SELECT 1é", "", false},
	{"exponent underscore", "SELECT 1e1_0", "", false},

	// Parameters.
	{"params", "SELECT $1, $23 FROM t WHERE a = $1::int", "SELECT $1, $23 FROM t WHERE a = $1::int", true},
	{"param junk", "SELECT $1a", "", false},
	{"param underscore", "SELECT $1_", "", false},
	{"param dollar", "SELECT $1$", "", false},
	{"param too large", "SELECT $99999999999", "", false},
	{"dollar in identifier", "SELECT a$1, b$$ FROM t", "SELECT a$1, b$$ FROM t", true},

	// Identifiers.
	{"quoted identifiers", `SELECT "a""b", "日本", "select" FROM "T"`, `SELECT "a""b", "日本", "select" FROM "T"`, true},
	{"quoted identifier then string", `SELECT "a"'b'`, `SELECT "a"{s}`, true},
	{"empty quoted identifier", `SELECT ""`, "", false},
	{"unterminated quoted identifier", `SELECT "abc`, "", false},
	{"control byte in quoted identifier", "SELECT \"a\x01b\"", "", false},
	{"tab in quoted identifier", "SELECT \"a\tb\"", "", false},
	{"invalid utf8 in quoted identifier", "SELECT \"\xc3\"", "", false},
	{"non-ascii identifier", "SELECT café FROM t", "", false},
	{"float type", "SELECT 1::float(10)", "", false},
	{"float keyword anywhere", "CREATE TABLE t (a FLOAT)", "", false},
	{"float8 is another word", "SELECT 1::float8", "SELECT {i}::float8", true},
	{"statistics", "ALTER TABLE t ALTER 1 SET STATISTICS 100", "", false},

	// Operators and comments.
	{"operators", "SELECT a <> b, a != b, a @> b, a ~* b, a::int, a #>> b, a || b, a ^ b, a % b, a ` b, a ? b",
		"SELECT a <> b, a != b, a @> b, a ~* b, a::int, a #>> b, a || b, a ^ b, a % b, a ` b, a ? b", true},
	{"star slash is an operator", "SELECT a */ b", "SELECT a */ b", true},
	{"dash comment", "SELECT 1 -- c", "", false},
	{"dash comment in operator", "SELECT 1 +-- c\n2", "", false},
	{"block comment", "SELECT /* c */ 1", "", false},
	{"block comment in operator", "SELECT 1 </* c */ 2", "", false},
	{"nested comment", "SELECT /* /* */ */ 1", "", false},
	{"longest operator", "SELECT 1 " + strings.Repeat("!", 63), "SELECT {i} " + strings.Repeat("!", 63), true},
	{"operator too long", strings.Repeat("!", 64), "", false}, // found by FuzzShape
	{"operator too long before minus", "SELECT 1 " + strings.Repeat("<", 64) + "-1", "", false},

	// Bytes outside the subset.
	{"nul", "SELECT 1\x00; DROP TABLE t", "", false},
	{"control byte", "SELECT \x01 1", "", false},
	{"delete byte", "SELECT 1\x7f", "", false},
	{"backslash outside", `SELECT \x`, "", false},
	{"braces", "SELECT {1}", "", false},
	{"marker bytes refused", "SELECT \x02", "", false},
}

func TestShape(t *testing.T) {
	for _, c := range shapeCases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Shape(c.sql)
			if ok != c.ok {
				t.Fatalf("Shape(%q) ok = %v, want %v (shape %q)", c.sql, ok, c.ok, got)
			}
			if want := markers(c.want); got != want {
				t.Errorf("Shape(%q) = %q, want %q", c.sql, got, want)
			}
			appended, aok := AppendShape([]byte("prefix"), c.sql)
			if want := "prefix" + got; aok != ok || string(appended) != want {
				t.Errorf("AppendShape = %q %v, want %q %v", appended, aok, want, ok)
			}
			if ok {
				checkShapeAgainstScan(t, c.sql)
			}
		})
	}
}

// shapeLiterals returns the constants Shape replaces in sql.
func shapeLiterals(sql string) ([]shapeLiteral, bool) {
	lx := shapeLexer{sql: sql}
	var lits []shapeLiteral
	for {
		lit, step := lx.next()
		switch step {
		case shapeRefused:
			return nil, false
		case shapeDone:
			return lits, true
		}
		lits = append(lits, lit)
	}
}

// checkShapeAgainstScan checks an accepted text against PostgreSQL's own
// lexer: the constants Shape replaces are exactly its SCONST, ICONST and
// FCONST tokens, with the marker of their kind; every other token and
// the whitespace between tokens are in the shape unchanged; and there are
// no other kinds of constant or comments, and no token after a ';'.
func checkShapeAgainstScan(t testing.TB, sql string) {
	t.Helper()
	shape, ok := Shape(sql)
	lits, lok := shapeLiterals(sql)
	if !ok || !lok {
		t.Fatalf("Shape(%q) refused", sql)
	}
	res, err := pg_query.Scan(sql)
	if err != nil {
		t.Fatalf("Shape accepted %q, which PostgreSQL's lexer rejects: %v", sql, err)
	}
	var (
		want strings.Builder
		toks []shapeLiteral
		last int
		semi bool
	)
	for _, tok := range res.GetTokens() {
		start, end := int(tok.GetStart()), int(tok.GetEnd())
		if start < last || end <= start || end > len(sql) {
			t.Fatalf("%q: odd token %v", sql, tok)
		}
		if gap := sql[last:start]; strings.TrimLeft(gap, " \t\n\r\f\v") != "" {
			t.Fatalf("%q: text %q between tokens", sql, gap)
		}
		if semi {
			t.Fatalf("%q: token %v after ';'", sql, tok.GetToken())
		}
		want.WriteString(sql[last:start])
		var marker byte
		switch tok.GetToken() {
		case pg_query.Token_SCONST:
			marker = stringMarker
		case pg_query.Token_ICONST:
			marker = integerMarker
		case pg_query.Token_FCONST:
			marker = numericMarker
		case pg_query.Token_BCONST, pg_query.Token_XCONST, pg_query.Token_USCONST, pg_query.Token_UIDENT,
			pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT:
			t.Fatalf("Shape accepted %q with a %v token", sql, tok.GetToken())
		case pg_query.Token_ASCII_59:
			semi = true
		}
		if marker != 0 {
			toks = append(toks, shapeLiteral{start: start, end: end, marker: marker})
			want.WriteByte(marker)
		} else {
			want.WriteString(sql[start:end])
		}
		last = end
	}
	if strings.TrimLeft(sql[last:], " \t\n\r\f\v") != "" {
		t.Fatalf("%q: text %q after the last token", sql, sql[last:])
	}
	want.WriteString(sql[last:])
	if !slices.Equal(lits, toks) {
		t.Fatalf("%q: Shape replaced %v, the lexer's constants are %v", sql, lits, toks)
	}
	if shape != want.String() {
		t.Fatalf("%q: shape %q, from the lexer's tokens %q", sql, shape, want.String())
	}
}

// trickyShapeTexts are texts near the edges of the accepted subset,
// beyond shapeCases.
var trickyShapeTexts = []string{
	"SELECT 1.e5, 1.E-5, 5.e+3, .0, 0., 0.e0",
	"SELECT a.b.c, a . 5, (a).5, a[1].b",
	"SELECT t...5, t....5, a..b",
	"SELECT 1<2, 1<=2, 1>=2, 1<>2, 1=>2, a:=1, a::b",
	"SELECT +1, -+1, +-1, @-1, !1, ~1, 1!, 1 !! 2",
	"SELECT 'a'::text||'b'::text",
	"SELECT 'x'\t\f\v||'y'",
	"SELECT 'a' ,\n'b'",
	"SELECT 'a'\n,'b'",
	"SELECT $1$",
	"SELECT $0, $00, $2147483647",
	"SELECT \"\"\"\"",
	"SELECT \"a\"\"\"",
	"SELECT ARRAY[1, 2.5, 'x'], '{1,2}'::int[]",
	"SELECT 4294967296, 2147483647, 2147483648, 000000000002147483648",
	"SELECT 1e2147483648, 1e-2147483648",
	"SELECT * FROM t WHERE a IN (1, 2, 3) AND b LIKE 'x%' ESCAPE '!'",
	"SELECT * FROM t LIMIT 10 OFFSET 5",
	"FETCH 5 FROM c",
	"FETCH ABSOLUTE -3 FROM c",
	"SET search_path = 'a', b",
	"SET work_mem TO 1.5",
	"EXPLAIN (ANALYZE 0) DELETE FROM t WHERE a = 1",
	"EXPLAIN (ANALYZE 'off') SELECT 1",
	"SELECT set_config('transaction_read_only', 'off', false)",
	"SELECT a FROM t WHERE b = 'é'",
	"select u FROM t WHERE u&b = 1",
	"SELECT U & 'x'",
	"SELECT e FROM t WHERE e = 'x'",
	"SELECT _a$b, A1_, _ FROM t",
	"SELECT 1 FROM t FETCH FIRST 3 ROWS ONLY",
	"SELECT interval '1' day, interval(3) '1 s', time(2) '10:00'",
	"CREATE TABLE t (a varchar(10) DEFAULT 'x', b numeric(10, 2) CHECK (b > 0.5))",
	"SELECT 1 /",
	"SELECT /",
	"SELECT -",
	"SELECT 'a'",
	"SELECT 1;",
	";  ",
	" ",
}

// shapeCorpus is every text the differential and semantic tests try: the
// table above, the classifier's corpora whole and split into statements,
// and the tricky texts.
func shapeCorpus(t testing.TB) []string {
	var texts []string
	for _, c := range shapeCases {
		texts = append(texts, c.sql)
	}
	texts = append(texts, trickyShapeTexts...)
	texts = append(texts, shapeSemanticTexts...)
	for _, path := range []string{"testdata/bypass.txt", "testdata/readonly.txt"} {
		for _, c := range testenv.LoadCorpus(t, path) {
			texts = append(texts, c.SQL)
			if parts, err := pg_query.SplitWithScanner(c.SQL, true); err == nil && len(parts) > 1 {
				texts = append(texts, parts...)
			}
		}
	}
	return texts
}

// TestShapeMatchesLexer runs the differential check over the corpus.
func TestShapeMatchesLexer(t *testing.T) {
	accepted := 0
	for _, sql := range shapeCorpus(t) {
		if _, ok := Shape(sql); ok {
			accepted++
			checkShapeAgainstScan(t, sql)
		}
	}
	if accepted < 150 {
		t.Errorf("only %d corpus texts have a shape; the test proves little", accepted)
	}
}

// shapeSemanticTexts are statements with constants in many grammar
// positions, all inside the accepted subset.
var shapeSemanticTexts = []string{
	"SELECT abalance FROM pgbench_accounts WHERE aid = 48213;",
	"UPDATE pgbench_accounts SET abalance = abalance + -5 WHERE aid = 7;",
	"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, CURRENT_TIMESTAMP);",
	"SELECT a, 'x' AS \"alias\" FROM t WHERE b IN (1, 2, 3) AND c LIKE 'x%' ESCAPE '!' ORDER BY 1 LIMIT 10 OFFSET 5",
	"SELECT - 2147483647, -2147483648, - -1, - - 1.5, 1 - -2, +3",
	"SELECT 1.5, .5, 5., 1e10, 2147483648, 99999999999999999999 FROM t WHERE x BETWEEN .5 AND 1e3",
	"SELECT t.a FROM t WHERE t.b ~ '^[a-z]+$' AND t.c = '日本' AND t.d = $1::int + 5",
	"SELECT '1'::int, CAST('2' AS numeric(10, 2)), date '2024-01-01', interval '1' day, a::varchar(10) FROM t",
	"SELECT ARRAY[1, 2, 3], a[1:2], '{1,2}'::int[] FROM t",
	"SELECT sum(a) OVER (ORDER BY b ROWS 5 PRECEDING) FROM t",
	"SELECT * FROM t TABLESAMPLE SYSTEM (10) REPEATABLE (1)",
	"SELECT * FROM t FETCH FIRST 3 ROWS ONLY",
	"SELECT x.5, $1.5 FROM t",
	"SELECT a..5",
	"INSERT INTO t (a, b) VALUES (1, 'a'), (2, 'b') ON CONFLICT (a) DO UPDATE SET b = 'c' WHERE t.a > 0",
	"UPDATE t SET a = a * 1.1, b = 'x' || b WHERE c <> 'y' RETURNING a, 'z'",
	"DELETE FROM t WHERE a = 1 OR b = 'it''s'",
	"MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN UPDATE SET b = 1 WHEN NOT MATCHED THEN INSERT VALUES (2, 'x')",
	"WITH q AS (SELECT 1 AS a) SELECT a, 'x' FROM q WHERE a > 0",
	"VALUES (1, 'a'), (2, 'b')",
	"SELECT pg_sleep(1.5), set_config('a', 'b', false), nextval('s')",
	"SELECT EXTRACT('year' FROM now()), substring('abc' FROM 1 FOR 2), trim(both 'x' FROM 'xax')",
	"SELECT json_object('a' VALUE 1), xmlelement(name foo, 'x'), 'a' IS JSON",
	"SELECT CASE WHEN a = 1 THEN 'one' WHEN a = 2 THEN 'two' ELSE 'many' END FROM t",
	"SELECT a FROM t WHERE a @> '{1,2}' AND b ->> 'k' = 'v' AND c #> '{a,b}' IS NOT NULL",
	"FETCH 5 FROM c",
	"FETCH ABSOLUTE -3 FROM c",
	"MOVE FORWARD 7 IN c",
	"SET search_path = 'a', b",
	"SET work_mem TO 1.5",
	"SET LOCAL statement_timeout = 5000",
	"SET TIME ZONE 'UTC'",
	"EXPLAIN (ANALYZE 0) DELETE FROM t WHERE a = 1",
	"EXPLAIN (ANALYZE 'off', COSTS 'on') SELECT 1",
	"COPY t FROM '/tmp/x' WITH (FORMAT 'csv', DELIMITER ';')",
	"CREATE TABLE t (a varchar(10) DEFAULT 'x', b numeric(10, 2) CHECK (b > 0.5), c int DEFAULT 5) WITH (fillfactor = 70)",
	"CREATE SEQUENCE s START 5 INCREMENT -1 MINVALUE -100 CACHE 10",
	"CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql",
	"CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f(1, 'a', 2.5)",
	"DO 'begin null; end'",
	"COMMENT ON TABLE t IS 'a comment; DROP TABLE t --'",
	"CREATE ROLE r PASSWORD 'secret' CONNECTION LIMIT 3 VALID UNTIL '2030-01-01'",
	"ALTER TABLE t ALTER COLUMN a SET DEFAULT 0",
	"ALTER SYSTEM SET work_mem = '64MB'",
	"PREPARE p (int) AS SELECT a FROM t WHERE b = $1 AND c = 'x'",
	"SELECT 1 FROM t GROUP BY 1 HAVING count(*) > 2",
	"SELECT current_time(3), localtimestamp(2), 'x' COLLATE \"C\"",
	"SELECT a FROM t WHERE b = 'x' FOR UPDATE",
	"SELECT \"weird \"\"name\"\"\" FROM \"T\" WHERE \"T\".a = 'v'",
}

// shapeStringValues, shapeIntegerValues and shapeNumericValues replace
// constants of each kind in the semantic test: quotes, statement ends,
// comment and dollar-quote openers inside strings; leading zeros and
// the int32 edge in numbers.
var (
	shapeStringValues  = []string{"''", "'x'", "'it''s'", "'; DROP TABLE t; --'", "'/* not a comment'", "'$$ $1 $tag$'", "'\"q\"'", "'é 日本'", "'line\nbreak'", "'1'", "'on'", "''''"}
	shapeIntegerValues = []string{"0", "7", "2147483647", "000123", "1"}
	shapeNumericValues = []string{"1.5", ".5", "5.", "1e10", "1.e-3", "2147483648", "99999999999999999999", "0.0", ".25E+2"}
)

// TestShapeSemantics gives each statement of shapeSemanticTexts other
// constants and checks that the variant has the same shape and parses to
// the same tree, but for constant values and locations (see
// diffConstTrees). The comparison is of whole raw parse trees, not of
// pg_query.Normalize output, because Normalize leaves constants in many
// utility statements alone.
func TestShapeSemantics(t *testing.T) {
	for _, sql := range shapeSemanticTexts {
		shape, ok := Shape(sql)
		if !ok {
			t.Errorf("Shape refused %q", sql)
			continue
		}
		lits, _ := shapeLiterals(sql)
		if len(lits) == 0 {
			t.Errorf("%q has no constants", sql)
		}
		for k := range 12 {
			variant := substituteConstants(sql, lits, k)
			vshape, vok := Shape(variant)
			if !vok || vshape != shape {
				t.Errorf("variant %q of %q: shape %q %v, want %q", variant, sql, vshape, vok, shape)
				continue
			}
			if msg := compareParses(sql, variant); msg != "" {
				t.Errorf("%s", msg)
			}
		}
	}
}

// substituteConstants replaces the constants of sql by values of their
// kind, the k-th variant. A number right after an identifier character,
// $n or a dot must start with a dot to stay one token.
func substituteConstants(sql string, lits []shapeLiteral, k int) string {
	var b strings.Builder
	last := 0
	for i, lit := range lits {
		b.WriteString(sql[last:lit.start])
		var values []string
		switch lit.marker {
		case stringMarker:
			values = shapeStringValues
		case integerMarker:
			values = shapeIntegerValues
		case numericMarker:
			values = shapeNumericValues
		}
		v := values[(i+k)%len(values)]
		if lit.marker == numericMarker && lit.start > 0 && (identCont(sql[lit.start-1]) || sql[lit.start-1] == '.') {
			v = ".5"
			if k%2 == 1 {
				v = ".25e3"
			}
		}
		b.WriteString(v)
		last = lit.end
	}
	b.WriteString(sql[last:])
	return b.String()
}

// compareParses parses two texts of one shape: both must fail, or both
// parse to trees equal but for constants. It returns a message if not.
func compareParses(a, b string) string {
	ta, errA := pg_query.Parse(a)
	tb, errB := pg_query.Parse(b)
	if (errA == nil) != (errB == nil) {
		return fmt.Sprintf("same shape, but %q parses with error %v and %q with %v", a, errA, b, errB)
	}
	if errA != nil {
		return ""
	}
	if d := diffConstTrees(ta.ProtoReflect(), tb.ProtoReflect(), constantValues(a), constantValues(b), "tree"); d != "" {
		return fmt.Sprintf("same shape, different trees for %q and %q: %s", a, b, d)
	}
	return ""
}

// constantValues returns the values the constants of sql can take in a
// parse tree: a string's contents, a number's text, with a minus sign (a
// negated constant) and, for integers, as the parser prints them.
// The constants are the lexer's, whether or not Shape accepts sql.
func constantValues(sql string) map[string]bool {
	vals := map[string]bool{}
	res, err := pg_query.Scan(sql)
	if err != nil {
		return vals
	}
	for _, tok := range res.GetTokens() {
		text := sql[tok.GetStart():tok.GetEnd()]
		switch tok.GetToken() {
		case pg_query.Token_SCONST:
			if len(text) >= 2 && text[0] == '\'' {
				vals[strings.ReplaceAll(text[1:len(text)-1], "''", "'")] = true
			}
			continue
		case pg_query.Token_ICONST, pg_query.Token_FCONST:
		default:
			continue
		}
		vals[text], vals["-"+text] = true, true
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			vals[strconv.FormatInt(n, 10)], vals[strconv.FormatInt(-n, 10)] = true, true
		}
	}
	return vals
}

// diffConstTrees compares two parse trees field by field and describes
// the first difference, or returns "". Locations and statement lengths
// may differ; another scalar may differ only where the first tree holds
// one of its text's constant values (valsA) and the second one of its
// own (valsB). Node types, which fields are set, list lengths, enums and
// booleans must match exactly.
func diffConstTrees(a, b protoreflect.Message, valsA, valsB map[string]bool, path string) string {
	if a.Descriptor().FullName() != b.Descriptor().FullName() {
		return fmt.Sprintf("%s: %s vs %s", path, a.Descriptor().FullName(), b.Descriptor().FullName())
	}
	fields := a.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsMap():
			return p + ": unexpected map field"
		case fd.IsList():
			la, lb := a.Get(fd).List(), b.Get(fd).List()
			if la.Len() != lb.Len() {
				return fmt.Sprintf("%s: %d vs %d elements", p, la.Len(), lb.Len())
			}
			for j := range la.Len() {
				pj := fmt.Sprintf("%s[%d]", p, j)
				var d string
				if fd.Kind() == protoreflect.MessageKind {
					d = diffConstTrees(la.Get(j).Message(), lb.Get(j).Message(), valsA, valsB, pj)
				} else {
					d = diffConstScalar(fd, la.Get(j), lb.Get(j), valsA, valsB, pj)
				}
				if d != "" {
					return d
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			if a.Has(fd) != b.Has(fd) {
				return fmt.Sprintf("%s: set %v vs %v", p, a.Has(fd), b.Has(fd))
			}
			if a.Has(fd) {
				if d := diffConstTrees(a.Get(fd).Message(), b.Get(fd).Message(), valsA, valsB, p); d != "" {
					return d
				}
			}
		default:
			if d := diffConstScalar(fd, a.Get(fd), b.Get(fd), valsA, valsB, p); d != "" {
				return d
			}
		}
	}
	return ""
}

func diffConstScalar(fd protoreflect.FieldDescriptor, va, vb protoreflect.Value, valsA, valsB map[string]bool, path string) string {
	if va.Equal(vb) {
		return ""
	}
	if name := string(fd.Name()); strings.HasSuffix(name, "location") || name == "stmt_len" {
		return ""
	}
	switch fd.Kind() {
	case protoreflect.StringKind, protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		sa, sb := fmt.Sprint(va.Interface()), fmt.Sprint(vb.Interface())
		if valsA[sa] && valsB[sb] {
			return ""
		}
	}
	return fmt.Sprintf("%s: %v vs %v", path, va.Interface(), vb.Interface())
}

// TestShapeRefusesValueDependentGrammar shows why FLOAT and STATISTICS
// are refused: there the parser reads a constant's value, so texts that
// would share a shape parse differently, or not at all.
func TestShapeRefusesValueDependentGrammar(t *testing.T) {
	for _, pair := range [][2]string{
		{"SELECT 1::float(10)", "SELECT 1::float(30)"},
		{"SELECT 1::float(10)", "SELECT 1::float(0)"},
		{"ALTER TABLE t ALTER 1 SET STATISTICS 100", "ALTER TABLE t ALTER 0 SET STATISTICS 100"},
	} {
		if compareParses(pair[0], pair[1]) == "" {
			t.Errorf("%q and %q parse alike; the refusal may be unneeded", pair[0], pair[1])
		}
		for _, sql := range pair {
			if _, ok := Shape(sql); ok {
				t.Errorf("Shape accepted %q", sql)
			}
		}
	}
}

// FuzzShape checks Shape on arbitrary text. Seeds: the corpus of
// TestShapeMatchesLexer.
//   - Shape is deterministic and agrees with AppendShape.
//   - An accepted text matches PostgreSQL's lexer (checkShapeAgainstScan).
//   - The text with every constant changed (two ways) has the same
//     shape, and either both fail to parse or both parse to trees equal
//     but for constants.
func FuzzShape(f *testing.F) {
	for _, sql := range shapeCorpus(f) {
		f.Add(sql)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		shape, ok := Shape(sql)
		again, okAgain := Shape(sql)
		appended, okAppended := AppendShape([]byte("x"), sql)
		if ok != okAgain || shape != again || ok != okAppended || string(appended) != "x"+shape {
			t.Fatalf("Shape(%q) not deterministic: %q %v, %q %v, AppendShape %q %v", sql, shape, ok, again, okAgain, appended, okAppended)
		}
		if !ok {
			return
		}
		if len(shape) > len(sql) {
			t.Fatalf("shape %q longer than %q", shape, sql)
		}
		checkShapeAgainstScan(t, sql)
		lits, _ := shapeLiterals(sql)
		if len(lits) == 0 {
			if shape != sql {
				t.Fatalf("no constants in %q, but shape %q", sql, shape)
			}
			return
		}
		for k := range 2 {
			variant := substituteConstants(sql, lits, len(sql)+k)
			if vshape, vok := Shape(variant); !vok || vshape != shape {
				t.Fatalf("variant %q of %q: shape %q %v, want %q", variant, sql, vshape, vok, shape)
			}
			if msg := compareParses(sql, variant); msg != "" {
				t.Fatal(msg)
			}
		}
	})
}

func BenchmarkShape(b *testing.B) {
	for _, bc := range []struct{ name, sql string }{
		{"pgbench-select", "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;"},
		{"pgbench-update", "UPDATE pgbench_accounts SET abalance = abalance + -4211 WHERE aid = 48213;"},
		{"pgbench-insert", "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 48213, -4211, CURRENT_TIMESTAMP);"},
		{"no-constants", benchShort},
		{"strings", "SELECT a FROM t WHERE b = 'it''s' AND c = '2024-01-01' AND d = 'x'"},
		{"long", strings.TrimPrefix(benchLong(b), "-- Monthly revenue report: CTEs, window functions, FILTER, CASE.\n")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.sql)))
			for b.Loop() {
				if _, ok := Shape(bc.sql); !ok {
					b.Fatal("refused")
				}
			}
		})
	}
	b.Run("append", func(b *testing.B) {
		sql := "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;"
		buf := make([]byte, 0, 128)
		b.ReportAllocs()
		b.SetBytes(int64(len(sql)))
		for b.Loop() {
			var ok bool
			if buf, ok = AppendShape(buf[:0], sql); !ok {
				b.Fatal("refused")
			}
		}
	})
}
