package detect

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestApply(t *testing.T) {
	tests := []struct {
		name  string
		st    Strategy
		kind  Kind
		value string
		want  string
	}{
		{"redact", Strategy{Name: StrategyRedact}, Email, "john@example.com", "[REDACTED:email]"},
		{"zero strategy redacts", Strategy{}, Card, "4111111111111111", "[REDACTED:card]"},
		{"redact without kind", Strategy{}, "", "x", "[REDACTED]"},
		{"redact sanitises kind", Strategy{}, `we"ird\kind`, "x", "[REDACTED:we_ird_kind]"},
		{"partial card", Strategy{Name: StrategyPartial, KeepLast: 4}, Card, "4111-1111-1111-1234", "****-****-****-1234"},
		{"partial default keep", Strategy{Name: StrategyPartial}, Card, "4111111111111234", "************1234"},
		{"partial email", Strategy{Name: StrategyPartial, KeepLast: 4}, Email, "john@example.com", "****@*******.com"},
		{"partial ipv6 keeps the last group only", Strategy{Name: StrategyPartial}, IPv6, "fe80::1", "****::1"},
		{"partial keeps at most half", Strategy{Name: StrategyPartial, KeepLast: 10}, SSN, "123-45-6789", "***-**-6789"},
		{"partial phone", Strategy{Name: StrategyPartial, KeepLast: 2}, Phone, "(415) 555-2671", "(***) ***-**71"},
		{"partial unicode", Strategy{Name: StrategyPartial, KeepLast: 2}, "name", "José García", "**** ****ía"},
		{"partial no separators", Strategy{Name: StrategyPartial, KeepLast: 4}, IBAN, "GB82WEST12345698765432", "******************5432"},
		{"partial drops unsafe separators", Strategy{Name: StrategyPartial, KeepLast: 1}, Secret, `ab"c\d,e`, `*******e`},
		{"shape card", Strategy{Name: StrategyShape}, Card, "4111-1111-1111-1234", "****-****-****-1234"},
		{"shape mixed", Strategy{Name: StrategyShape}, IBAN, "GB82 WEST 1234 5698 7654 32", "xx** xxxx **** **** **** 32"},
		{"shape email", Strategy{Name: StrategyShape}, Email, "john.d@example.com", "xxxx.x@xxxxxxx.xxx"},
		{"shape keeps half at most", Strategy{Name: StrategyShape, KeepLast: 9}, Phone, "555-2671", "***-*671"},
		{"null", Strategy{Name: StrategyNull}, Email, "john@example.com", ""},
		{"invalid strategy redacts", Strategy{Name: "bogus"}, Email, "john@example.com", "[REDACTED:email]"},
		{"token without key redacts", Strategy{Name: StrategyToken}, Email, "john@example.com", "[REDACTED:email]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, null := Apply(tc.st, tc.kind, tc.value)
			if got != tc.want {
				t.Errorf("Apply = %q, want %q", got, tc.want)
			}
			if null != (tc.st.Name == StrategyNull) {
				t.Errorf("null = %v", null)
			}
		})
	}
}

func TestToken(t *testing.T) {
	st := Strategy{Name: StrategyToken, Key: testKey}
	a, _ := Apply(st, Email, "john@example.com")
	if !strings.HasPrefix(a, "tok_email_") || len(a) != len("tok_email_")+16 {
		t.Fatalf("token %q has the wrong form", a)
	}
	for _, c := range a[len("tok_email_"):] {
		if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyz234567", c) {
			t.Fatalf("token %q is not lower-case base32", a)
		}
	}
	same := func(kind Kind, x, y string) bool {
		tx, _ := Apply(st, kind, x)
		ty, _ := Apply(st, kind, y)
		return tx == ty
	}
	if !same(Email, "john@example.com", "john@example.com") {
		t.Error("equal values must give equal tokens")
	}
	if !same(Email, "john@example.com", "JOHN@Example.COM") {
		t.Error("e-mail tokens must ignore case")
	}
	if !same(Email, "john@example.com", `john\u0040example.com`) {
		t.Error(`e-mail tokens must read \u0040 as @`)
	}
	if !same(Card, "4111 1111 1111 1111", "4111-1111-1111-1111") {
		t.Error("card tokens must ignore separators")
	}
	if same(Email, "john@example.com", "jane@example.com") {
		t.Error("different values must give different tokens")
	}
	if same(Email, "x", "y") || same(Secret, "abc", "abd") {
		t.Error("different values must give different tokens")
	}
	other, _ := Apply(Strategy{Name: StrategyToken, Key: []byte("another key of 16+ bytes")}, Email, "john@example.com")
	if other == a {
		t.Error("a different key must give a different token")
	}
	if x, _ := Apply(st, Secret, "john@example.com"); x[len("tok_secret_"):] == a[len("tok_email_"):] {
		t.Error("the kind must be part of the token input")
	}
}

func TestStrategyValidate(t *testing.T) {
	key := []byte("SUPER-SECRET-KEY")
	tests := []struct {
		name string
		st   Strategy
		want error
	}{
		{"zero", Strategy{}, nil},
		{"redact", Strategy{Name: StrategyRedact}, nil},
		{"null", Strategy{Name: StrategyNull}, nil},
		{"partial", Strategy{Name: StrategyPartial, KeepLast: 2}, nil},
		{"shape", Strategy{Name: StrategyShape}, nil},
		{"token", Strategy{Name: StrategyToken, Key: key}, nil},
		{"unknown", Strategy{Name: "hash"}, ErrUnknownStrategy},
		{"negative keep", Strategy{Name: StrategyPartial, KeepLast: -1}, ErrInvalidStrategy},
		{"token no key", Strategy{Name: StrategyToken}, ErrInvalidStrategy},
		{"token short key", Strategy{Name: StrategyToken, Key: key[:8]}, ErrInvalidStrategy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.st.Validate()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), string(key[:8])) {
				t.Fatalf("error %q leaks the key", err)
			}
			if strings.Contains(tc.st.String(), string(key[:8])) {
				t.Fatalf("String %q leaks the key", tc.st.String())
			}
		})
	}
}

func TestNewScannerErrors(t *testing.T) {
	key := []byte("TOP-SECRET-KEY-x")
	tests := []struct {
		name    string
		cfg     Config
		want    error
		mention string
	}{
		{"unknown kind", Config{Kinds: []Kind{Email, "passport"}}, ErrUnknownKind, "passport"},
		{"unknown kind in strategies", Config{Strategies: map[Kind]Strategy{"passport": {}}}, ErrUnknownKind, "passport"},
		{"unknown strategy", Config{Strategies: map[Kind]Strategy{Card: {Name: "scramble"}}}, ErrUnknownStrategy, "scramble"},
		{"bad default", Config{Default: Strategy{Name: StrategyToken, Key: key[:4]}}, ErrInvalidStrategy, "default"},
		{"bad token", Config{Strategies: map[Kind]Strategy{Email: {Name: StrategyToken, Key: key[:4]}}}, ErrInvalidStrategy, "email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewScanner(tc.cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewScanner = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not name %q", err, tc.mention)
			}
			if strings.Contains(err.Error(), string(key[:4])) {
				t.Errorf("error %q leaks the key", err)
			}
		})
	}
}

func TestConfigKinds(t *testing.T) {
	all := scannerFor(t)
	if all.enabled != 1<<numKinds-1 {
		t.Errorf("empty Kinds must enable every detector")
	}
	sec := scannerFor(t, Secrets)
	for _, k := range []kindIndex{kAPIKey, kJWT, kPEM, kSecret} {
		if !sec.enabled.has(k) {
			t.Errorf("secrets alias must enable %s", kindNames[k])
		}
	}
	if sec.enabled.has(kEmail) {
		t.Error("secrets alias must not enable email")
	}
	if got := found(scannerFor(t, Card), "john@example.com 4111111111111111"); len(got) != 1 || got[0] != "card:4111111111111111" {
		t.Errorf("a card-only scanner found %q", got)
	}
	if len(AllKinds()) != int(numKinds) {
		t.Error("AllKinds is incomplete")
	}
}

func TestMaskStrategiesPerKind(t *testing.T) {
	sc, err := NewScanner(Config{
		Default: Strategy{Name: StrategyRedact},
		Strategies: map[Kind]Strategy{
			Card:  {Name: StrategyShape},
			Email: {Name: StrategyToken, Key: testKey},
			Phone: {Name: StrategyPartial, KeepLast: 2},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var counts Counts
	out, changed, null := sc.Mask("card 4111-1111-1111-1111, mail a@example.com, tel 415-555-2671, ssn 123-45-6789", &counts)
	tok, _ := Apply(Strategy{Name: StrategyToken, Key: testKey}, Email, "a@example.com")
	want := "card ****-****-****-1111, mail " + tok + ", tel ***-***-**71, ssn [REDACTED:ssn]"
	if out != want || !changed || null {
		t.Fatalf("Mask = %q, %v, %v\nwant %q", out, changed, null, want)
	}
	for k, n := range map[Kind]int{Card: 1, Email: 1, Phone: 1, SSN: 1, IBAN: 0} {
		if counts.Get(k) != n {
			t.Errorf("count %s = %d, want %d", k, counts.Get(k), n)
		}
	}
	if counts.Total() != 4 {
		t.Errorf("total = %d", counts.Total())
	}
	var sum Counts
	sum.Add(&counts)
	sum.Add(&counts)
	seen := map[Kind]int{}
	sum.Each(func(k Kind, n int) { seen[k] = n })
	if len(seen) != 4 || seen[Card] != 2 {
		t.Errorf("Each = %v", seen)
	}
}

func TestMaskNull(t *testing.T) {
	sc, err := NewScanner(Config{Strategies: map[Kind]Strategy{SSN: {Name: StrategyNull}}})
	if err != nil {
		t.Fatal(err)
	}
	var counts Counts
	out, changed, null := sc.Mask("email a@example.com ssn 123-45-6789", &counts)
	if out != "" || !changed || !null {
		t.Fatalf("Mask = %q, %v, %v; want NULL", out, changed, null)
	}
	if counts.Get(SSN) != 1 || counts.Get(Email) != 1 {
		t.Errorf("counts = %+v", counts)
	}
	out, changed, null = sc.Mask("email a@example.com", nil)
	if out != "email [REDACTED:email]" || !changed || null {
		t.Fatalf("Mask = %q, %v, %v", out, changed, null)
	}
}

func TestStrategyFormattingHidesKey(t *testing.T) {
	key := []byte("KEY-MUST-NOT-LEAK-123")
	st := Strategy{Name: StrategyToken, Key: key}
	cfg := Config{Default: st, Strategies: map[Kind]Strategy{Email: st}}
	sc, err := NewScanner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := NewReplacer(st)
	forms := []string{string(key), fmt.Sprint(key), fmt.Sprintf("%#v", key)[len("[]byte{"):20], fmt.Sprintf("%x", key)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, x := range []any{st, &st, cfg, sc, r} {
			out := fmt.Sprintf(verb, x)
			for _, f := range forms {
				if strings.Contains(out, f) {
					t.Errorf("%s of %T leaks the key: %s", verb, x, out)
				}
			}
		}
	}
}

func TestCountsNeverHoldValues(t *testing.T) {
	sc := scannerFor(t)
	var c Counts
	sc.Mask("john.doe@example.com 4111111111111111", &c)
	out := fmt.Sprintf("%v %+v %#v", c, &c, c)
	if strings.Contains(out, "john") || strings.Contains(out, "4111") {
		t.Fatalf("counts print a value: %s", out)
	}
}

// TestConcurrentUse shares one Scanner (and its pooled HMACs) between
// goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	sc, err := NewScanner(Config{Default: Strategy{Name: StrategyToken, Key: testKey}})
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := sc.Mask("mail john@example.com card 4111111111111111", nil)
	done := make(chan string)
	for range 8 {
		go func() {
			var out string
			for range 200 {
				out, _, _ = sc.Mask("mail john@example.com card 4111111111111111", nil)
			}
			done <- out
		}()
	}
	for range 8 {
		if got := <-done; got != want {
			t.Errorf("concurrent Mask = %q, want %q", got, want)
		}
	}
}
