package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProxyConfig: listen.postgres and proxy.postgres, their defaults and
// mistakes.
func TestProxyConfig(t *testing.T) {
	cfg, err := Parse("w.yaml", []byte("listen:\n  postgres: 127.0.0.1:6432\n"))
	if err != nil {
		t.Fatal(err)
	}
	pp := cfg.Proxy.Postgres
	if cfg.Listen.Postgres != "127.0.0.1:6432" || pp.Address != "127.0.0.1:6432" || pp.TokenTTL != DefaultProxyTokenTTL ||
		pp.MaxConnections != DefaultProxyMaxConnections || pp.AllowPlaintext || pp.MaxMessageBytes != DefaultMaxSQLBytes+DefaultProxyBindBytes {
		t.Fatalf("defaults: %+v", pp)
	}
	if cfg.Limits.MaxRequestBytes != DefaultMaxRequestBytes {
		t.Fatalf("limits.max_request_bytes: %d", cfg.Limits.MaxRequestBytes)
	}
	// The defaults follow max_sql_bytes: a statement the limits admit fits
	// in a message.
	cfg, err = Parse("w.yaml", []byte("limits:\n  max_sql_bytes: 4194304\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Proxy.Postgres.MaxMessageBytes != 4<<20+DefaultProxyBindBytes || cfg.Limits.MaxRequestBytes != 4<<20+64<<10 {
		t.Fatalf("defaults for max_sql_bytes 4 MiB: max_message_bytes %d, max_request_bytes %d", cfg.Proxy.Postgres.MaxMessageBytes, cfg.Limits.MaxRequestBytes)
	}
	cfg, err = Parse("w.yaml", []byte("limits:\n  max_request_bytes: 2048\nproxy:\n  postgres:\n    max_message_bytes: 4096\n"))
	if err != nil || cfg.Proxy.Postgres.MaxMessageBytes != 4096 || cfg.Limits.MaxRequestBytes != 2048 {
		t.Fatalf("set: %v %+v %+v", err, cfg.Proxy.Postgres, cfg.Limits)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "c.pem"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "k.pem"), []byte("x"), 0o600)
	cfg, err = Parse(filepath.Join(dir, "w.yaml"), []byte(`listen:
  postgres: 0.0.0.0:6432
proxy:
  postgres:
    tls: {cert: c.pem, key: k.pem}
    address: gw.example.com:6432
    token_ttl: 5m
    allow_plaintext: true
`))
	if err != nil {
		t.Fatal(err)
	}
	pp = cfg.Proxy.Postgres
	if pp.TLS.Cert != filepath.Join(dir, "c.pem") || pp.Address != "gw.example.com:6432" || pp.TokenTTL != 5*time.Minute {
		t.Fatalf("settings: %+v", pp)
	}
	if w := strings.Join(cfg.Warnings(), "\n"); !strings.Contains(w, "allow_plaintext") {
		t.Fatalf("no warning for allow_plaintext: %s", w)
	}
	for yaml, want := range map[string]string{
		"listen:\n  postgres: nowhere\n":                            "listen.postgres: expected host:port",
		"proxy:\n  postgres:\n    tls: {cert: a.pem}\n":             "cert and key go together",
		"proxy:\n  postgres:\n    tls: {cert: a.pem, key: b.pem}\n": "no such file",
		"proxy:\n  postgres:\n    token_ttl: -1s\n":                 "must be positive",
		"proxy:\n  postgres:\n    tlss: {}\n":                       "unknown key",
		"proxy:\n  postgres:\n    address: x\n":                     "expected host:port",
		"proxy:\n  postgres:\n    max_message_bytes: -1\n":          "proxy.postgres.max_message_bytes: must be positive",
		"limits:\n  max_request_bytes: -5\n":                        "limits.max_request_bytes: must be positive",
	} {
		_, err := Parse(filepath.Join(dir, "w.yaml"), []byte(yaml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", yaml, err, want)
		}
	}
}
