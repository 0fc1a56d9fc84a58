package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MySQLServer describes the test MariaDB server (scripts/mariadb.sh).
type MySQLServer struct {
	Addr     string
	User     string
	Password string
	// PasswordFile holds Password, for configurations that reference it.
	PasswordFile string
}

// MySQL returns the test MariaDB server, or skips/fails the test.
func MySQL(t testing.TB) MySQLServer {
	t.Helper()
	const how = "run `source \"$(scripts/mariadb.sh start)\"` or `make test`"
	m := MySQLServer{
		Addr:         os.Getenv("WARDEN_TEST_MYSQL_ADDR"),
		User:         os.Getenv("WARDEN_TEST_MYSQL_USER"),
		PasswordFile: os.Getenv("WARDEN_TEST_MYSQL_PASSWORD_FILE"),
	}
	if m.Addr == "" || m.User == "" || m.PasswordFile == "" {
		missing(t, "MariaDB", how)
	}
	b, err := os.ReadFile(m.PasswordFile)
	if err != nil {
		missing(t, "MariaDB", fmt.Sprintf("read %s: %v; %s", m.PasswordFile, err, how))
	}
	m.Password = strings.TrimSpace(string(b))
	return m
}

// Config is the driver configuration of an admin connection to db.
func (m MySQLServer) Config(db string) *mysql.Config {
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User, c.Passwd, c.DBName = "tcp", m.Addr, m.User, m.Password, db
	c.Timeout = 10 * time.Second
	return c
}

// Connect opens an admin connection pool to db (one connection, so that
// session state such as USE holds), closed when the test ends.
func (m MySQLServer) Connect(t testing.TB, db string) *sql.DB {
	t.Helper()
	conn, err := mysql.NewConnector(m.Config(db))
	if err != nil {
		t.Fatal(err)
	}
	d := sql.OpenDB(conn)
	d.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.PingContext(ctx); err != nil {
		d.Close()
		missing(t, "MariaDB", fmt.Sprintf("connect to %s: %v", m.Addr, err))
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// CreateDatabase creates a fresh database for one test, runs setup SQL in
// it (one statement per element), and drops it when the test ends.
func (m MySQLServer) CreateDatabase(t testing.TB, setup ...string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "warden_test_" + hex.EncodeToString(b[:])
	admin := m.Connect(t, "")
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := mysql.NewConnector(m.Config(""))
		if err != nil {
			return
		}
		d := sql.OpenDB(conn)
		defer d.Close()
		d.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name)
	})
	db := m.Connect(t, name)
	defer db.Close()
	for _, s := range setup {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("setup %q: %v", s, err)
		}
	}
	return name
}
