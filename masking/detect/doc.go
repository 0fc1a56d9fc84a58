// Package detect finds sensitive values inside strings and masks them: the
// content detectors and masking strategies under Warden's masking pipeline.
//
// A Scanner is built once from a Config (which detectors, which strategy
// for each) and then used from any number of goroutines:
//
//	sc, err := detect.NewScanner(detect.Config{
//		Kinds:      []detect.Kind{detect.Card, detect.Email, detect.Secrets},
//		Strategies: map[detect.Kind]detect.Strategy{detect.Card: {Name: detect.StrategyShape}},
//	})
//	out, changed, null := sc.Mask(value, &counts)
//
// Find reports where the sensitive values are; Mask replaces them; Apply
// and Replacer mask a whole value, as a column rule does.
//
// # What a detector sees
//
// Detectors read the raw text of a value. A JSON document (row_to_json,
// json_agg), a PostgreSQL array literal ({a,b,"c d"}) or composite literal
// ((a,b,"c")) is text like any other, so values nested at any depth are
// found without parsing. Backslash escape sequences are understood only as
// far as needed: the tail of an escape (the n of \n) separates words, no
// match starts or ends inside one, and the e-mail detector also reads
// \u0040 as '@'; other escaped characters are not decoded, so a value
// spelt entirely in \u escapes is not found. Masking keeps such documents
// valid (see Scanner.Mask). Each detector's file documents exactly what it
// matches and what it deliberately does not.
//
// Detectors find accidental exposure. They are no defence against a query
// written to disguise a value (reversed, base64-encoded, split over
// columns): that is the job of column rules and of the policy, which knows
// which source columns an output derives from.
//
// # Speed
//
// Most values hold nothing sensitive, so Find first makes one cheap pass
// over the bytes (byte classes present, digit count, whether a token run is
// long enough for a key) and runs only the detectors whose gate that pass
// opens; those scan with fast triggers (an '@', a run of digits, a long
// token, a ':' or '='), and only then run exact validators (Luhn, mod-97,
// IIN tables, SSN ranges, base64 and JSON decoding of a JWT header, Shannon
// entropy). No regular expression is used. A value with nothing to mask
// costs no allocation, and every detector runs in time linear in the value,
// whatever its content (BenchmarkAdversarial).
//
// # What it must never do
//
// This package must never log, print or return a sensitive value: not in
// an error (configuration errors name a kind or a strategy, never a key or
// a value), not in Counts (numbers per kind only), not in a Strategy's
// String (the token key is hidden). It keeps no global mutable state, does
// no I/O and must not panic on any input.
package detect
