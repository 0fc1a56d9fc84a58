package connectortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/policy"
)

// Harness tells RunSQL how to reach one connector kind.
type Harness struct {
	// Open creates a fresh fixture database (see SetupSQL) and returns a
	// connector to it with a side channel. It registers its own cleanup
	// with t; RunSQL may also Close the connector itself.
	Open func(t *testing.T) Fixture
	// BigSQL returns at least 1,000,000 rows, streamed if the target can.
	BigSQL string
	// SlowSQL runs for much longer than SlowTimeout (seconds, not
	// milliseconds), so that a request bounded by SlowTimeout times out.
	SlowSQL     string
	SlowTimeout time.Duration
}

// Fixture is one connector opened on a fresh fixture database.
type Fixture struct {
	Conn connectors.SQL
	// Rows reads table directly, not through Conn, and returns its rows
	// ordered by the first column, each rendered as one string (the format
	// is the harness's own; the suite only compares and counts). ok is
	// false when the table does not exist.
	Rows func(t testing.TB, table string) (rows []string, ok bool)
}

// SetupSQL returns the statements that create the fixture: the table
// items(id, name, price, note) with the three rows of FixtureRows. priceType
// is the target's type for price ("numeric", "real").
func SetupSQL(priceType string) []string {
	return []string{
		"CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, price " + priceType + ", note text)",
		"INSERT INTO items (id, name, price, note) VALUES (1, 'apple', 1.5, 'red'), (2, 'banana', 0.25, NULL), (3, 'cherry', 10, 'dark')",
	}
}

// FixtureRows are the rows of items as the connector must return them for
// "SELECT id, name, note FROM items ORDER BY id".
var FixtureRows = [][]any{
	{int64(1), "apple", "red"},
	{int64(2), "banana", nil},
	{int64(3), "cherry", "dark"},
}

// fixturePrices are the prices of FixtureRows as formatted by fmt.
var fixturePrices = []string{"1.5", "0.25", "10"}

// queryTimeout bounds the suite's own statements; generous, never asserted.
const queryTimeout = 30 * time.Second

// RunSQL runs the contract suite against the connector h opens. Every
// subtest opens its own fixture; they run one after another.
func RunSQL(t *testing.T, h Harness) {
	t.Run("Select", func(t *testing.T) { testSelect(t, h) })
	t.Run("ReadOnlyRefusesWrites", func(t *testing.T) { testReadOnly(t, h) })
	t.Run("ReadWriteCommits", func(t *testing.T) { testReadWrite(t, h) })
	t.Run("Gate", func(t *testing.T) { testGate(t, h) })
	t.Run("SyntaxError", func(t *testing.T) { testSyntaxError(t, h) })
	t.Run("CloseRowsTwice", func(t *testing.T) { testCloseTwice(t, h) })
	t.Run("EarlyClose", func(t *testing.T) { testEarlyClose(t, h) })
	t.Run("Timeout", func(t *testing.T) { testTimeout(t, h) })
	t.Run("Describe", func(t *testing.T) { testDescribe(t, h) })
	t.Run("DescribeFilters", func(t *testing.T) { testDescribeFilters(t, h) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, h) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, h) })
	t.Run("Classifier", func(t *testing.T) { testClassifier(t, h) })
}

// testClassifier: the connector's classifier reports what a statement
// does in policy's shape, resolves an unqualified table to the namespace
// Describe puts it in, refuses what it cannot understand as such, and is
// safe for concurrent use.
func testClassifier(t *testing.T, h Harness) {
	f := h.Open(t)
	cl := f.Conn.Classifier()
	if cl == nil {
		t.Fatal("a SQL connector has a classifier")
	}
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	resp, err := f.Conn.Describe(ctx, connectors.DescribeRequest{Table: "items"})
	if err != nil {
		t.Fatal(err)
	}
	items := findTable(resp, "items")
	if items == nil {
		t.Fatal("Describe does not list items")
	}
	if cl.Namespace() != items.Schema {
		t.Errorf("the classifier resolves unqualified names to %q, but items is in %q", cl.Namespace(), items.Schema)
	}
	want := policy.Resource{Kind: policy.ResourceTable, Namespace: items.Schema, Name: "items", Text: "items"}
	read, err := cl.Classify(ctx, policy.ClassifyRequest{Statement: "SELECT id, name FROM items WHERE id > 1"})
	if err != nil {
		t.Fatal(err)
	}
	if !read.ReadOnly || len(read.Parts) != 1 || !slices.Equal(read.Kinds, []string{policy.KindRead}) ||
		!slices.Equal(read.Read, []policy.Resource{want}) || len(read.Written) != 0 {
		t.Errorf("SELECT: %+v", read)
	}
	write, err := cl.Classify(ctx, policy.ClassifyRequest{Statement: "DELETE FROM items WHERE id = 1"})
	if err != nil {
		t.Fatal(err)
	}
	if write.ReadOnly || !slices.Contains(write.Kinds, policy.KindWrite) || !slices.Equal(write.Written, []policy.Resource{want}) {
		t.Errorf("DELETE: %+v", write)
	}
	if _, err := cl.Classify(ctx, policy.ClassifyRequest{Statement: "SELEKT everything"}); !errors.Is(err, policy.ErrNotUnderstood) {
		t.Errorf("a statement that does not parse: err = %v, want policy.ErrNotUnderstood", err)
	}
	if _, err := cl.Classify(ctx, policy.ClassifyRequest{Statement: "SELECT 1 -- " + string(make([]byte, 200)), MaxBytes: 100}); err == nil {
		t.Error("a statement over MaxBytes was classified")
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := cl.Classify(ctx, policy.ClassifyRequest{Statement: fmt.Sprintf("SELECT name FROM items WHERE id = %d", i)})
			if err != nil || !f.ReadOnly {
				t.Errorf("concurrent classify: %+v, %v", f, err)
			}
		}()
	}
	wg.Wait()
}

// Result is a statement read to its end.
type Result struct {
	Columns []connectors.Column
	Rows    [][]any
	Tag     string
}

// Run runs req on c, reads every row and closes the stream. The error is the
// first of Query, Rows.Err and Rows.Close.
func Run(ctx context.Context, c connectors.SQL, req connectors.QueryRequest) (Result, error) {
	rs, err := c.Query(ctx, req)
	if err != nil {
		return Result{}, err
	}
	res := Result{Columns: rs.Columns()}
	for rs.Next() {
		res.Rows = append(res.Rows, slices.Clone(rs.Values()))
	}
	err = rs.Err()
	if cerr := rs.Close(); err == nil {
		err = cerr
	}
	res.Tag = rs.Tag()
	return res, err
}

// ReadOnly builds a read-only request with the suite's generous timeout.
func ReadOnly(sql string) connectors.QueryRequest {
	return connectors.QueryRequest{SQL: sql, ReadOnly: true, Timeout: queryTimeout}
}

// ReadWrite builds a read-write request with the suite's generous timeout.
func ReadWrite(sql string) connectors.QueryRequest {
	return connectors.QueryRequest{SQL: sql, Timeout: queryTimeout}
}

// MustRun is Run that fails the test on error.
func MustRun(t testing.TB, c connectors.SQL, req connectors.QueryRequest) Result {
	t.Helper()
	res, err := Run(t.Context(), c, req)
	if err != nil {
		t.Fatalf("%q: %v", req.SQL, err)
	}
	return res
}

// AssertItemsCount checks through the connector that items has n rows.
func AssertItemsCount(t testing.TB, c connectors.SQL, n int64) {
	t.Helper()
	res := MustRun(t, c, ReadOnly("SELECT count(*) FROM items"))
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 || res.Rows[0][0] != n {
		t.Fatalf("count(*) through the connector = %#v, want [[%d]]", res.Rows, n)
	}
}

func testSelect(t *testing.T, h Harness) {
	f := h.Open(t)
	res := MustRun(t, f.Conn, ReadOnly("SELECT id, name, note FROM items ORDER BY id"))
	names := make([]string, len(res.Columns))
	for i, c := range res.Columns {
		names[i] = c.Name
		if c.Type == "" {
			t.Errorf("column %q has an empty type", c.Name)
		}
	}
	if want := []string{"id", "name", "note"}; !slices.Equal(names, want) {
		t.Errorf("columns = %q, want %q", names, want)
	}
	if len(res.Rows) != len(FixtureRows) {
		t.Fatalf("got %d rows, want %d: %#v", len(res.Rows), len(FixtureRows), res.Rows)
	}
	for i, row := range res.Rows {
		if !slices.Equal(row, FixtureRows[i]) {
			t.Errorf("row %d = %#v, want %#v", i, row, FixtureRows[i])
		}
	}
	if res.Tag != "SELECT 3" {
		t.Errorf("tag = %q, want %q", res.Tag, "SELECT 3")
	}

	// Numbers that are not integers come back as float64 or json.Number,
	// never as a string.
	res = MustRun(t, f.Conn, ReadOnly("SELECT price FROM items ORDER BY id"))
	for i, row := range res.Rows {
		switch row[0].(type) {
		case float64, json.Number:
		default:
			t.Errorf("price %d is %T, want float64 or json.Number", i, row[0])
		}
		if got := fmt.Sprint(row[0]); got != fixturePrices[i] {
			t.Errorf("price %d = %s, want %s", i, got, fixturePrices[i])
		}
	}

	// The values slice is reused by Next: a caller that keeps a row must
	// copy it, and the connector must not hand out the driver's buffers.
	rs, err := f.Conn.Query(t.Context(), ReadOnly("SELECT name FROM items ORDER BY id"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []any
	for rs.Next() {
		kept = append(kept, rs.Values()[0])
	}
	if err := errors.Join(rs.Err(), rs.Close()); err != nil {
		t.Fatal(err)
	}
	if want := []any{"apple", "banana", "cherry"}; !slices.Equal(kept, want) {
		t.Errorf("values kept across Next = %#v, want %#v", kept, want)
	}
}

func testReadOnly(t *testing.T, h Harness) {
	f := h.Open(t)
	before, _ := f.Rows(t, "items")
	for _, tc := range []struct{ name, sql string }{
		{"insert", "INSERT INTO items (id, name) VALUES (4, 'durian')"},
		{"update", "UPDATE items SET name = 'changed'"},
		{"delete", "DELETE FROM items"},
		{"create table", "CREATE TABLE warden_new (id integer)"},
		{"drop table", "DROP TABLE items"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(t.Context(), f.Conn, ReadOnly(tc.sql))
			if !errors.Is(err, connectors.ErrReadOnly) {
				t.Errorf("%q read-only: err = %v, want ErrReadOnly", tc.sql, err)
			}
			after, ok := f.Rows(t, "items")
			if !ok || !slices.Equal(after, before) {
				t.Errorf("%q read-only changed items: before %q, after %q (exists %v)", tc.sql, before, after, ok)
			}
			if _, ok := f.Rows(t, "warden_new"); ok {
				t.Errorf("%q read-only created table warden_new", tc.sql)
			}
		})
	}
	// The connector is still fine for reads.
	AssertItemsCount(t, f.Conn, 3)
}

func testReadWrite(t *testing.T, h Harness) {
	f := h.Open(t)
	MustRun(t, f.Conn, ReadWrite("INSERT INTO items (id, name, price) VALUES (4, 'durian', 7)"))
	rows, _ := f.Rows(t, "items")
	if len(rows) != 4 {
		t.Fatalf("after a read-write INSERT the side channel sees %d rows, want 4: %q", len(rows), rows)
	}
	// A read-only request sees the committed row too.
	AssertItemsCount(t, f.Conn, 4)
}

// testGate: the statement is sent only after the gate opens; a closed gate
// is the call's error and nothing runs.
func testGate(t *testing.T, h Harness) {
	f := h.Open(t)
	errGate := errors.New("audit store unavailable")
	for _, readOnly := range []bool{true, false} {
		req := ReadWrite("INSERT INTO items (id, name, price) VALUES (4, 'durian', 7)")
		req.ReadOnly = readOnly
		calls := 0
		req.Gate = func(context.Context) error { calls++; return errGate }
		if _, err := Run(t.Context(), f.Conn, req); !errors.Is(err, errGate) {
			t.Fatalf("read-only %v: err = %v, want the gate's error", readOnly, err)
		}
		if calls != 1 {
			t.Errorf("read-only %v: gate called %d times, want 1", readOnly, calls)
		}
		if rows, _ := f.Rows(t, "items"); len(rows) != 3 {
			t.Fatalf("read-only %v: the statement ran although the gate refused it: %q", readOnly, rows)
		}
	}
	// An open gate lets the statement through, and is called once.
	req := ReadWrite("INSERT INTO items (id, name, price) VALUES (4, 'durian', 7)")
	calls := 0
	req.Gate = func(context.Context) error { calls++; return nil }
	MustRun(t, f.Conn, req)
	if rows, _ := f.Rows(t, "items"); len(rows) != 4 || calls != 1 {
		t.Fatalf("open gate: %d calls, rows %q", calls, rows)
	}
	// And the connector is still usable after a refusal.
	AssertItemsCount(t, f.Conn, 4)
}

func testSyntaxError(t *testing.T, h Harness) {
	f := h.Open(t)
	for _, readOnly := range []bool{true, false} {
		req := ReadOnly("SELEC id FROM items")
		req.ReadOnly = readOnly
		_, err := Run(t.Context(), f.Conn, req)
		var te *connectors.TargetError
		if !errors.As(err, &te) {
			t.Fatalf("read-only %v: err = %v (%T), want *connectors.TargetError", readOnly, err, err)
		}
		if te.Message == "" || te.Code == "" {
			t.Errorf("read-only %v: TargetError %+v lacks a message or code", readOnly, te)
		}
		if errors.Is(err, connectors.ErrReadOnly) || errors.Is(err, connectors.ErrTimeout) || errors.Is(err, connectors.ErrUnavailable) {
			t.Errorf("read-only %v: syntax error %v matches an unrelated sentinel", readOnly, err)
		}
	}
	AssertItemsCount(t, f.Conn, 3)
}

func testCloseTwice(t *testing.T, h Harness) {
	f := h.Open(t)
	for _, tc := range []struct {
		name string
		read int // rows to read before closing; -1 for all
	}{
		{"after reading all", -1},
		{"after reading one", 1},
		{"before reading", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := f.Conn.Query(t.Context(), ReadOnly("SELECT id FROM items ORDER BY id"))
			if err != nil {
				t.Fatal(err)
			}
			for n := 0; (tc.read < 0 || n < tc.read) && rs.Next(); n++ {
			}
			if err := rs.Close(); err != nil {
				t.Errorf("first Close: %v", err)
			}
			if err := rs.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if rs.Next() {
				t.Error("Next after Close returned true")
			}
		})
	}
	AssertItemsCount(t, f.Conn, 3)
}

func testEarlyClose(t *testing.T, h Harness) {
	f := h.Open(t)
	rs, err := f.Conn.Query(t.Context(), ReadOnly(h.BigSQL))
	if err != nil {
		t.Fatal(err)
	}
	if !rs.Next() {
		t.Fatalf("big result has no first row: %v", rs.Err())
	}
	// Closing must stop the statement rather than drain a million rows; the
	// suite only checks that it completes and leaves the connector usable.
	if err := rs.Close(); err != nil {
		t.Errorf("early Close: %v", err)
	}
	AssertItemsCount(t, f.Conn, 3)
	// A read-write request that stops early is not an error either.
	rs, err = f.Conn.Query(t.Context(), ReadWrite(h.BigSQL))
	if err != nil {
		t.Fatal(err)
	}
	rs.Next()
	if err := rs.Close(); err != nil {
		t.Errorf("early Close of a read-write request: %v", err)
	}
	AssertItemsCount(t, f.Conn, 3)
}

func testTimeout(t *testing.T, h Harness) {
	f := h.Open(t)
	for _, readOnly := range []bool{true, false} {
		req := connectors.QueryRequest{SQL: h.SlowSQL, ReadOnly: readOnly, Timeout: h.SlowTimeout}
		_, err := Run(t.Context(), f.Conn, req)
		if !errors.Is(err, connectors.ErrTimeout) {
			t.Errorf("read-only %v: err = %v, want ErrTimeout", readOnly, err)
		}
		AssertItemsCount(t, f.Conn, 3)
	}
}

func findTable(resp connectors.DescribeResponse, name string) *connectors.Table {
	for i := range resp.Tables {
		if resp.Tables[i].Name == name {
			return &resp.Tables[i]
		}
	}
	return nil
}

func testDescribe(t *testing.T, h Harness) {
	f := h.Open(t)
	resp, err := f.Conn.Describe(t.Context(), connectors.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	items := findTable(resp, "items")
	if items == nil {
		t.Fatalf("Describe does not list items: %+v", resp)
	}
	if items.Schema == "" || items.Kind != "table" {
		t.Errorf("items: schema %q kind %q, want a schema and kind table", items.Schema, items.Kind)
	}
	var names []string
	nullable := map[string]bool{}
	for _, c := range items.Columns {
		names = append(names, c.Name)
		nullable[c.Name] = c.Nullable
		if c.Type == "" {
			t.Errorf("column %s has an empty type", c.Name)
		}
	}
	if want := []string{"id", "name", "price", "note"}; !slices.Equal(names, want) {
		t.Errorf("items columns = %q, want %q", names, want)
	}
	if nullable["name"] || !nullable["note"] {
		t.Errorf("nullable: name %v (want false), note %v (want true)", nullable["name"], nullable["note"])
	}
}

func testDescribeFilters(t *testing.T, h Harness) {
	f := h.Open(t)
	// A second table, so that filters have something to leave out.
	MustRun(t, f.Conn, ReadWrite("CREATE TABLE other (x integer)"))
	all, err := f.Conn.Describe(t.Context(), connectors.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	items := findTable(all, "items")
	if items == nil || findTable(all, "other") == nil {
		t.Fatalf("Describe should list items and other: %+v", all)
	}
	schema := items.Schema
	var seen []string
	hideItems := func(s, table string) bool {
		seen = append(seen, s+"."+table)
		return table != "items"
	}
	for _, tc := range []struct {
		name string
		req  connectors.DescribeRequest
		want []string
	}{
		{"table", connectors.DescribeRequest{Table: "items"}, []string{"items"}},
		{"schema and table", connectors.DescribeRequest{Schema: schema, Table: "items"}, []string{"items"}},
		{"missing table", connectors.DescribeRequest{Table: "no_such_table"}, nil},
		{"missing schema", connectors.DescribeRequest{Schema: "no_such_schema"}, nil},
		{"table hidden", connectors.DescribeRequest{Table: "items", Visible: hideItems}, nil},
		{"hidden among all", connectors.DescribeRequest{Visible: hideItems}, []string{"other"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = nil
			resp, err := f.Conn.Describe(t.Context(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tb := range resp.Tables {
				got = append(got, tb.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("tables = %q, want %q", got, tc.want)
			}
			if tc.req.Visible != nil && !slices.Contains(seen, schema+".items") {
				t.Errorf("Visible was not asked about %s.items (asked %q)", schema, seen)
			}
		})
	}
}

func testClosed(t *testing.T, h Harness) {
	f := h.Open(t)
	ctx := t.Context()
	if err := f.Conn.Ping(ctx); err != nil {
		t.Fatalf("Ping before Close: %v", err)
	}
	if err := f.Conn.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, readOnly := range []bool{true, false} {
		req := ReadOnly("SELECT 1")
		req.ReadOnly = readOnly
		if _, err := f.Conn.Query(ctx, req); !errors.Is(err, connectors.ErrClosed) {
			t.Errorf("Query (read-only %v) after Close: err = %v, want ErrClosed", readOnly, err)
		}
	}
	if _, err := f.Conn.Describe(ctx, connectors.DescribeRequest{}); !errors.Is(err, connectors.ErrClosed) {
		t.Errorf("Describe after Close: err = %v, want ErrClosed", err)
	}
	if err := f.Conn.Ping(ctx); !errors.Is(err, connectors.ErrClosed) {
		t.Errorf("Ping after Close: err = %v, want ErrClosed", err)
	}
	if err := f.Conn.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func testConcurrent(t *testing.T, h Harness) {
	f := h.Open(t)
	const goroutines, perGoroutine = 16, 20
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			ctx := t.Context()
			for i := range perGoroutine {
				if (g+i)%20 == 0 {
					// Some statements stop early, so that a cancelled
					// statement must not disturb the next one on the same
					// connection.
					rs, err := f.Conn.Query(ctx, ReadOnly(h.BigSQL))
					if err != nil {
						t.Errorf("goroutine %d query %d: %v", g, i, err)
						return
					}
					rs.Next()
					if err := rs.Close(); err != nil {
						t.Errorf("goroutine %d query %d: early Close: %v", g, i, err)
						return
					}
					continue
				}
				id := int64(i%3) + 1
				res, err := Run(ctx, f.Conn, ReadOnly(fmt.Sprintf("SELECT id, name, note FROM items WHERE id = %d", id)))
				if err != nil {
					t.Errorf("goroutine %d query %d: %v", g, i, err)
					return
				}
				if len(res.Rows) != 1 || !slices.Equal(res.Rows[0], FixtureRows[id-1]) {
					t.Errorf("goroutine %d query %d: rows %#v, want [%#v]", g, i, res.Rows, FixtureRows[id-1])
					return
				}
			}
		})
	}
	wg.Wait()
}
