package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse: any text given as warden.yaml is a configuration with every
// default applied, or errors that each name the file; never a panic.
func FuzzParse(f *testing.F) {
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(full),
		"connections: []\n",
		"limits: {max_sql_bytes: 1, max_request_bytes: 2}\nproxy: {postgres: {max_message_bytes: 3}}\n",
		"listen: {postgres: 127.0.0.1:6432}\n",
		"include: [rules.yaml]\n",
		"rules:\n  - name: r\n    effect: allow\n    when: \"'write' in statement.kinds\"\n",
		"a: &x [*x]\n",
		"connections:\n  - {name: a, kind: ssh, address: h:22, host_key: x}\n",
		"\t", "{", "limits: 7", "rules: [1, {}]\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("rules:\n  - {name: inc, effect: deny}\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// include reads the files it names: only patterns inside the
		// configuration's directory (not /dev/zero, /proc/*).
		var inc struct {
			Include []string `yaml:"include"`
		}
		yaml.Unmarshal(data, &inc)
		for _, p := range inc.Include {
			if filepath.IsAbs(p) || strings.Contains(p, "..") {
				t.Skip("an include outside the directory")
			}
		}
		cfg, err := Parse(path, data)
		if err != nil {
			errs, ok := err.(Errors)
			if !ok {
				t.Fatalf("%T: %v", err, err)
			}
			for _, e := range errs {
				if e.Msg == "" || (e.File != path && e.File != filepath.Join(dir, "rules.yaml")) {
					t.Fatalf("error without a message or file: %+v", e)
				}
			}
			return
		}
		l := cfg.Limits
		if l.MaxSQLBytes <= 0 || l.MaxRows <= 0 || l.StatementTimeout <= 0 || l.MaxRequestBytes <= 0 ||
			cfg.Proxy.Postgres.MaxMessageBytes <= 0 || cfg.Proxy.Postgres.MaxConnections <= 0 || l.DefaultMaxRows > l.MaxRows {
			t.Fatalf("accepted without its defaults: %+v %+v", l, cfg.Proxy.Postgres)
		}
	})
}
