package identity

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		query   string
		token   string
		code    string // "" with token "": no credentials
	}{
		{"none", nil, "", "", ""},
		{"bearer", []string{"Bearer abc.def-_~+/.ghi=="}, "", "abc.def-_~+/.ghi==", ""},
		{"scheme in any case", []string{"bEaReR abc"}, "", "abc", ""},
		{"several spaces", []string{"Bearer   abc"}, "", "abc", ""},
		{"in the query", nil, "?access_token=abc", "", CodeInvalidRequest},
		{"in the query and the header", []string{"Bearer abc"}, "?access_token=abc", "", CodeInvalidRequest},
		{"two headers", []string{"Bearer abc", "Bearer def"}, "", "", CodeInvalidRequest},
		{"basic", []string{"Basic YWxpY2U6cHc="}, "", "", CodeInvalidRequest},
		{"scheme only", []string{"Bearer"}, "", "", CodeInvalidRequest},
		{"scheme and space", []string{"Bearer "}, "", "", CodeInvalidRequest},
		{"no scheme", []string{"abc.def.ghi"}, "", "", CodeInvalidRequest},
		{"two tokens", []string{"Bearer abc def"}, "", "", CodeInvalidRequest},
		{"padding inside", []string{"Bearer ab=c"}, "", "", CodeInvalidRequest},
		{"quote", []string{`Bearer abc"`}, "", "", CodeInvalidRequest},
		{"tab", []string{"Bearer\tabc"}, "", "", CodeInvalidRequest},
		{"too large", []string{"Bearer " + strings.Repeat("a", MaxTokenBytes+1)}, "", "", CodeInvalidToken},
		{"largest accepted", []string{"Bearer " + strings.Repeat("a", MaxTokenBytes)}, "", strings.Repeat("a", MaxTokenBytes), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/mcp"+tt.query, nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			tok, err := BearerToken(r)
			if tt.code == "" {
				if err != nil || tok != tt.token {
					t.Fatalf("got %q, %v; want %q", tok, err, tt.token)
				}
				return
			}
			var te *TokenError
			if !errors.As(err, &te) || te.Code != tt.code || tok != "" {
				t.Fatalf("got %q, %v; want a %s error", tok, err, tt.code)
			}
			if !errors.Is(err, ErrUnauthenticated) {
				t.Error("not ErrUnauthenticated")
			}
			if strings.Contains(err.Error(), "abc") {
				t.Errorf("the error repeats the token: %v", err)
			}
		})
	}
}

func TestParseGroups(t *testing.T) {
	tests := []struct {
		in   any
		want []string
		err  bool
	}{
		{nil, nil, false},
		{"", []string{}, false},
		{"a b\tc", []string{"a", "b", "c"}, false},
		{"a,b, c,,", []string{"a", "b", "c"}, false},
		{[]any{"Domain Admins", " dba "}, []string{"Domain Admins", "dba"}, false},
		{[]any{"a", "a"}, []string{"a"}, false},
		{[]any{"", "a"}, []string{"a"}, false},
		{[]any{"a", 1.0}, nil, true},
		{[]any{map[string]any{}}, nil, true},
		{true, nil, true},
		{map[string]any{"a": "b"}, nil, true},
		{[]any{"a\nb"}, nil, true},
		{[]any{strings.Repeat("x", 257)}, nil, true},
		{strings.Repeat("g ", 257), nil, true},
	}
	for _, tt := range tests {
		got, err := parseGroups(tt.in)
		if (err != nil) != tt.err || (!tt.err && !slices.Equal(got, tt.want)) {
			t.Errorf("parseGroups(%#v) = %#v, %v", tt.in, got, err)
		}
	}
}

// FuzzBearerToken: any Authorization header is either refused as a token
// error or yields a token that is a valid b64token within the size limit.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Basic x", "Bearer ", "Bearer a=b", "Bearer \x00", "Bearer " + strings.Repeat("=", 10)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := parseBearer(h)
		if err != nil {
			var te *TokenError
			if !errors.As(err, &te) || tok != "" {
				t.Fatalf("parseBearer(%q) = %q, %v", h, tok, err)
			}
			return
		}
		if tok == "" || len(tok) > MaxTokenBytes || !isB64Token(tok) || !strings.HasSuffix(h, tok) {
			t.Fatalf("parseBearer(%q) = %q", h, tok)
		}
	})
}

// FuzzParseGroups: a groups string never yields an empty, padded or
// control-character group.
func FuzzParseGroups(f *testing.F) {
	for _, s := range []string{"a b", "a,b", " , ", "x\ty\nz", "é ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		groups, err := parseGroups(s)
		if err != nil {
			return
		}
		for _, g := range groups {
			if !validName(g, true) || strings.TrimSpace(g) != g || strings.ContainsAny(g, ", \t\n") {
				t.Fatalf("parseGroups(%q) gave %q", s, g)
			}
		}
	})
}
