package sqlclass

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
		{"cte-is-not-a-table",
			"with x as (select * from t) select * from x, u",
			[]string{"t", "u"}, nil},
		{"cte-body-sees-real-table-of-same-name",
			"with t as (select * from t) select * from t",
			[]string{"t"}, nil},
		{"nested-cte-shadowing",
			"with t as (select 1) select * from t, (with t as (select * from u) select * from t) s",
			[]string{"u"}, nil},
		{"shadowing-ends-with-its-scope",
			"select * from (with users as (select * from accounts) select * from users) s join users u on true",
			[]string{"accounts", "users"}, nil},
		{"shadowing-inside-only",
			"select * from (with users as (select * from accounts) select * from users) s",
			[]string{"accounts"}, nil},
		{"later-sibling-not-visible",
			"with a as (select * from b), b as (select 1) select * from a",
			[]string{"b"}, nil},
		{"recursive-siblings-visible",
			"with recursive a as (select * from b), b as (select 1) select * from a",
			nil, nil},
		{"recursive-self-reference",
			"with recursive r(n) as (select 1 union all select n + 1 from r) select * from r",
			nil, nil},
		{"non-recursive-self-reference-is-table",
			"with r as (select * from r) select * from r",
			[]string{"r"}, nil},
		{"qualified-name-is-never-cte",
			"with t as (select 1) select * from public.t, t",
			[]string{"public.t"}, nil},
		{"set-operation-shares-with",
			"with a as (select 1) select * from a union select * from a",
			nil, nil},
		{"parenthesised-with-does-not-leak",
			"(with a as (select * from x) select * from a) union select * from a",
			[]string{"a", "x"}, nil},
		{"insert-target-not-cte",
			"with t as (select 1) insert into t select * from t",
			nil, []string{"t"}},
		{"insert-on-conflict-reads-target",
			"insert into t (id) values (1) on conflict (id) do update set n = t.n + 1",
			[]string{"t"}, []string{"t"}},
		{"update-from",
			"update s.t set a = u.a from u where t.id = u.id",
			[]string{"s.t", "u"}, []string{"s.t"}},
		{"delete-using",
			"delete from t using u where t.id = u.id",
			[]string{"t", "u"}, []string{"t"}},
		{"merge",
			"merge into t using (select * from s) src on t.id = src.id when matched then delete",
			[]string{"s", "t"}, []string{"t"}},
		{"cte-delete-feeds-insert",
			"with d as (delete from t returning *) insert into archive select * from d",
			[]string{"t"}, []string{"archive", "t"}},
		{"copy-from", "copy t from stdin", nil, []string{"t"}},
		{"copy-to", "copy t to stdout", []string{"t"}, nil},
		{"copy-query-to", "copy (select * from a join b on true) to stdout", []string{"a", "b"}, nil},
		{"truncate", "truncate a, s.b", nil, []string{"a", "s.b"}},
		{"lock", "lock table a, b in share mode", nil, []string{"a", "b"}},
		{"select-into", "select * into new_t from old_t", []string{"old_t"}, []string{"new_t"}},
		{"for-update-locks-from-tables",
			"select * from a join (select * from b) bb on true for update of a",
			[]string{"a", "b"}, []string{"a", "b"}},
		{"quoted-and-unicode-names",
			`select * from "Users", U&"\0061bc", "my.table", public."X", "a""b"`,
			[]string{`"Users"`, `"a""b"`, `"my.table"`, "abc", `public."X"`}, nil},
		{"catalog-qualified", "select * from db.s.t", []string{"db.s.t"}, nil},
		{"view-named-in-query", "select * from v_active_users", []string{"v_active_users"}, nil},
		{"explain-reports-names-as-read", "explain delete from t using u", []string{"t", "u"}, nil},
		{"explain-analyze-reports-writes", "explain analyze delete from t", []string{"t"}, []string{"t"}},
		{"drop", "drop table a, s.b", nil, []string{"a", "s.b"}},
		{"create-table-like", "create table x (like y)", []string{"y"}, []string{"x"}},
		{"create-view", "create view v as select * from t", []string{"t"}, []string{"v"}},
		{"grant-on-table", "grant select on t to bob", nil, []string{"t"}},
		{"comment-on-column", "comment on column s.t.c is 'x'", nil, []string{"s.t"}},
		{"multi-statement-union",
			"select * from b; select * from a; delete from c",
			[]string{"a", "b", "c"}, []string{"c"}},
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
		`select lower(a), pg_catalog.upper(b), myschema.f(c), extract(year from d), count(*), "Odd"(1) from t, generate_series(1, 2)`,
		Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`"Odd"`, "count", "extract", "generate_series", "lower", "myschema.f", "upper"}
	if !slices.Equal(f.Functions, want) {
		t.Errorf("functions %q, want %q", f.Functions, want)
	}
}
