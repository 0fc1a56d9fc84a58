package masking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/masking/detect"
)

// TestDetectorKindsAgree: config validates detector names with its own
// list; it must be detect's.
func TestDetectorKindsAgree(t *testing.T) {
	var kinds []string
	for _, k := range detect.AllKinds() {
		kinds = append(kinds, string(k))
	}
	slices.Sort(kinds)
	cfg := slices.Clone(config.DetectorKinds)
	slices.Sort(cfg)
	if !slices.Equal(kinds, cfg) {
		t.Errorf("config.DetectorKinds = %v, detect kinds = %v", cfg, kinds)
	}
}

func TestForWithoutProfile(t *testing.T) {
	e := engine(t, piiProfile)
	rm, err := e.For(context.Background(), Request{Connection: "pg", Columns: []Column{{Name: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	row := []any{"ada@example.com"}
	rm.MaskRow(row)
	if row[0] != "ada@example.com" || rm.Summary() != nil {
		t.Errorf("no profile masked: %v %v", row, rm.Summary())
	}
	if _, err := e.For(context.Background(), Request{Profile: "nope", Connection: "pg"}); !errors.Is(err, ErrUnknownProfile) {
		t.Errorf("unknown profile: %v", err)
	}
}

// TestSQLiteColumnRules: a target that cannot report sources gets only
// detectors; column rules that apply to it refuse its results.
func TestSQLiteColumnRules(t *testing.T) {
	e := engine(t, piiProfile)
	_, err := e.For(context.Background(), Request{Profile: "pii", Connection: "lite", Columns: []Column{{Name: "ssn"}}, SQL: "SELECT ssn FROM customers"})
	var re *RefusedError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "cannot report where result columns come from") {
		t.Fatalf("err = %v", err)
	}
	detectorsOnly := engine(t, `
profiles:
  pii: {detectors: [email, card]}`)
	rm, err := detectorsOnly.For(context.Background(), Request{Profile: "pii", Connection: "lite", Columns: []Column{{Name: "a"}, {Name: "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	row := []any{"write to ada@example.com", int64(4111111111111111)}
	rm.MaskRow(row)
	if row[0] != "write to [REDACTED:email]" || row[1] != "[REDACTED:card]" {
		t.Errorf("row = %v", row)
	}
	if s := fmt.Sprint(rm.Summary()); s != "map[detector:card:1 detector:email:1]" {
		t.Errorf("summary = %s", s)
	}
}

// TestMaskRowValues: every value type a connector returns, through a rule
// and through detectors.
func TestMaskRowValues(t *testing.T) {
	key := filepath.Join(t.TempDir(), "key")
	os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	e := engine(t, fmt.Sprintf(`
key_file: %s
profiles:
  pii:
    columns:
      - {match: "public.customers.ssn", strategy: token, kind: ssn}
      - {match: "public.customers.card_number", strategy: shape}
      - {match: "public.customers.salary", strategy: "null"}
      - {match: "public.customers.notes", strategy: partial, keep_last: 2}
    detectors: [all]
    detector_strategies: {email: token}`, key))
	cols := []Column{{Name: "ssn"}, {Name: "card_number"}, {Name: "salary"}, {Name: "notes"}, {Name: "name"}, {Name: "email"}}
	rm, err := e.For(context.Background(), Request{Profile: "pii", Connection: "pg", Columns: cols,
		SQL: "SELECT ssn, card_number, salary, notes, name, email FROM customers", Sources: shop()})
	if err != nil {
		t.Fatal(err)
	}
	rows := [][]any{
		{"219-09-9999", "4111 1111 1111 1111", json.Number("91234.56"), "call me", `{"contact": "ada@example.com"}`, json.RawMessage(`{"e":"ada@example.com","n":4111111111111111}`)},
		{"219099999", int64(4111111111111111), int64(5), json.RawMessage(`"ab"`), nil, "ADA@example.com"},
		{nil, nil, nil, nil, float64(4111111111111111), true},
	}
	for _, r := range rows {
		rm.MaskRow(r)
	}
	tokSSN, _ := detect.Apply(detect.Strategy{Name: "token", Key: []byte("0123456789abcdef0123456789abcdef")}, detect.SSN, "219-09-9999")
	tokMail, _ := detect.Apply(detect.Strategy{Name: "token", Key: []byte("0123456789abcdef0123456789abcdef")}, detect.Email, "ada@example.com")
	want := [][]any{
		{tokSSN, "**** **** **** 1111", nil, "**** me", `{"contact": "` + tokMail + `"}`, json.RawMessage(`{"e":"` + tokMail + `","n":"[REDACTED:card]"}`)},
		{tokSSN, "************1111", nil, "*b", nil, tokMail},
		{nil, nil, nil, nil, "[REDACTED:card]", true},
	}
	for i := range rows {
		if fmt.Sprint(rows[i]) != fmt.Sprint(want[i]) {
			t.Errorf("row %d = %v\n want %v", i, rows[i], want[i])
		}
	}
	if !json.Valid(rows[0][5].(json.RawMessage)) {
		t.Errorf("masked JSON is invalid: %s", rows[0][5])
	}
	got := rm.Summary()
	wantSum := map[string]int64{"column:public.customers.ssn": 2, "column:public.customers.card_number": 2,
		"column:public.customers.salary": 2, "column:public.customers.notes": 2, "detector:email": 3, "detector:card": 2}
	if fmt.Sprint(got) != fmt.Sprint(wantSum) {
		t.Errorf("summary = %v\n want %v", got, wantSum)
	}
	for k := range got {
		if strings.Contains(k, "219") || strings.Contains(k, "ada") {
			t.Errorf("summary key %q holds a value", k)
		}
	}
}

// TestMissingKey: a token strategy without its key fails at start, naming
// where the key was looked for.
func TestMissingKey(t *testing.T) {
	text := `
connections: [{name: pg, kind: postgres, address: "h:1", database: d, admin: {user: u, password_env: X}}]
masking:
  key_env: WARDEN_TEST_NO_SUCH_KEY
  profiles:
    p: {detectors: [email], default: token}
`
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "w.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "WARDEN_TEST_NO_SUCH_KEY") {
		t.Errorf("err = %v", err)
	}
	t.Setenv("WARDEN_TEST_NO_SUCH_KEY", "short")
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "shorter than 16 bytes") || strings.Contains(err.Error(), "short\"") {
		t.Errorf("err = %v", err)
	}
}

// TestCatalogCache: answers are cached per connection for the TTL, and
// statements' lineage too.
func TestCatalogCache(t *testing.T) {
	e := engine(t, piiProfile)
	now := time.Unix(1000, 0)
	e.now = func() time.Time { return now }
	cat := shop()
	req := Request{Profile: "pii", Connection: "pg", Columns: []Column{{Name: "x", TableOID: 100, Attribute: 4}},
		SQL: "SELECT ssn AS x FROM customer_ssn", Sources: cat}
	for range 3 {
		rm, err := e.For(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if p := rm.(*rowMasker).plans[0]; p.rule == nil {
			t.Fatal("not masked")
		}
	}
	if n := cat.calls.Load(); n != 2 { // the statement's names, then the view's
		t.Errorf("resolver calls = %d, want 2", n)
	}
	now = now.Add(DefaultCatalogTTL + time.Second)
	if _, err := e.For(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if n := cat.calls.Load(); n <= 2 {
		t.Errorf("resolver calls after TTL = %d, want more than 2", n)
	}
}

// TestOriginOnly: without the statement, sources the target reports still
// mask, and outputs without one cannot be traced.
func TestOriginOnly(t *testing.T) {
	e := engine(t, piiProfile)
	cols := []Column{{Name: "s", TableOID: 100, Attribute: 4}, {Name: "v", TableOID: 104, Attribute: 1}, {Name: "n", TableOID: 100, Attribute: 2}}
	rm, err := e.For(context.Background(), Request{Profile: "pii", Connection: "pg", Columns: cols, Sources: shop()})
	if err != nil {
		t.Fatal(err)
	}
	ps := rm.(*rowMasker).plans
	if ps[0].source != "public.customers.ssn" || ps[1].source != "public.customers.ssn" || ps[2].rule != nil || !ps[2].detect {
		t.Errorf("plans = %+v", ps)
	}
	_, err = e.For(context.Background(), Request{Profile: "pii", Connection: "pg", Columns: append(cols, Column{Name: "?column?"}), Sources: shop()})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "the statement is not known") {
		t.Errorf("err = %v", err)
	}
}

// TestMaskError: target errors that may quote a value lose their text
// under column rules; other texts go through the detectors.
func TestMaskError(t *testing.T) {
	e := engine(t, piiProfile)
	req := Request{Profile: "pii", Subject: "agent", Connection: "pg"}
	msg, detail, _ := e.MaskError(context.Background(), req, "22P02", `invalid input syntax for type integer: "219-09-9999"`, "", "")
	if strings.Contains(msg, "219") || !strings.Contains(msg, "withheld") || !strings.Contains(msg, "22P02") || detail != "" {
		t.Errorf("22P02 = %q %q", msg, detail)
	}
	msg, _, _ = e.MaskError(context.Background(), req, "42703", `column "ssnn" does not exist`, "", "")
	if msg != `column "ssnn" does not exist` {
		t.Errorf("42703 = %q", msg)
	}
	msg, _, _ = e.MaskError(context.Background(), req, "42601", `syntax error at or near "ada@example.com"`, "", "")
	if msg != `syntax error at or near "[REDACTED:email]"` {
		t.Errorf("42601 = %q", msg)
	}
	// Detectors only: the text stays, masked.
	d := engine(t, "profiles:\n  pii: {detectors: [email]}")
	msg, _, _ = d.MaskError(context.Background(), Request{Profile: "pii", Connection: "lite"}, "", "no such column: ada@example.com", "", "")
	if msg != "no such column: [REDACTED:email]" {
		t.Errorf("sqlite = %q", msg)
	}
	msg, _, _ = e.MaskError(context.Background(), Request{Connection: "pg"}, "22P02", "x: 219-09-9999", "", "")
	if msg != "x: 219-09-9999" {
		t.Errorf("no profile = %q", msg)
	}
}

// TestPlanCache: column plans are cached per requester and statement
// shape, and live no longer than the first catalog answer they rest on.
func TestPlanCache(t *testing.T) {
	e := engine(t, piiProfile)
	now := time.Unix(1000, 0)
	e.now = func() time.Time { return now }
	cat := shop()
	ctx := context.Background()
	col := []Column{{Name: "ssn"}}
	first := Request{Profile: "pii", Connection: "pg", Columns: col, SQL: "SELECT ssn FROM customers", Sources: cat}
	if _, err := e.For(ctx, first); err != nil {
		t.Fatal(err)
	}
	// Half a TTL later, another statement rests on the same (older)
	// catalog answer about customers: its plan expires with that answer.
	now = now.Add(DefaultCatalogTTL / 2)
	second := first
	second.SQL = "SELECT ssn FROM customers WHERE id = 7"
	for i := range 3 {
		second.SQL = fmt.Sprintf("SELECT ssn FROM customers WHERE id = %d", i) // one shape
		rm, err := e.For(ctx, second)
		if err != nil {
			t.Fatal(err)
		}
		if p := rm.(*rowMasker).plans[0]; p.source != "public.customers.ssn" {
			t.Fatalf("plan %+v", p)
		}
	}
	calls := cat.calls.Load()
	now = now.Add(DefaultCatalogTTL/2 + time.Second) // customers' answer expired; the second trace has not
	for i, r := range cat.rels {
		if r.Name == "customers" {
			cat.rels[i].Columns = []string{"id", "name", "email", "tax_id", "card_number", "notes", "", "salary"} // ssn renamed
		}
	}
	_, err := e.For(ctx, second)
	if cat.calls.Load() == calls {
		t.Error("a cached plan outlived the catalog answer it rests on")
	}
	// Column ssn is gone: what the statement reads is now unknown.
	var re *RefusedError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "cannot be resolved") {
		t.Errorf("after the column was renamed: %v", err)
	}

	// The requester is part of the key: the rule's exception for hr holds.
	salary := Request{Profile: "pii", Connection: "pg", Columns: []Column{{Name: "salary"}}, SQL: "SELECT salary FROM customers", Sources: cat}
	for range 2 {
		for _, who := range []struct {
			groups []string
			masked bool
		}{{[]string{"agents"}, true}, {[]string{"hr"}, false}} {
			req := salary
			req.Subject, req.Groups = "u", who.groups
			rm, err := e.For(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if got := rm.(*rowMasker).plans[0].rule != nil; got != who.masked {
				t.Errorf("groups %v: masked = %v, want %v", who.groups, got, who.masked)
			}
		}
	}

	// Refusals are cached too; each caller gets its own.
	refused := Request{Profile: "pii", Connection: "pg", Columns: []Column{{Name: "u"}}, SQL: "SELECT upper(card_number) FROM customers", Sources: cat}
	for range 2 {
		_, err := e.For(ctx, refused)
		var re *RefusedError
		if !errors.As(err, &re) || !strings.Contains(re.Reason, "card_number") {
			t.Fatalf("err = %v", err)
		}
		re.Reason = "mutated"
	}
}

// TestLongStatementsNotCached: a statement whose key (its shape) is longer
// than the cache keeps is traced every time, and planned the same.
func TestLongStatementsNotCached(t *testing.T) {
	e := engine(t, piiProfile)
	cat := shop()
	long := "SELECT ssn FROM customers WHERE " + strings.Repeat("name = name AND ", maxCachedKey/16) + "true"
	req := Request{Profile: "pii", Connection: "pg", Columns: []Column{{Name: "ssn"}}, SQL: long, Sources: cat}
	for range 2 {
		rm, err := e.For(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if p := rm.(*rowMasker).plans[0]; p.source != "public.customers.ssn" {
			t.Fatalf("plan %+v", p)
		}
	}
	c := e.catalog("pg")
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.traces) != 0 || len(c.plans) != 0 {
		t.Errorf("a %d-byte statement was cached (%d traces, %d plans)", len(long), len(c.traces), len(c.plans))
	}
}
