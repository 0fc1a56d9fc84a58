package detect

import (
	"errors"
	"fmt"
)

// Configuration errors. They name the offending kind or strategy, never a
// key or a value.
var (
	ErrUnknownKind     = errors.New("detect: unknown detector kind")
	ErrUnknownStrategy = errors.New("detect: unknown masking strategy")
	ErrInvalidStrategy = errors.New("detect: invalid masking strategy")
)

// Config selects detectors and how their matches are masked.
type Config struct {
	// Kinds lists the detectors to run. Empty means every built-in
	// detector: a forgotten list masks more, not less. The alias Secrets
	// stands for api_key, jwt, pem_private_key and secret.
	Kinds []Kind
	// Default masks the matches of a kind that Strategies does not list.
	// The zero Strategy redacts.
	Default Strategy
	// Strategies sets the strategy per kind.
	Strategies map[Kind]Strategy
}

// NewScanner validates cfg and builds a Scanner.
func NewScanner(cfg Config) (*Scanner, error) {
	s := &Scanner{}
	if len(cfg.Kinds) == 0 {
		s.enabled = 1<<numKinds - 1
	}
	for _, k := range cfg.Kinds {
		if k == Secrets {
			s.enabled |= setOf(kAPIKey, kJWT, kPEM, kSecret)
			continue
		}
		i, ok := indexOf(k)
		if !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknownKind, k)
		}
		s.enabled |= 1 << i
	}
	def, err := NewReplacer(cfg.Default)
	if err != nil {
		return nil, fmt.Errorf("default strategy: %w", err)
	}
	for i := range s.replacers {
		s.replacers[i] = def
	}
	for k, st := range cfg.Strategies {
		i, ok := indexOf(k)
		if !ok {
			return nil, fmt.Errorf("strategy for %q: %w %q", k, ErrUnknownKind, k)
		}
		r, err := NewReplacer(st)
		if err != nil {
			return nil, fmt.Errorf("strategy for %s: %w", k, err)
		}
		s.replacers[i] = r
	}
	return s, nil
}
