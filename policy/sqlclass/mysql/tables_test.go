package mysql

import (
	"context"
	"slices"
	"testing"
)

func TestTableFacts(t *testing.T) {
	tests := []struct {
		name          string
		sql           string
		read, written []string
	}{
		{"joins-subqueries-exists",
			"select * from a join b on true, (select * from c) s where exists (select 1 from d) and x in (select y from e)",
			[]string{"a", "b", "c", "d", "e"}, nil},
		{"cte-is-not-a-table", "with x as (select * from t) select * from x, u", []string{"t", "u"}, nil},
		{"cte-body-sees-real-table-of-same-name", "with t as (select * from t) select * from t", []string{"t"}, nil},
		{"nested-cte-shadowing",
			"with t as (select 1) select * from t, (with t as (select * from u) select * from t) s",
			[]string{"u"}, nil},
		{"shadowing-ends-with-its-scope",
			"select * from (with users as (select * from accounts) select * from users) s join users u on true",
			[]string{"accounts", "users"}, nil},
		{"later-sibling-not-visible", "with a as (select * from b), b as (select 1) select * from a", []string{"b"}, nil},
		{"recursive-self-reference",
			"with recursive r(n) as (select 1 union all select n + 1 from r where n < 3) select * from r", nil, nil},
		{"non-recursive-self-reference-is-table", "with r as (select * from r) select * from r", []string{"r"}, nil},
		{"cte-name-is-case-sensitive", "with T as (select 1) select * from t", []string{"t"}, nil},
		{"qualified-name-is-never-cte", "with t as (select 1) select * from db.t, t", []string{"db.t"}, nil},
		{"union-branches", "select * from a union select * from b union all select * from c", []string{"a", "b", "c"}, nil},
		{"derived-and-lateral", "select * from (select * from a) d, lateral (select * from b where b.x = d.x) l",
			[]string{"a", "b"}, nil},
		{"names-as-written", "select * from `Users`, `my.table`, App.`Order`, `a\"b`",
			[]string{`"App"."Order"`, `"Users"`, `"a""b"`, `"my.table"`}, nil},
		{"no-from-is-no-table", "select 1, now()", nil, nil},
		{"explicit-dual-is-no-table", "select 1 from dual", nil, nil},
		{"backticked-dual-is-a-table", "select * from `dual`", []string{"dual"}, nil},
		{"column-qualifier-is-not-a-table", "select t.a, u.* from t join u on t.id = u.id", []string{"t", "u"}, nil},
		{"insert-values", "insert into t (a) values (1)", nil, []string{"t"}},
		{"insert-select", "insert into db.t select * from u", []string{"u"}, []string{"db.t"}},
		{"insert-on-duplicate-reads-target", "insert into t (id) values (1) on duplicate key update n = n + 1",
			[]string{"t"}, []string{"t"}},
		{"insert-with-select", "insert into t with t as (select 1) select * from t", nil, []string{"t"}},
		{"replace", "replace into t values (1)", []string{"t"}, []string{"t"}},
		{"update-single", "update t set a = (select max(b) from u)", []string{"t", "u"}, []string{"t"}},
		{"update-multi-qualified", "update a join b on a.id = b.id set a.x = b.x", []string{"a", "b"}, []string{"a"}},
		{"update-multi-alias", "update orders o join customers c on c.id = o.cid set o.flag = 1",
			[]string{"customers", "orders"}, []string{"orders"}},
		{"update-multi-unqualified-writes-all", "update a join b on a.id = b.id set x = 1",
			[]string{"a", "b"}, []string{"a", "b"}},
		{"delete-single", "delete from t where id in (select id from u)", []string{"t", "u"}, []string{"t"}},
		{"delete-multi-alias", "delete o from orders o join customers c on c.id = o.cid",
			[]string{"customers", "orders"}, []string{"orders"}},
		{"delete-multi-targets", "delete a, b from a join b on a.id = b.id join c on c.id = a.id",
			[]string{"a", "b", "c"}, []string{"a", "b"}},
		{"for-update-locks-read-tables", "select * from a join (select * from b) bb on true for update",
			[]string{"a", "b"}, []string{"a", "b"}},
		{"lock-tables", "lock tables a read, db.b write", nil, []string{"a", "db.b"}},
		{"truncate", "truncate table db.t", nil, []string{"db.t"}},
		{"drop", "drop table a, db.b", nil, []string{"a", "db.b"}},
		{"rename", "rename table a to b", nil, []string{"a", "b"}},
		{"create-table-as", "create table n as select * from o", []string{"o"}, []string{"n"}},
		{"create-table-like", "create table n like o", []string{"o"}, []string{"n"}},
		{"create-view", "create view v as select * from t", []string{"t"}, []string{"v"}},
		{"alter-table-rename", "alter table a rename to b", nil, []string{"a", "b"}},
		{"load-data", "load data infile '/tmp/x' into table db.t", nil, []string{"db.t"}},
		{"optimize", "optimize table a, db.b", nil, []string{"a", "db.b"}},
		{"describe", "describe db.t", []string{"db.t"}, nil},
		{"show-columns", "show columns from t", []string{"t"}, nil},
		{"explain-reports-names-as-read", "explain delete o from orders o join c on c.id = o.cid",
			[]string{"c", "orders"}, nil},
		{"explain-analyze-reports-writes", "explain analyze delete from t", []string{"t"}, []string{"t"}},
		{"prepare-shows-prepared-tables", "prepare s from 'update t set a = (select 1 from u)'",
			[]string{"t", "u"}, []string{"t"}},
		{"do-subquery", "do (select count(*) from t)", []string{"t"}, nil},
		{"set-subquery", "set @a = (select max(id) from t)", []string{"t"}, nil},
		{"json-table", "select * from t, json_table(t.doc, '$[*]' columns (a int path '$')) jt", []string{"t"}, nil},
		{"multi-statement-union", "select * from b; select * from a; delete from c", []string{"a", "b", "c"}, []string{"c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Classify(context.Background(), tt.sql, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.TablesRead, tt.read) {
				t.Errorf("read %q, want %q", f.TablesRead, tt.read)
			}
			if !slices.Equal(f.TablesWritten, tt.written) {
				t.Errorf("written %q, want %q", f.TablesWritten, tt.written)
			}
		})
	}
}

func TestFunctionFacts(t *testing.T) {
	f, err := Classify(context.Background(),
		"select lower(a), UPPER(b), app.f(c), `MyFn`(d), count(*), json_extract(e, '$'), get_lock('x', 1) from t",
		Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"app.f", "get_lock", "lower", "myfn", "upper"}
	if !slices.Equal(f.Functions, want) {
		t.Errorf("functions %q, want %q", f.Functions, want)
	}
}
