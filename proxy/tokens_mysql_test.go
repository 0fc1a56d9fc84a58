package proxy

import (
	"testing"
	"time"

	vmysql "vitess.io/vitess/go/mysql"

	"github.com/wardenhq/warden/identity"
)

// TestMatchMySQL: a token is found by a MySQL client's answer to a
// challenge (caching_sha2_password and mysql_native_password), only
// among the valid tokens of the connection it was issued for.
func TestMatchMySQL(t *testing.T) {
	tk := NewTokens(time.Minute)
	now := time.Now()
	tk.now = func() time.Time { return now }
	is, err := tk.Issue(identity.Principal{Subject: "alice"}, "shop")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := tk.Issue(identity.Principal{Subject: "bob"}, "shop")
	salt := []byte("0123456789abcdefghij")
	sha2 := vmysql.ScrambleCachingSha2Password(salt, []byte(is.Password))
	native := vmysql.ScrambleMysqlNativePassword(salt, []byte(is.Password))
	bySha2 := func(t *Token) bool { return vmysql.VerifyHashedCachingSha2Password(sha2, salt, t.MySQLSHA2[:]) }
	byNative := func(t *Token) bool { return vmysql.VerifyHashedMysqlNativePassword(native, salt, t.MySQLNative[:]) }
	for name, check := range map[string]func(*Token) bool{"caching_sha2": bySha2, "native": byNative} {
		got := tk.Match("shop", check)
		if got == nil || got.User != is.User || got.Principal.Subject != "alice" {
			t.Errorf("%s: matched %+v", name, got)
		}
		if tk.Match("other", check) != nil {
			t.Errorf("%s: matched on another connection", name)
		}
	}
	// Another token's answer is not alice's.
	o := vmysql.ScrambleCachingSha2Password(salt, []byte(other.Password))
	if got := tk.Match("shop", func(t *Token) bool { return vmysql.VerifyHashedCachingSha2Password(o, salt, t.MySQLSHA2[:]) }); got == nil || got.Principal.Subject != "bob" {
		t.Errorf("bob's answer matched %+v", got)
	}
	// A wrong answer, and an expired token, match nothing.
	wrong := vmysql.ScrambleCachingSha2Password(salt, []byte("guess"))
	if tk.Match("shop", func(t *Token) bool { return vmysql.VerifyHashedCachingSha2Password(wrong, salt, t.MySQLSHA2[:]) }) != nil {
		t.Error("a wrong answer matched")
	}
	now = now.Add(2 * time.Minute)
	if tk.Match("shop", bySha2) != nil {
		t.Error("an expired token matched")
	}
	// Neither hash is the token or its cleartext digest.
	tok := tk.Lookup(is.User)
	if string(tok.MySQLSHA2[:]) == string(tok.digest[:]) {
		t.Error("the caching_sha2 verifier is the cleartext digest")
	}
}
