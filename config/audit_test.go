package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuditSection(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, yaml string
		want       Audit
		err        string
	}{
		{name: "defaults", want: Audit{CheckpointInterval: DefaultCheckpointInterval}},
		{name: "key file, relative to the configuration", yaml: "audit: {signing_key_file: keys/audit.key, checkpoint_interval: 10s}",
			want: Audit{SigningKeyFile: filepath.Join(dir, "keys/audit.key"), CheckpointInterval: 10 * time.Second}},
		{name: "key from the environment", yaml: "audit: {signing_key_env: WARDEN_AUDIT_KEY}",
			want: Audit{SigningKeyEnv: "WARDEN_AUDIT_KEY", CheckpointInterval: DefaultCheckpointInterval}},
		{name: "both", yaml: "audit: {signing_key_file: k, signing_key_env: K}", err: "not both"},
		{name: "interval too short", yaml: "audit: {checkpoint_interval: 10ms}", err: "audit.checkpoint_interval: at least 1s"},
		{name: "unknown key", yaml: "audit: {signing_key: k}", err: "signing_key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(filepath.Join(dir, "w.yaml"), []byte("identity: {local: alice}\n"+tt.yaml))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Audit != tt.want {
				t.Errorf("audit = %+v, want %+v", cfg.Audit, tt.want)
			}
			if cfg.Audit.SigningKey().IsZero() != (tt.want.SigningKeyFile == "" && tt.want.SigningKeyEnv == "") {
				t.Errorf("SigningKey() = %+v", cfg.Audit.SigningKey())
			}
		})
	}
}
