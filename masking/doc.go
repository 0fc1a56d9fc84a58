// Package masking keeps sensitive values from reaching the caller: it
// applies column rules and content detectors to a stream of rows, one row
// at a time, never buffering a whole result.
//
// The Engine is built from the masking: section of warden.yaml; policy
// names a profile per rule, and the pipeline asks the Engine for a
// RowMasker per result (Masker.For) before it reads any row.
//
//   - Column rules apply to a result column's source column, never to the
//     name the query gives it: the target reports the source of plain
//     column references (PostgreSQL's RowDescription table OID and
//     attribute number, mapped through the catalog by a SourceResolver the
//     connector implements), and the lineage analysis of the statement
//     (lineage.go: PostgreSQL's own parser, names resolved through the
//     catalog, views traced through their definitions) says what every
//     other output derives from. An output that is a masked column's value
//     unchanged (an alias, a CTE or subquery re-projection, a UNION arm, a
//     CASE or COALESCE result, min/max) is masked by the rule; an output
//     computed from a masked column (a substring, a cast, a concatenation,
//     an encoding, an aggregate, a JSON or XML builder, a whole row) is
//     refused, naming the column, because no masking of a derived value is
//     sound. So is an output masking cannot trace (a user-defined function,
//     the statistics catalogs, an unknown relation).
//   - On a target whose connector is a StatementReporter (SQLite, which
//     reports no sources with its rows), the target's compiler says which
//     table columns a statement reads (its authorizer) and where each
//     plain output comes from: a statement that reads no masked column
//     goes to the detectors alone; one that does is traced as above, once
//     the target confirmed that the statement as PostgreSQL's grammar
//     read it, written back, compiles to the same program as the
//     caller's text (statement.go). Any doubt refuses the result.
//   - Content detectors (package detect) run over every value no column
//     rule masks, including inside JSON documents, arrays and composite
//     values. A target with neither a SourceResolver nor a
//     StatementReporter gets only them: column rules that apply to it
//     refuse its results.
//
// What masking does not stop: inference through filters (WHERE ssn LIKE
// '1%'), counts and ordering, which reveal facts about masked values
// without returning them; and callers who can change the schema (rename a
// column, replace a view). See docs/masking.md.
//
// This package must never record or log a value it masks; errors name
// columns, rules and strategies, and summaries carry only column names,
// entity kinds and counts.
package masking
