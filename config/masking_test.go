package config

import (
	"path/filepath"
	"strings"
	"testing"
)

const maskingBase = `
connections:
  - {name: prod, kind: postgres, address: "db:5432", database: app, admin: {user: u, password_env: X}}
  - {name: demo, kind: sqlite, path: ./demo.db}
`

func TestMaskingLoad(t *testing.T) {
	cfg, err := Parse(filepath.Join(t.TempDir(), "w.yaml"), []byte(maskingBase+`
masking:
  key_file: secrets/mask.key
  profiles:
    pii:
      columns:
        - {match: "*.customers.card_number", strategy: partial, keep_last: 4, kind: card}
        - match: "public.*.ssn"
          except: {groups: [dba]}
          connections: {labels: {env: prod}}
      detectors: [email, secrets]
      detector_strategies:
        email: token
        api_key: {strategy: shape, keep_last: 2}
      default: redact
rules:
  - {name: agents, effect: allow, masking: pii}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Masking.Profiles["pii"]
	if len(p.Columns) != 2 || p.Columns[0].KeepLast != 4 || p.Columns[0].Kind != "card" || p.Columns[1].Except.Groups[0] != "dba" {
		t.Errorf("columns = %+v", p.Columns)
	}
	if p.DetectorStrategies["email"].Strategy != "token" || p.DetectorStrategies["api_key"] != (MaskingStrategy{Strategy: "shape", KeepLast: 2}) {
		t.Errorf("detector strategies = %+v", p.DetectorStrategies)
	}
	if !strings.HasSuffix(cfg.Masking.KeyFile, filepath.Join("secrets", "mask.key")) || !filepath.IsAbs(cfg.Masking.KeyFile) {
		t.Errorf("key file = %q", cfg.Masking.KeyFile)
	}
	if cfg.Rules[0].Masking != "pii" {
		t.Errorf("rule masking = %q", cfg.Rules[0].Masking)
	}
	if got := ExpandDetectors(p.Detectors); strings.Join(got, ",") != "email,jwt,pem_private_key,api_key,secret" {
		t.Errorf("expanded = %v", got)
	}
	// Column rules apply to the sqlite connection too, which enforces
	// them (SQLite reports what a statement reads): no warning.
	ws := strings.Join(cfg.Warnings(), "\n")
	if strings.Contains(ws, `sqlite connection "demo"`) {
		t.Errorf("warnings = %s", ws)
	}
}

func TestMaskingErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", `
masking:
  profiles:
    p: {detectors: [email], colums: []}`, `:8:29: unknown key "colums" in masking.profiles.p`},
		{"bad glob", `
masking:
  profiles:
    p:
      columns: [{match: "customers.ssn"}]`, `:9:25: masking.profiles.p.columns[0].match: "customers.ssn": expected schema.table.column`},
		{"bad strategy", `
masking:
  profiles:
    p:
      columns: [{match: "*.*.ssn", strategy: hash}]`, `masking.profiles.p.columns[0]: unknown strategy "hash"`},
		{"keep_last without partial", `
masking:
  profiles:
    p:
      columns: [{match: "*.*.ssn", keep_last: 2}]`, `keep_last applies only to strategies partial and shape, not "redact"`},
		{"unknown detector", `
masking:
  profiles:
    p: {detectors: [emails]}`, `masking.profiles.p.detectors: unknown detector "emails"`},
		{"strategy for a detector not enabled", `
masking:
  profiles:
    p: {detectors: [email], detector_strategies: {card: partial}}`, `"card" is not among the profile's detectors`},
		{"detector strategy mapping", `
masking:
  profiles:
    p: {detectors: [card], detector_strategies: {card: {strategy: shape, keep: 2}}}`, `:8:74: masking.profiles.p.detector_strategies.card: unknown key "keep" in a masking strategy`},
		{"token without key", `
masking:
  profiles:
    p: {detectors: [email], detector_strategies: {email: token}}`, `strategy token needs a key: set masking.key_env or masking.key_file`},
		{"both key sources", `
masking:
  key_env: K
  key_file: k
  profiles:
    p: {detectors: [email]}`, `masking: set key_env or key_file, not both`},
		{"empty profile", `
masking:
  profiles:
    p: {}`, `the profile masks nothing`},
		{"unknown connection", `
masking:
  profiles:
    p:
      columns: [{match: "*.*.ssn", connections: {names: [nope]}}]`, `no connection named "nope"`},
		{"unknown profile", `
rules:
  - {name: r, effect: allow, masking: pii}`, `:7:39: rule "r": masking: no profile named "pii" (known: none is defined under masking.profiles)`},
		{"deny with masking", `
masking:
  profiles:
    pii: {detectors: [all]}
rules:
  - {name: r, effect: deny, masking: pii}`, `rule "r": a deny rule takes no masking profile`},
		{"bad kind label", `
masking:
  profiles:
    p:
      columns: [{match: "*.*.ssn", kind: "Social Security"}]`, `kind: "Social Security" must be lower-case`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(filepath.Join(t.TempDir(), "w.yaml"), []byte(maskingBase+tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}
