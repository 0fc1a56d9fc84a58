package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// SecretRef says where Warden reads a secret from: an environment variable
// or a file. The value itself never appears in the configuration.
type SecretRef struct {
	Env  string `yaml:"password_env"`
	File string `yaml:"password_file"`
}

// ErrSecretMissing is returned when a referenced secret is not available.
var ErrSecretMissing = errors.New("secret not available")

// Describe says where the secret comes from, without its value.
func (r SecretRef) Describe() string {
	switch {
	case r.Env != "":
		return "environment variable " + r.Env
	case r.File != "":
		return "file " + r.File
	}
	return "nowhere"
}

// IsZero reports whether no source is configured.
func (r SecretRef) IsZero() bool { return r.Env == "" && r.File == "" }

// Resolve reads the secret. Errors name the source, never the value.
func (r SecretRef) Resolve() (Secret, error) {
	switch {
	case r.Env != "":
		v, ok := os.LookupEnv(r.Env)
		if !ok || v == "" {
			return Secret{}, fmt.Errorf("%w: environment variable %s is not set", ErrSecretMissing, r.Env)
		}
		return Secret{v: v}, nil
	case r.File != "":
		b, err := os.ReadFile(r.File)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return Secret{}, fmt.Errorf("%w: read %s: %v", ErrSecretMissing, r.File, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return Secret{}, fmt.Errorf("%w: file %s is empty", ErrSecretMissing, r.File)
		}
		return Secret{v: v}, nil
	}
	return Secret{}, fmt.Errorf("%w: no password_env or password_file configured", ErrSecretMissing)
}

// Secret holds a credential in memory. It formats as "[redacted]" so that it
// cannot leak through fmt, slog or encoding/json by accident.
type Secret struct{ v string }

// NewSecret wraps a value (used for minted credentials).
func NewSecret(v string) Secret { return Secret{v: v} }

// Reveal returns the value, for the one place that hands it to a driver.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

func (s Secret) String() string { return "[redacted]" }

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return "config.Secret([redacted])" }

// MarshalJSON never emits the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// MarshalText never emits the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }
