package config

import "time"

// Audit configures the audit log (docs/audit.md): the key that signs its
// heads and checkpoints, and how often a checkpoint is kept.
type Audit struct {
	// SigningKeyFile or SigningKeyEnv says where Warden reads the ed25519
	// key, in the note format `warden audit keygen` writes
	// ("PRIVATE+KEY+..."), that signs the audit log: a file (mode 0600)
	// or an environment variable. Unset: the log is unsigned, and shows
	// damage but not tampering by whoever can write the store. The key is
	// read when the store opens, never logged and never in an error.
	SigningKeyFile string `yaml:"signing_key_file"`
	SigningKeyEnv  string `yaml:"signing_key_env"`
	// CheckpointInterval is how often a signed checkpoint of the log is
	// kept while Warden runs (default 1m); one is kept at shutdown too.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
}

// DefaultCheckpointInterval is audit.checkpoint_interval unless set.
const DefaultCheckpointInterval = time.Minute

// SigningKey is where the signing key comes from, as a secret reference;
// IsZero when none is configured.
func (a Audit) SigningKey() SecretRef { return SecretRef{Env: a.SigningKeyEnv, File: a.SigningKeyFile} }

// validateAudit checks audit: and applies its defaults.
func (c *Config) validateAudit() Errors {
	var errs Errors
	a := &c.Audit
	if a.SigningKeyFile != "" && a.SigningKeyEnv != "" {
		errs = append(errs, c.Errorf("audit", "audit: set signing_key_file or signing_key_env, not both"))
	}
	if a.SigningKeyFile != "" {
		a.SigningKeyFile = c.resolve(a.SigningKeyFile)
	}
	switch {
	case a.CheckpointInterval == 0:
		a.CheckpointInterval = DefaultCheckpointInterval
	case a.CheckpointInterval < time.Second:
		errs = append(errs, c.Errorf("audit.checkpoint_interval", "audit.checkpoint_interval: at least 1s, got %s", a.CheckpointInterval))
	}
	return errs
}
