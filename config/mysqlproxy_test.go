package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMySQLProxyConfig: listen.mysql and proxy.mysql, their defaults and
// mistakes, each reported at its line.
func TestMySQLProxyConfig(t *testing.T) {
	cfg, err := Parse("w.yaml", []byte("listen:\n  mysql: 127.0.0.1:3307\n"))
	if err != nil {
		t.Fatal(err)
	}
	mp := cfg.Proxy.MySQL
	if cfg.Listen.MySQL != "127.0.0.1:3307" || mp.Address != "127.0.0.1:3307" || mp.TokenTTL != DefaultProxyTokenTTL ||
		mp.MaxConnections != DefaultProxyMaxConnections || mp.AllowPlaintext {
		t.Fatalf("defaults: %+v", mp)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "c.pem"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "k.pem"), []byte("x"), 0o600)
	cfg, err = Parse(filepath.Join(dir, "w.yaml"), []byte(`listen:
  mysql: 0.0.0.0:3307
proxy:
  mysql:
    tls: {cert: c.pem, key: k.pem}
    address: gw.example.com:3307
    token_ttl: 5m
    max_connections: 9
    approval_wait: 1m
    allow_plaintext: true
`))
	if err != nil {
		t.Fatal(err)
	}
	mp = cfg.Proxy.MySQL
	if mp.TLS.Cert != filepath.Join(dir, "c.pem") || mp.Address != "gw.example.com:3307" || mp.TokenTTL != 5*time.Minute ||
		mp.MaxConnections != 9 || mp.ApprovalWait != time.Minute {
		t.Fatalf("settings: %+v", mp)
	}
	if w := strings.Join(cfg.Warnings(), "\n"); !strings.Contains(w, "proxy.mysql.allow_plaintext") {
		t.Fatalf("no warning for allow_plaintext: %s", w)
	}
	for yaml, want := range map[string]string{
		"listen:\n  mysql: nowhere\n":                            "w.yaml:2:",
		"proxy:\n  mysql:\n    tls: {cert: a.pem}\n":             "proxy.mysql.tls: cert and key go together",
		"proxy:\n  mysql:\n    tls: {cert: a.pem, key: b.pem}\n": "no such file",
		"proxy:\n  mysql:\n    token_ttl: -1s\n":                 "proxy.mysql.token_ttl: must be positive",
		"proxy:\n  mysql:\n    max_connections: -1\n":            "proxy.mysql.max_connections: must be positive",
		"proxy:\n  mysql:\n    approval_wait: -1s\n":             "proxy.mysql.approval_wait: must be positive",
		"proxy:\n  mysql:\n    tlss: {}\n":                       "unknown key",
		"proxy:\n  mysql:\n    address: x\n":                     "proxy.mysql.address: expected host:port",
	} {
		_, err := Parse(filepath.Join(dir, "w.yaml"), []byte(yaml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", yaml, err, want)
		}
	}
}
