package sqlite

import (
	"os"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/policy"
	sqliteclass "github.com/wardenhq/warden/policy/sqlclass/sqlite"
)

// Schema is the schema of a SQLite database's own tables: what an
// unqualified name means.
const Schema = sqliteclass.Schema

// Classifier returns the offline classifier of a SQLite connection (warden
// policy explain and test): SQLite's own parser, compiling against the
// connection's database file, read-only, when this machine has it, and
// otherwise against tables inferred from each statement (see
// policy/sqlclass/sqlite).
func Classifier(cfg config.Connection) policy.Classifier {
	if st, err := os.Stat(cfg.Path); err == nil && st.Mode().IsRegular() {
		return sqliteclass.NewClassifier(sqliteclass.NewCompiler(cfg.Path))
	}
	return sqliteclass.NewClassifier(sqliteclass.NewStubCompiler())
}
