package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConnectServer: warden connect asks the Warden its configuration
// describes (the demo's :8765, not the default :8080), unless --server
// names one, and says where the address came from.
func TestConnectServer(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	demo := write("demo.yaml", "listen: {mcp: 127.0.0.1:8765}\n")
	wildcard := write("any.yaml", "listen: {mcp: 0.0.0.0:9000}\n")
	wildcard6 := write("any6.yaml", "listen: {mcp: '[::]:9001'}\n")
	resource := write("resource.yaml", "listen: {mcp: 0.0.0.0:9000}\nidentity: {resource: https://warden.example.com/mcp}\n")
	broken := write("broken.yaml", "listen: {mcp: 8765}\n")
	missing := filepath.Join(dir, "none.yaml")

	for _, tc := range []struct {
		name        string
		server      string
		configGiven bool
		cfgPath     string
		env         map[string]string
		want, from  string
		wantErr     string
	}{
		{name: "the flag wins", server: "http://127.0.0.1:1/mcp", configGiven: true, cfgPath: demo, want: "http://127.0.0.1:1/mcp", from: "--server"},
		{name: "--config", configGiven: true, cfgPath: demo, env: map[string]string{"WARDEN_SERVER": "http://127.0.0.1:2/mcp"}, want: "http://127.0.0.1:8765/mcp", from: "listen.mcp in " + demo},
		{name: "WARDEN_SERVER over the default file", cfgPath: demo, env: map[string]string{"WARDEN_SERVER": "http://127.0.0.1:2/mcp"}, want: "http://127.0.0.1:2/mcp", from: "WARDEN_SERVER"},
		{name: "the default file", cfgPath: demo, want: "http://127.0.0.1:8765/mcp", from: "listen.mcp in " + demo},
		{name: "no file", cfgPath: missing, want: "http://127.0.0.1:8080/mcp", from: "the default"},
		{name: "a wildcard is loopback", configGiven: true, cfgPath: wildcard, want: "http://127.0.0.1:9000/mcp"},
		{name: "an IPv6 wildcard is loopback", configGiven: true, cfgPath: wildcard6, want: "http://[::1]:9001/mcp"},
		{name: "the resource clients use", configGiven: true, cfgPath: resource, want: "https://warden.example.com/mcp", from: "identity.resource in " + resource},
		{name: "a named file that is missing", configGiven: true, cfgPath: missing, wantErr: "no such file"},
		{name: "WARDEN_CONFIG names a missing file", cfgPath: missing, env: map[string]string{"WARDEN_CONFIG": missing}, wantErr: "no such file"},
		{name: "a broken file", configGiven: true, cfgPath: broken, wantErr: "listen.mcp: expected host:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WARDEN_SERVER", "")
			t.Setenv("WARDEN_CONFIG", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			got, from, err := connectServer(tc.server, tc.configGiven, tc.cfgPath)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want || !strings.HasPrefix(from, tc.from) {
				t.Errorf("= %q (%s), %v; want %q (%s)", got, from, err, tc.want, tc.from)
			}
		})
	}
}
