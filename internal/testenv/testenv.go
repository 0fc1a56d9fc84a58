package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres describes the test PostgreSQL server.
type Postgres struct {
	Addr     string
	User     string
	Password string
	// PasswordFile holds Password, for configurations that reference it.
	PasswordFile string
}

// Required reports whether missing servers fail tests instead of skipping.
func Required() bool { return os.Getenv("WARDEN_TEST_REQUIRE") == "1" }

func missing(t testing.TB, what, how string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is required (WARDEN_TEST_REQUIRE=1) but not available: %s", what, how)
	}
	t.Skipf("%s not available: %s", what, how)
}

// PG returns the test PostgreSQL server, or skips/fails the test.
func PG(t testing.TB) Postgres {
	t.Helper()
	const how = "run `eval $(cat $(scripts/pg.sh start))` or `make test`"
	p := Postgres{
		Addr:         os.Getenv("WARDEN_TEST_PG_ADDR"),
		User:         os.Getenv("WARDEN_TEST_PG_USER"),
		PasswordFile: os.Getenv("WARDEN_TEST_PG_PASSWORD_FILE"),
	}
	if p.Addr == "" || p.User == "" || p.PasswordFile == "" {
		missing(t, "PostgreSQL", how)
	}
	b, err := os.ReadFile(p.PasswordFile)
	if err != nil {
		missing(t, "PostgreSQL", fmt.Sprintf("read %s: %v; %s", p.PasswordFile, err, how))
	}
	p.Password = strings.TrimSpace(string(b))
	return p
}

// DSN returns a connection string for database db as the admin user.
func (p Postgres) DSN(db string) string {
	host, port, _ := strings.Cut(p.Addr, ":")
	return fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=disable", host, port, p.User, p.Password, db)
}

// Connect opens an admin connection to db.
func (p Postgres) Connect(t testing.TB, db string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, p.DSN(db))
	if err != nil {
		missing(t, "PostgreSQL", fmt.Sprintf("connect to %s: %v", p.Addr, err))
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// CreateDatabase creates a fresh database for one test, runs setup SQL in
// it (one statement per element), and drops it when the test ends.
func (p Postgres) CreateDatabase(t testing.TB, setup ...string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "warden_test_" + hex.EncodeToString(b[:])
	admin := p.Connect(t, "postgres")
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, p.DSN("postgres"))
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	db := p.Connect(t, name)
	defer db.Close(ctx) // a test may count the database's connections
	for _, s := range setup {
		if _, err := db.Exec(ctx, s); err != nil {
			t.Fatalf("setup %q: %v", s, err)
		}
	}
	return name
}

// Program returns the path of a program a test drives (ssh, tmux), or
// skips/fails the test.
func Program(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name, "apt-get install "+pkg+", or `make test`")
	}
	return p
}

// StartPG starts a PostgreSQL server of its own for one test, with
// maxConnections (scripts/pg.sh in a fresh directory, on a free port, as
// the postgres user), and stops it when the test ends. It needs what
// scripts/pg.sh needs (PostgreSQL's binaries; root, or the postgres user).
func StartPG(t testing.TB, maxConnections int) Postgres {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "pg.sh")
	dir, err := os.MkdirTemp("", "warden-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // the server runs as postgres
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	env := append(os.Environ(), "WARDEN_TEST_DIR="+dir, fmt.Sprintf("WARDEN_TEST_PG_PORT=%d", port),
		fmt.Sprintf("WARDEN_TEST_PG_MAX_CONNECTIONS=%d", maxConnections))
	cmd := exec.Command(script, "start")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		missing(t, "a PostgreSQL server of the test's own", fmt.Sprintf("scripts/pg.sh start: %v\n%s", err, out))
	}
	t.Cleanup(func() {
		stop := exec.Command(script, "stop")
		stop.Env = env
		stop.Run()
		os.RemoveAll(dir)
	})
	pw := filepath.Join(dir, "pg", "pw")
	b, err := os.ReadFile(pw)
	if err != nil {
		t.Fatal(err)
	}
	return Postgres{Addr: fmt.Sprintf("127.0.0.1:%d", port), User: "wardenadmin", Password: strings.TrimSpace(string(b)), PasswordFile: pw}
}
