package demo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ConfigFile is the name of the demo configuration inside the demo dir.
const ConfigFile = "warden.yaml"

// DatabaseFile is the name of the demo database inside the demo dir.
const DatabaseFile = "demo.db"

const configTemplate = `# Warden demo configuration, written by "warden demo".
# Edit it freely: "warden demo" never overwrites it. Check it with
#   warden config check --config {{CONFIG}}

listen:
  mcp: {{LISTEN}}            # streamable HTTP at /mcp

# Audit events go to this SQLite file (relative paths are relative to this file).
store: sqlite://./warden.db

identity:
  # Who a stdio client ("warden mcp") is.
  local: agent
  # HTTP clients on this machine without a token act as the local identity.
  # For the demo only: production uses an identity provider.
  allow_anonymous_loopback: true
  users:
    - name: agent
      groups: [agents]

limits:
  max_sql_bytes: 65536       # longer statements are refused
  default_max_rows: 200      # run_query returns at most this many rows unless asked
  max_rows: 5000             # and never more than this
  statement_timeout: 10s

connections:
  - name: demo
    kind: sqlite
    path: ./demo.db          # customers (with PII) and orders
    labels: {env: demo}

# Masking: what rules name in masking: is applied to every row they let
# through. Column rules mask by SOURCE column, whatever the query calls it
# (SELECT ssn AS x is still customers.ssn; views and subqueries are
# followed), and an output computed from a masked column (hex(ssn),
# replace(email, '@', ' at ')) is refused, naming the column. SQLite
# compiles each statement and says which columns it reads. Content
# detectors mask what no column rule covers. See docs/masking.md.
masking:
  profiles:
    pii:
      columns:
        - {match: "main.customers.ssn", strategy: redact}                      # [REDACTED:ssn]
        - {match: "main.customers.email", strategy: redact}                    # [REDACTED:email]
        - {match: "main.customers.card_number", strategy: shape, keep_last: 4} # ****-****-****-1234
      detectors: [card, ssn, email]
      detector_strategies:
        card: {strategy: shape, keep_last: 4}
      default: redact

# Rules: any matching deny wins, then review, then allow; nothing matches,
# nothing is allowed.
rules:
  - name: agents-read-demo
    description: Agents may read the demo database, never write.
    subjects: {groups: [agents]}
    connections: {names: [demo]}
    tools: [describe_schema, run_query]
    effect: allow
    read_only: true          # this rule admits reads only: a DELETE is refused by policy (and, were the
                             # classifier ever wrong, by SQLite: reads run on a read-only handle)
    max_rows: 500
    masking: pii             # try: SELECT name, email, card_number, ssn FROM customers LIMIT 3
`

// WriteConfig writes the demo configuration into dir unless one exists.
// It reports whether it wrote the file.
func WriteConfig(dir, listen string) (bool, error) {
	path := filepath.Join(dir, ConfigFile)
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("demo config: %w", err)
	}
	text := strings.NewReplacer("{{CONFIG}}", path, "{{LISTEN}}", listen).Replace(configTemplate)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return false, fmt.Errorf("demo config: %w", err)
	}
	return true, nil
}
