package sqlclass

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func TestErrors(t *testing.T) {
	tests := []struct {
		name      string
		sql       string
		sentinel  error
		construct string
		location  int
		message   string
	}{
		{"syntax", "SELECT a, b, c FORM t", ErrUnparseable, "", 20,
			`cannot parse SQL at offset 20: syntax error at or near "t"`},
		{"syntax-multibyte", "select 'é' form t", ErrUnparseable, "", 17,
			`cannot parse SQL at offset 17: syntax error at or near "t"`},
		{"alter-system", "select 1; ALTER SYSTEM SET work_mem = '1GB'", ErrUnsupported, "AlterSystemStmt", 10,
			`unsupported SQL construct "AlterSystemStmt"`},
		{"empty", "", ErrUnparseable, "", -1, "cannot parse SQL: no SQL statement"},
		{"nul-byte", "select 1\x00; delete from t", ErrUnparseable, "", 8, "NUL byte"},
		{"invalid-utf8", "select '\xff'", ErrUnparseable, "", 8, "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Classify(context.Background(), tt.sql, Options{})
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("error %v, want %v", err, tt.sentinel)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			if e.Construct != tt.construct || e.Location != tt.location {
				t.Errorf("construct %q location %d, want %q %d", e.Construct, e.Location, tt.construct, tt.location)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("message %q does not contain %q", err, tt.message)
			}
		})
	}
}

func TestStatementsAndLocations(t *testing.T) {
	sql := "select 1;\n  insert into t values (1) ;  BEGIN"
	f, err := Classify(context.Background(), sql, Options{})
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Kind       Kind
		Tag, Text  string
		Kinds      []Kind
		NumReasons int
	}
	var gots []got
	for _, st := range f.Statements {
		gots = append(gots, got{st.Kind, st.Tag, sql[st.Location : st.Location+st.Length], st.Kinds, len(st.Reasons)})
	}
	want := []got{
		{KindRead, "SELECT", "select 1", []Kind{KindRead}, 0},
		{KindWrite, "INSERT", "insert into t values (1) ", []Kind{KindRead, KindWrite}, 1},
		{KindTransaction, "BEGIN", "BEGIN", []Kind{KindTransaction}, 1},
	}
	if !reflect.DeepEqual(gots, want) {
		t.Errorf("statements\n got %+v\nwant %+v", gots, want)
	}
	if f.ReadOnly {
		t.Error("ReadOnly with a write")
	}
	if !slices.Equal(f.Kinds, []Kind{KindRead, KindTransaction, KindWrite}) {
		t.Errorf("kinds %v", f.Kinds)
	}
}

type fakeFuncs struct {
	vol   map[string]byte
	err   error
	asked []string
}

func (r *fakeFuncs) Volatility(_ context.Context, name string) (byte, bool, error) {
	r.asked = append(r.asked, name)
	if r.err != nil {
		return 0, false, r.err
	}
	v, ok := r.vol[name]
	return v, ok, nil
}

type fakeTypes map[string]byte

func (r fakeTypes) TypeKind(_ context.Context, name string) (byte, bool, error) {
	v, ok := r[name]
	return v, ok, nil
}

func TestResolvers(t *testing.T) {
	funcs := &fakeFuncs{vol: map[string]byte{
		"myschema.stable_fn": 's', "imm": 'i', "myschema.evil": 'v', `"Mixed"`: 'i',
		"public.set_config": 's', "public.dblink": 's',
	}}
	types := fakeTypes{"mood": 'e', "dom": 'd', "citext": 'b', "public.rowtype": 'c'}
	opts := Options{Functions: funcs, Types: types}
	tests := []struct {
		sql      string
		readOnly bool
	}{
		{"select myschema.stable_fn(1), imm(2), \"Mixed\"(3)", true},
		{"select myschema.evil()", false},
		{"select unknown_fn()", false},
		{"select 'happy'::mood, 'a'::citext", true},
		{"select 1::dom", false},
		{"select null::public.rowtype", false},
		{"select 'x'::nosuchtype", false},
		// A side-effecting name stays one whatever the resolver says.
		{"select public.dblink('x', 'y')", false},
		// A user function named like a side-effecting built-in is
		// judged by the resolver too: stable here, yet set_config's
		// session effect still applies.
		{"select public.set_config('a', 'b', false)", false},
		{"select lower('A'), nextval('s')", false},
	}
	for _, tt := range tests {
		f, err := Classify(context.Background(), tt.sql, opts)
		if err != nil {
			t.Fatalf("%s: %v", tt.sql, err)
		}
		if f.ReadOnly != tt.readOnly {
			t.Errorf("%s: ReadOnly %v, want %v (%q)", tt.sql, f.ReadOnly, tt.readOnly, allReasons(f))
		}
	}
	if slices.Contains(funcs.asked, "lower") || slices.Contains(funcs.asked, "nextval") {
		t.Errorf("resolver asked about built-ins: %q", funcs.asked)
	}

	boom := errors.New("catalog unavailable")
	_, err := Classify(context.Background(), "select f()", Options{Functions: &fakeFuncs{err: boom}})
	if !errors.Is(err, boom) {
		t.Errorf("resolver failure: got %v", err)
	}
}

func TestCache(t *testing.T) {
	c := NewCache(2)
	ctx := context.Background()
	funcs := &fakeFuncs{vol: map[string]byte{"f": 's'}}
	for i := 0; i < 3; i++ {
		f1, err1 := Classify(ctx, "select f() from t", Options{Cache: c, Functions: funcs})
		f2, err2 := Classify(ctx, "select f() from t", Options{Functions: funcs})
		if err1 != nil || err2 != nil || !reflect.DeepEqual(f1, f2) {
			t.Fatalf("cached %+v %v, uncached %+v %v", f1, err1, f2, err2)
		}
		// The caller owns what it gets back.
		f1.Statements[0].TablesRead[0] = "mutated"
		f1.TablesRead[0] = "mutated"
	}
	// Resolver answers are not cached.
	funcs.vol["f"] = 'v'
	f, _ := Classify(ctx, "select f() from t", Options{Cache: c, Functions: funcs})
	if f.ReadOnly {
		t.Error("cache kept a resolver answer")
	}
	// Errors are cached, and each caller gets its own copy.
	_, err := Classify(ctx, "selec 1", Options{Cache: c})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatal(err)
	}
	e.Reason = "mutated"
	_, err = Classify(ctx, "selec 1", Options{Cache: c})
	if strings.Contains(err.Error(), "mutated") {
		t.Error("cached error shared between callers")
	}
	for i := 0; i < 10; i++ {
		_, _ = Classify(ctx, fmt.Sprintf("select %d", i), Options{Cache: c})
	}
	if c.Len() != 2 {
		t.Errorf("cache holds %d entries, want 2", c.Len())
	}
	var nilCache *Cache
	if _, err := Classify(ctx, "select 1", Options{Cache: nilCache}); err != nil || nilCache.Len() != 0 {
		t.Errorf("nil cache: %v", err)
	}
}

// TestEveryNodeTypeIsDecided makes sure the walker has decided on every
// node type pg_query can produce: the analysed-tree and executor nodes
// (which the raw parser never emits) and deliberately refused constructs
// are refused; every other type is known.
func TestEveryNodeTypeIsDecided(t *testing.T) {
	refused := map[string]bool{}
	for _, n := range strings.Fields(`Var Param Aggref WindowFunc WindowFuncRunCondition SubscriptingRef
		FuncExpr OpExpr DistinctExpr NullIfExpr ScalarArrayOpExpr SubPlan AlternativeSubPlan FieldSelect
		FieldStore RelabelType CoerceViaIO ArrayCoerceExpr ConvertRowtypeExpr CollateExpr CaseTestExpr
		ArrayExpr RowCompareExpr JsonConstructorExpr JsonExpr JsonTablePath JsonTablePathScan
		JsonTableSiblingJoin MergeAction CoerceToDomain CoerceToDomainValue NextValueExpr InferenceElem
		TargetEntry RangeTblRef FromExpr OnConflictExpr Query RangeTblEntry RTEPermissionInfo
		RangeTblFunction TableSampleClause WithCheckOption SortGroupClause WindowClause RowMarkClause
		SetOperationStmt PLAssignStmt InlineCodeBlock CallContext TableFunc IntList OidList
		AlterSystemStmt LockingClause WithClause CommonTableExpr RawStmt`) {
		refused[n] = true
	}
	oneof := (&pg_query.Node{}).ProtoReflect().Descriptor().Oneofs().ByName("node")
	fields := oneof.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := string(fd.Message().Name())
		t.Run(name, func(t *testing.T) {
			node := (&pg_query.Node{}).ProtoReflect()
			inner := node.NewField(fd)
			node.Set(fd, inner)
			w := &walker{depth: 1}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic walking an empty %s: %v", name, r)
					}
				}()
				w.walk(node.Interface(), false)
			}()
			unknown := w.err != nil && w.err.Construct == name &&
				(w.err.Reason == "the classifier does not know this node type" || name == "AlterSystemStmt")
			if refused[name] != unknown {
				t.Errorf("%s: refused=%v, walker error %v", name, refused[name], w.err)
			}
		})
	}
}

func TestSafeListsDoNotOverlapSideEffects(t *testing.T) {
	for name := range safeFunctions {
		if _, ok := sideEffect(name, nil); ok && name != "ts_rewrite" {
			t.Errorf("%s is both safe and side-effecting", name)
		}
	}
	for _, must := range []string{"lower", "count", "now", "jsonb_build_object", "row_number", "generate_series", "coalesce_nope"} {
		if must == "coalesce_nope" {
			if safeFunctions[must] {
				t.Error("unexpected name in safe list")
			}
			continue
		}
		if !safeFunctions[must] {
			t.Errorf("%s missing from the safe list", must)
		}
	}
}

// TestUnknownFieldsRefused: a field the Go bindings do not know (a newer
// parser emitting something new) must not be skipped silently.
func TestUnknownFieldsRefused(t *testing.T) {
	tree, err := pg_query.Parse("select a from t")
	if err != nil {
		t.Fatal(err)
	}
	sel := tree.GetStmts()[0].GetStmt().GetSelectStmt()
	sel.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 1))
	_, werr := walkStatement(tree.GetStmts()[0].GetStmt(), 0)
	if werr == nil || !errors.Is(werr, ErrUnsupported) {
		t.Fatalf("walk of a tree with unknown fields: %v", werr)
	}
	empty := &pg_query.Node{}
	if _, werr := walkStatement(empty, 0); werr == nil {
		t.Fatal("empty top-level node accepted")
	}
}

// TestLeavesHaveNoChildren guards the node types walk treats as leaves:
// if a new pg_query version gave one of them a node-valued field, the
// walk would skip it.
func TestLeavesHaveNoChildren(t *testing.T) {
	scalarWrappers := map[string]bool{"Integer": true, "Float": true, "Boolean": true, "String": true, "BitString": true}
	for _, m := range []proto.Message{&pg_query.A_Const{}, &pg_query.String{}, &pg_query.Integer{},
		&pg_query.Float{}, &pg_query.Boolean{}, &pg_query.BitString{}, &pg_query.A_Star{},
		&pg_query.ParamRef{}, &pg_query.RoleSpec{}} {
		md := m.ProtoReflect().Descriptor()
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			if fd.Message() == nil {
				continue
			}
			if md.Name() == "A_Const" && fd.ContainingOneof() != nil && scalarWrappers[string(fd.Message().Name())] {
				continue
			}
			t.Errorf("leaf %s has node-valued field %s", md.Name(), fd.Name())
		}
	}
}

func TestMaxBytes(t *testing.T) {
	long := "select 1" + strings.Repeat(" + 1", DefaultMaxBytes/4)
	if _, err := Classify(context.Background(), long, Options{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("over the default limit: %v", err)
	}
	if _, err := Classify(context.Background(), "select 1, 2, 3", Options{MaxBytes: 10}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("over a set limit: %v", err)
	}
	if _, err := Classify(context.Background(), "select 1", Options{MaxBytes: 10}); err != nil {
		t.Errorf("under a set limit: %v", err)
	}
}

func TestConcurrentClassify(t *testing.T) {
	c := NewCache(8)
	sqls := []string{"select 1", "delete from t", "with x as (select * from a) select * from x", "selec 1"}
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				sql := sqls[(g+i)%len(sqls)]
				f1, err1 := Classify(context.Background(), sql, Options{Cache: c})
				f2, err2 := Classify(context.Background(), sql, Options{})
				if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(f1, f2) {
					t.Errorf("%q: cached %+v %v, uncached %+v %v", sql, f1, err1, f2, err2)
					return
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}
