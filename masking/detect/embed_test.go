package detect

import (
	"encoding/json"
	"strings"
	"testing"
)

// sensitiveDoc is a nested document like row_to_json or json_agg returns.
func sensitiveDoc() (doc any, secrets []string) {
	rsa := "-----BEGIN RSA PRIVATE KEY-----\n" + pemBody + "-----END RSA PRIVATE KEY-----"
	secrets = []string{
		"john.doe@example.com", "4111111111111111", "5555 5555 5555 4444", "+14155552671",
		"123-45-6789", "GB82WEST12345698765432", "10.20.30.40", "2001:db8::8a2e:370:7334",
		jwtExample, "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn", "AKIAIOSFODNN7EXAMPLE", "Xk9#mP2$vL8q<&>",
	}
	doc = []any{
		map[string]any{
			"id": 1, "name": "John Doe", "email": "john.doe@example.com",
			"card":    json.Number("4111111111111111"),
			"ssn":     json.Number("123456789"),
			"history": []any{"paid with 5555 5555 5555 4444", map[string]any{"phone": "+14155552671"}},
			"notes":   "SSN 123-45-6789\nIBAN GB82WEST12345698765432\tip 10.20.30.40",
			"deep":    map[string]any{"a": []any{[]any{"2001:db8::8a2e:370:7334", json.Number("4111111111111111")}}},
		},
		map[string]any{
			"id": 2, "token": jwtExample, "key": rsa, "aws": "AKIAIOSFODNN7EXAMPLE",
			"config": "password=Xk9#mP2$vL8q<&> retries=3",
			"nested": `{"password":"Xk9#mP2$vL8q<&>"}`,
		},
	}
	return doc, append(secrets, "123456789")
}

func TestMaskJSONStaysValid(t *testing.T) {
	doc, secrets := sensitiveDoc()
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	indented, _ := json.MarshalIndent(doc, "", "  ")
	escapedAt := strings.ReplaceAll(string(raw), "@", `\u0040`)
	strategies := map[string]Strategy{
		"redact":  {Name: StrategyRedact},
		"partial": {Name: StrategyPartial, KeepLast: 4},
		"shape":   {Name: StrategyShape},
		"token":   {Name: StrategyToken, Key: testKey},
	}
	for sname, st := range strategies {
		sc, err := NewScanner(Config{Default: st})
		if err != nil {
			t.Fatal(err)
		}
		for dname, in := range map[string]string{"compact": string(raw), "indented": string(indented), "escaped @": escapedAt} {
			t.Run(sname+"/"+dname, func(t *testing.T) {
				var counts Counts
				out, changed, _ := sc.Mask(in, &counts)
				if !changed {
					t.Fatal("nothing masked")
				}
				if !json.Valid([]byte(out)) {
					t.Fatalf("masked JSON is invalid:\n%s", out)
				}
				var back any
				if err := json.Unmarshal([]byte(out), &back); err != nil {
					t.Fatal(err)
				}
				plain, _ := json.Marshal(back) // decodes escapes such as \u0040
				for _, s := range secrets {
					if strings.Contains(string(plain), s) || strings.Contains(out, s) {
						t.Errorf("%q survived masking:\n%s", s, out)
					}
				}
				if counts.Get(Card) < 3 || counts.Get(Email) != 1 || counts.Get(PEMPrivateKey) != 1 {
					t.Errorf("counts card=%d email=%d pem=%d", counts.Get(Card), counts.Get(Email), counts.Get(PEMPrivateKey))
				}
			})
		}
	}
}

// splitPGArray splits a one-dimensional PostgreSQL array literal into its
// elements (unquoted, unescaped), failing on malformed input.
func splitPGArray(t *testing.T, s string, open, close byte) []string {
	t.Helper()
	if len(s) < 2 || s[0] != open || s[len(s)-1] != close {
		t.Fatalf("not a literal: %q", s)
	}
	var out []string
	var cur strings.Builder
	inQuotes := false
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
			if i >= len(s)-1 {
				t.Fatalf("dangling backslash in %q", s)
			}
			cur.WriteByte(s[i])
		case c == '"' && inQuotes && open == '(' && i+1 < len(s) && s[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			if !inQuotes && cur.Len() > 0 {
				t.Fatalf("quote inside unquoted element in %q", s)
			}
			inQuotes = !inQuotes
		case c == ',' && !inQuotes:
			out = append(out, cur.String())
			cur.Reset()
		case !inQuotes && (c == '{' || c == '}' || c == '(' || c == ')'):
			t.Fatalf("structural %q inside element in %q", c, s)
		default:
			cur.WriteByte(c)
		}
	}
	if inQuotes {
		t.Fatalf("unterminated quote in %q", s)
	}
	return append(out, cur.String())
}

func TestMaskPostgresLiterals(t *testing.T) {
	tests := []struct {
		name, in    string
		open, close byte
		secrets     []string
	}{
		{"array", `{alice@example.com,"Bob <bob@example.com>",4111111111111111,"4111 1111 1111 1111",plain}`, '{', '}',
			[]string{"alice@example.com", "bob@example.com", "4111111111111111", "4111 1111 1111 1111"}},
		{"array escapes", `{"line\\nnext 123-45-6789","say \"+14155552671\""}`, '{', '}',
			[]string{"123-45-6789", "+14155552671"}},
		{"composite", `(42,"John Doe",john@example.com,123-45-6789,"GB82 WEST 1234 5698 7654 32",)`, '(', ')',
			[]string{"john@example.com", "123-45-6789", "GB82 WEST 1234 5698 7654 32"}},
		{"composite doubled quotes", `(1,"he said ""call (415) 555-2671""",4111111111111111)`, '(', ')',
			[]string{"(415) 555-2671", "4111111111111111"}},
	}
	for _, st := range []Strategy{{}, {Name: StrategyShape}, {Name: StrategyPartial}, {Name: StrategyToken, Key: testKey}} {
		sc, err := NewScanner(Config{Default: st})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests {
			t.Run(st.String()+"/"+tc.name, func(t *testing.T) {
				before := splitPGArray(t, tc.in, tc.open, tc.close)
				out, changed, _ := sc.Mask(tc.in, nil)
				if !changed {
					t.Fatal("nothing masked")
				}
				after := splitPGArray(t, out, tc.open, tc.close)
				if len(after) != len(before) {
					t.Fatalf("element count %d -> %d:\n%s\n%s", len(before), len(after), tc.in, out)
				}
				for _, s := range tc.secrets {
					if strings.Contains(out, s) {
						t.Errorf("%q survived: %s", s, out)
					}
				}
			})
		}
	}
}

func TestBareNumberQuoting(t *testing.T) {
	sc := scannerFor(t)
	tests := []struct{ in, want string }{
		{`{"a":4111111111111111}`, `{"a":"[REDACTED:card]"}`},
		{`[ 4111111111111111 , 1]`, `[ "[REDACTED:card]" , 1]`},
		{`{"ssn":123456789}`, `{"ssn":"[REDACTED:ssn]"}`},
		{`{"note":"x [4111111111111111] y"}`, `{"note":"x [[REDACTED:card]] y"}`},
		{`{"a":"\"","b":[4111111111111111]}`, `{"a":"\"","b":["[REDACTED:card]"]}`},
		{`4111111111111111`, `[REDACTED:card]`},
		{`(4111111111111111)`, `("[REDACTED:card]")`},
		{`card 4111111111111111.`, `card [REDACTED:card].`},
	}
	for _, tc := range tests {
		if out, _, _ := sc.Mask(tc.in, nil); out != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, out, tc.want)
		}
	}
}

func TestOverlapMerging(t *testing.T) {
	sc := scannerFor(t)
	tests := []struct {
		in   string
		want []string
	}{
		// The e-mail inside a secret value: one match, the longer wins.
		{"password=Xk9mP2vL8q@example.com", []string{"secret:Xk9mP2vL8q@example.com"}},
		// An API key as a secret value: equal spans, api_key has priority.
		{"api_key=AKIAIOSFODNN7EXAMPLE", []string{"api_key:AKIAIOSFODNN7EXAMPLE"}},
		// A JWT after Authorization: Bearer.
		{"Authorization: Bearer " + jwtExample, []string{"jwt:" + jwtExample}},
		// Two addresses sharing a part.
		{"a@b.cc@d.ee", []string{"email:a@b.cc@d.ee"}},
	}
	for _, tc := range tests {
		if got := found(sc, tc.in); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("Find(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFindAppends(t *testing.T) {
	sc := scannerFor(t)
	dst := []Match{{Kind: "x", Start: 1, End: 2}}
	dst = sc.Find("a 10.0.0.1 b fe80::1 c a@example.com", dst)
	if len(dst) != 4 || dst[0].Kind != "x" {
		t.Fatalf("Find = %+v", dst)
	}
	for i := 2; i < len(dst); i++ {
		if dst[i].Start < dst[i-1].End {
			t.Fatalf("matches overlap or are unsorted: %+v", dst)
		}
	}
}

func TestCleanValuesDoNotAllocate(t *testing.T) {
	sc := scannerFor(t)
	values := []string{
		"John Smith", "1234 Elm Street, Springfield, IL 62704", "2024-03-15 14:22:05.123456+00",
		"550e8400-e29b-41d4-a716-446655440000", "1234.56", "shipped", "",
		`{"status":"ok","items":[1,2,3],"ts":"2024-03-15T14:22:05Z","version":"1.2.3.4"}`,
		`{red,blue,"light green"}`, "The quick brown fox jumps over the lazy dog; see section 4.2.1 for details.",
		"password=changeme", "key: value, other=thing", "std::vector<int> and 12:30:45",
	}
	var counts Counts
	allocs := testing.AllocsPerRun(200, func() {
		for _, v := range values {
			if _, changed, _ := sc.Mask(v, &counts); changed {
				panic("masked a clean value: " + v)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("clean values allocate %.1f times per run", allocs)
	}
}

// TestSecretBudgetFailsClosed feeds a value so dense with key=value
// candidates that the secret scan's work budget runs out: the rest of the
// JSON string is masked, not let through, and the document stays valid.
func TestSecretBudgetFailsClosed(t *testing.T) {
	sc := scannerFor(t, Secret)
	dense := strings.Repeat("token=aaaaaaaa", 4000)
	in := `{"a":"` + dense + `","b":"plain"}`
	out, changed, _ := sc.Mask(in, nil)
	if !changed || !json.Valid([]byte(out)) {
		t.Fatalf("changed=%v valid=%v", changed, json.Valid([]byte(out)))
	}
	if !strings.HasSuffix(out, `[REDACTED:secret]","b":"plain"}`) {
		t.Fatalf("the tail of the dense string is not masked: ...%s", out[max(0, len(out)-80):])
	}
}

// TestMaskRescansOutput: replacing one value can free its neighbour (here
// a phone number glued to an e-mail address); Mask finds it on the rescan.
func TestMaskRescansOutput(t *testing.T) {
	sc := scannerFor(t)
	var c Counts
	out, _, _ := sc.Mask("x@example.co(415)555-2671", &c)
	if out != "[REDACTED:email][REDACTED:phone]" {
		t.Fatalf("Mask = %q", out)
	}
	if c.Get(Email) != 1 || c.Get(Phone) != 1 {
		t.Fatalf("counts email=%d phone=%d", c.Get(Email), c.Get(Phone))
	}
	// A replacement equal to its text is not counted twice.
	shape, _ := NewScanner(Config{Default: Strategy{Name: StrategyShape}})
	c = Counts{}
	out, _, _ = shape.Mask("mail john@example.com", &c)
	if out != "mail xxxx@xxxxxxx.xxx" || c.Get(Email) != 1 {
		t.Fatalf("Mask = %q, email count %d", out, c.Get(Email))
	}
}

func TestLongSecretMaskedWhole(t *testing.T) {
	sc := scannerFor(t, Secret)
	long := strings.Repeat("Xk9#mP2$vL8q", 1000)
	out, _, _ := sc.Mask(`{"password":"`+long+`"}`, nil)
	if out != `{"password":"[REDACTED:secret]"}` {
		t.Fatalf("Mask = %.80q...", out)
	}
}
