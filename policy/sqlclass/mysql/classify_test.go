package mysql

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wardenhq/warden/policy/sqlclass"
)

// TestExecutableComments checks that the text inside /*! ... */ and
// /*M! ... */ is classified exactly when the server would run it.
func TestExecutableComments(t *testing.T) {
	tests := []struct {
		name, sql, server string
		want              sqlclass.Kind // "" for an error
	}{
		{"drop-runs-on-mysql-8", "/*!50000 DROP TABLE t */", "8.0.36", sqlclass.KindDDL},
		{"drop-runs-on-mariadb", "/*!50000 DROP TABLE t */", "10.11.6-MariaDB", sqlclass.KindDDL},
		{"drop-unknown-server-is-refused", "/*!50000 DROP TABLE t */", "", ""},
		{"not-run-below-version", "SELECT 1 /*!80000 , sleep(1) */", "5.7.44", sqlclass.KindRead},
		{"run-at-version", "SELECT 1 /*!80000 , sleep(1) */", "8.0.0", sqlclass.KindUtility},
		{"unknown-server-sees-both", "SELECT 1 /*!80000 , sleep(1) */", "", sqlclass.KindUtility},
		{"mariadb-6-digit-compare", "SELECT 1 /*!50000 , get_lock('a', 1) */", "10.6.18-MariaDB", sqlclass.KindWrite},
		{"unversioned-runs-everywhere", "SELECT 1 /*! , get_lock('a', 1) */", "8.0.36", sqlclass.KindWrite},
		{"mariadb-only-on-mysql", "SELECT * FROM t /*M! FOR UPDATE */", "8.0.36", sqlclass.KindRead},
		{"mariadb-only-on-mariadb", "SELECT * FROM t /*M! FOR UPDATE */", "10.6.18-MariaDB", sqlclass.KindWrite},
		{"mariadb-versioned", "SELECT 1 /*M!100300 , sleep(1) */", "10.2.44-MariaDB", sqlclass.KindRead},
		{"mariadb-versioned-runs", "SELECT 1 /*M!100300 , sleep(1) */", "5.5.5-10.3.39-MariaDB", sqlclass.KindUtility},
		{"statement-only-on-new-server", "SELECT 1; /*!90000 DELETE FROM t */", "", ""},
		{"statement-on-new-server", "SELECT 1; /*!90000 DELETE FROM t */", "9.1.0", sqlclass.KindWrite},
		{"comment-only-when-not-run", "/*!90000 DELETE FROM t */", "8.0.36", ""},
		{"six-digits-after-bang", "SELECT 1 /*!100000 , sleep(1) */", "8.0.36", ""},
		{"version-glued-to-text", "SELECT 1 /*!50000, sleep(1) */", "8.0.36", ""},
		{"string-crosses-end", "SELECT 1 /*!50000 , 'a */ ' */", "8.0.36", ""},
		{"inside-string-is-text", "SELECT '/*!50000 x */ ; DELETE FROM t'", "", sqlclass.KindRead},
		{"inside-line-comment-is-text", "SELECT 1 -- /*!50000 , sleep(1) */", "", sqlclass.KindRead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Classify(context.Background(), tt.sql, Options{ServerVersion: tt.server})
			if tt.want == "" {
				if err == nil {
					t.Fatalf("want an error, got %+v", f.Statements)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := worstKind(f); got != tt.want {
				t.Errorf("kind %s, want %s (%q)", got, tt.want, allReasons(f))
			}
		})
	}
}

func TestServerVersion(t *testing.T) {
	for v, want := range map[string]server{
		"8.0.36":                  {version: 80036},
		"8.0.36-0ubuntu0.22.04.1": {version: 80036},
		"5.7":                     {version: 50700},
		"10.11.6-MariaDB-1:10.11.6+maria~ubu2204": {mariaDB: true, version: 101106},
		"5.5.5-10.6.18-MariaDB":                   {mariaDB: true, version: 100618},
	} {
		got, err := parseServerVersion(v)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", v, got, err, want)
		}
	}
	for _, v := range []string{"x", "8", "8.0.100", "0.1.2", "MariaDB"} {
		_, err := Classify(context.Background(), "SELECT 1", Options{ServerVersion: v})
		if !errors.Is(err, sqlclass.ErrUnsupported) {
			t.Errorf("%q: want ErrUnsupported, got %v", v, err)
		}
	}
}

type fakeResolver map[string]byte

func (r fakeResolver) Volatility(_ context.Context, name string) (byte, bool, error) {
	if name == "broken" {
		return 0, false, errors.New("catalog unavailable")
	}
	b, ok := r[name]
	return b, ok, nil
}

func TestFunctionResolver(t *testing.T) {
	res := fakeResolver{"f_nosql": 'n', "app.f_reads": 'r', "f_det": 'd', "f_contains": 'c', "f_modifies": 'm', "lower": 'm'}
	for sql, readOnly := range map[string]bool{
		"SELECT f_nosql(1)":                               true,
		"SELECT app.f_reads(1)":                           true,
		"SELECT f_det(1)":                                 true,
		"SELECT f_contains(1)":                            false,
		"SELECT f_modifies(1)":                            false,
		"SELECT f_unknown(1)":                             false,
		"SELECT app.f_nosql(1)":                           false, // another database's function
		"SELECT sleep(1), f_det(1)":                       false, // a built-in effect is never resolved away
		"SELECT lower('A')":                               true,  // built-ins are not asked about
		"SELECT sys_exec('id')":                           false,
		"CALL f_nosql()":                                  false, // procedures always write
		"SELECT * FROM t WHERE f_nosql(a) = 1 FOR UPDATE": false,
	} {
		f, err := Classify(context.Background(), sql, Options{Functions: res})
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if f.ReadOnly != readOnly {
			t.Errorf("%s: ReadOnly=%v, want %v (%q)", sql, f.ReadOnly, readOnly, allReasons(f))
		}
	}
	if _, err := Classify(context.Background(), "SELECT broken()", Options{Functions: res}); err == nil ||
		!strings.Contains(err.Error(), "catalog unavailable") {
		t.Errorf("resolver failure not reported: %v", err)
	}
	f, _ := Classify(context.Background(), "SELECT f_unknown(1)", Options{})
	if f.ReadOnly || !slices.Contains(f.Statements[0].Kinds, sqlclass.KindWrite) {
		t.Errorf("unresolved function without a resolver: %+v", f)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, sql string
		sentinel  error
		text      string
	}{
		{"empty", "", sqlclass.ErrUnparseable, "no SQL statement"},
		{"whitespace", " \n\t", sqlclass.ErrUnparseable, "no SQL statement"},
		{"nul-byte", "SELECT 1\x00; DELETE FROM t", sqlclass.ErrUnparseable, "NUL"},
		{"invalid-utf8", "SELECT '\xbf\x5c'; DELETE FROM t", sqlclass.ErrUnparseable, "UTF-8"},
		{"syntax", "SELEC 1", sqlclass.ErrUnparseable, "syntax error"},
		{"parser-panic", "SELECT@@gloBAl.", sqlclass.ErrUnparseable, "parser failed"},
		{"grant-named", "GRANT SELECT ON *.* TO 'x'@'%'", sqlclass.ErrUnsupported, `"GRANT"`},
		{"handler-named", "HANDLER t READ FIRST", sqlclass.ErrUnsupported, `"HANDLER"`},
		{"vitess-only", "VEXPLAIN PLAN SELECT 1", sqlclass.ErrUnsupported, "VExplainStmt"},
		{"prepare-of-prepare", `PREPARE a FROM 'PREPARE b FROM ''SELECT 1'''`, sqlclass.ErrUnsupported, "PREPARE"},
		{"prepare-two-statements", `PREPARE a FROM 'SELECT 1; SELECT 2'`, sqlclass.ErrUnsupported, "more than one"},
		{"prepare-bad-sql", `PREPARE a FROM 'SELEC 1'`, sqlclass.ErrUnparseable, "prepared statement"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Classify(context.Background(), tt.sql, Options{})
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("error %v, want %v", err, tt.sentinel)
			}
			var e *sqlclass.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *sqlclass.Error", err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
	_, err := Classify(context.Background(), strings.Repeat("SELECT 1;", 100), Options{MaxBytes: 100})
	if !errors.Is(err, sqlclass.ErrUnsupported) || !strings.Contains(err.Error(), "limit") {
		t.Errorf("MaxBytes not enforced: %v", err)
	}
}

// TestErrorsDoNotLeakLiterals: the parser's "near '...'" text can be a
// password or other literal; errors never repeat it.
func TestErrorsDoNotLeakLiterals(t *testing.T) {
	for _, sql := range []string{
		"CREATE USER 'u'@'%' IDENTIFIED BY 'hunter2-secret'",
		"SET PASSWORD = 'hunter2-secret'",
		"SELECT 'hunter2-secret' FROM",
		"SELECT * FROM t WHERE pw = 'hunter2-secret' AND",
		"ALTER USER u IDENTIFIED BY 'hunter2-secret'",
	} {
		_, err := Classify(context.Background(), sql, Options{})
		if err == nil {
			t.Fatalf("%s: want an error", sql)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks a literal: %v", err)
		}
	}
}

func TestStatementFacts(t *testing.T) {
	f, err := Classify(context.Background(), "  SELECT 1 ; /* c */ INSERT INTO t VALUES (1)  ", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Statements) != 2 || f.ReadOnly {
		t.Fatalf("%+v", f)
	}
	a, b := f.Statements[0], f.Statements[1]
	if a.Tag != "SELECT" || a.Location != 2 || a.Length != len("SELECT 1") || a.Kind != sqlclass.KindRead {
		t.Errorf("first: %+v", a)
	}
	if b.Tag != "INSERT" || b.Location != 21 || b.Length != len("INSERT INTO t VALUES (1)") ||
		!slices.Equal(b.Kinds, []sqlclass.Kind{sqlclass.KindWrite}) {
		t.Errorf("second: %+v", b)
	}
	if !slices.Equal(f.Kinds, []sqlclass.Kind{sqlclass.KindRead, sqlclass.KindWrite}) {
		t.Errorf("kinds %v", f.Kinds)
	}
}
