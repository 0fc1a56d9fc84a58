package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wardenhq/warden/internal/demo"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "demo [--dir ./warden-demo] [--listen 127.0.0.1:8765] [--setup-only]", stdout)
	dir := fs.String("dir", "./warden-demo", "directory for the demo database, configuration and audit store")
	listen := fs.String("listen", "127.0.0.1:8765", "address for MCP over HTTP")
	setupOnly := fs.Bool("setup-only", false, "create the demo files and exit without serving")
	logger := logFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := logger(stderr)
	if err != nil {
		return err
	}
	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(absDir, 0o755); err != nil {
		return fmt.Errorf("demo dir: %w", err)
	}
	created, err := demo.CreateDatabase(ctx, filepath.Join(absDir, demo.DatabaseFile))
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stdout, "Created %s (%d customers, %d orders of fake data)\n", filepath.Join(absDir, demo.DatabaseFile), demo.Customers, demo.Orders)
	} else {
		fmt.Fprintf(stdout, "Using existing %s\n", filepath.Join(absDir, demo.DatabaseFile))
	}
	cfgPath := filepath.Join(absDir, demo.ConfigFile)
	wrote, err := demo.WriteConfig(absDir, *listen)
	if err != nil {
		return err
	}
	if wrote {
		fmt.Fprintf(stdout, "Wrote %s (commented: read it)\n", cfgPath)
	} else {
		fmt.Fprintf(stdout, "Using existing %s\n", cfgPath)
	}
	if *setupOnly {
		return nil
	}
	a, err := openApp(ctx, cfgPath, log)
	if err != nil {
		return err
	}
	defer a.Close()
	return serveHTTP(ctx, a, *listen, log, func(url string) {
		printDemoHelp(stdout, url, cfgPath)
	})
}

func printDemoHelp(w io.Writer, url, cfgPath string) {
	exe, err := os.Executable()
	if err != nil {
		exe = "warden"
	}
	stdio := map[string]any{"mcpServers": map[string]any{"warden-demo": map[string]any{
		"command": exe, "args": []string{"mcp", "--config", cfgPath}}}}
	httpCfg := map[string]any{"mcpServers": map[string]any{"warden-demo": map[string]any{
		"type": "http", "url": url}}}
	s1, _ := json.MarshalIndent(stdio, "", "  ")
	s2, _ := json.MarshalIndent(httpCfg, "", "  ")
	fmt.Fprintf(w, `
Warden demo is running.

  MCP over HTTP:  %s
  MCP over stdio: %s mcp --config %s
  Audit trail:    %s audit list --config %s

MCP client configuration (stdio):
%s

MCP client configuration (HTTP):
%s

Try: list_connections, describe_schema {"connection":"demo"},
run_query {"connection":"demo","sql":"SELECT country, count(*) FROM customers GROUP BY 1 ORDER BY 2 DESC"},
run_query {"connection":"demo","sql":"SELECT name, email, card_number, ssn FROM customers LIMIT 3"} (masked),
SELECT hex(ssn) FROM customers (refused by masking: computed from a masked column)
and a write such as DELETE FROM orders (refused by policy: the rule admits only reads).
Press Ctrl-C to stop.
`, url, exe, cfgPath, exe, cfgPath, s1, s2)
}
