package mysql_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/mysql"
)

// TestDial: the wire proxy's upstream logs in as the minted user with
// Warden's session settings, within the budget; Settings makes the
// session read-only (which stops a write on its own) and back; Close
// gives the budget slot back; the password is in no error.
func TestDial(t *testing.T) {
	f := newJIT(t)
	resp := f.mint(t, uniqueLease(t), connectors.SQLGrants{})
	inUse := f.conn.Budget().Stats().InUse
	up, err := f.conn.Dial(t.Context(), mysql.DialRequest{Credential: resp.Credential})
	if err != nil {
		t.Fatal(err)
	}
	if f.conn.Budget().Stats().InUse != inUse+1 {
		t.Errorf("the upstream holds no budget slot: %+v", f.conn.Budget().Stats())
	}
	r, err := up.Conn.ExecuteFetch("SELECT CURRENT_USER(), @@SESSION.sql_mode, @@SESSION.time_zone, CONNECTION_ID()", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	row := r.Rows[0]
	if !strings.HasPrefix(row[0].ToString(), resp.Credential.Password.User+"@") || row[1].ToString() != mysql.SQLMode ||
		row[2].ToString() != "+00:00" || row[3].ToString() == "0" {
		t.Errorf("session: %v", row)
	}
	if got := row[3].ToString(); got != strconv.FormatUint(up.ThreadID, 10) {
		t.Errorf("ThreadID %d, CONNECTION_ID() %s", up.ThreadID, got)
	}
	if err := up.Settings(5*time.Second, true); err != nil {
		t.Fatal(err)
	}
	_, err = up.Conn.ExecuteFetch("UPDATE items SET name = 'x'", 0, false)
	var se *sqlerror.SQLError
	if !asSQL(err, &se) || se.Num != 1792 {
		t.Fatalf("a write in a read-only session: %v", err)
	}
	if err := up.Settings(5*time.Second, false); err != nil {
		t.Fatal(err)
	}
	if _, err := up.Conn.ExecuteFetch("UPDATE items SET name = name", 0, false); err != nil {
		t.Fatalf("a write once read-write: %v", err)
	}
	up.Close()
	up.Close()
	if f.conn.Budget().Stats().InUse != inUse {
		t.Errorf("Close kept the budget slot: %+v", f.conn.Budget().Stats())
	}
	bad := resp.Credential
	bad.Password = &connectors.Password{User: bad.Password.User, Secret: bad.Password.Secret}
	bad.Password.User = "warden_nosuchuser"
	_, err = f.conn.Dial(t.Context(), mysql.DialRequest{Credential: bad})
	if err == nil || strings.Contains(err.Error(), resp.Credential.Password.Secret.Reveal()) {
		t.Fatalf("a wrong login: %v", err)
	}
	if f.conn.Budget().Stats().InUse != inUse {
		t.Errorf("a failed login kept the budget slot")
	}
}

func asSQL(err error, se **sqlerror.SQLError) bool { return errors.As(err, se) }
