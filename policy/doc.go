// Package policy decides what a caller may do: it compiles the rules of
// warden.yaml and turns an Input (who, which connection, which tool, what
// statement) into a Decision (allow, deny or review, with constraints).
//
// Evaluation order, the one conflict-resolution rule Warden has:
//
//  1. Every rule whose subjects, connections and tools all match is a
//     candidate. An empty matcher matches everything.
//  2. If any candidate denies, the decision is deny (the first such rule in
//     file order supplies the message).
//  3. Otherwise, if any candidate says review, the decision is review.
//  4. Otherwise, if any candidate allows, the decision is allow; the first
//     allowing rule in file order supplies the constraints (read_only,
//     max_rows, timeout). Write specific rules before general ones.
//  5. Otherwise: deny. Nothing is allowed by default.
//
// Decide returns an error only for a technical failure, never for "denied";
// callers must treat an error as a denial (fail closed). This package must
// never reach a target or the store: it only decides.
package policy
