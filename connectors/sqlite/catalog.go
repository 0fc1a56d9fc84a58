package sqlite

import (
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/sqlclass"
)

// Schema is the schema of a SQLite database's own tables: what an
// unqualified name means.
const Schema = "main"

// Classifier returns the classifier of statements on a SQLite connection:
// functions and types are judged as sqlclass.SQLite says. It needs no
// target, so the offline classifier (policy explain and test) is the same.
func Classifier(config.Connection) policy.Classifier {
	return &sqlclass.Classifier{
		Options: sqlclass.Options{Functions: sqlclass.SQLite{}, Types: sqlclass.SQLite{}, Cache: sqlclass.NewCache(1024)},
		Schema:  Schema,
	}
}
