package mysql

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/sqlclass"
	sqlclassmysql "github.com/wardenhq/warden/policy/sqlclass/mysql"
)

// Classifier is the policy.Classifier of a mysql connection: MySQL's
// grammar (policy/sqlclass/mysql, vitess's parser), unqualified names in
// the connection's database, executable comments read as the server's
// version reads them once a connection reported it (before, as every
// version would), stored functions judged by what the catalog declares.
// LOAD DATA is refused, whatever a rule says: it makes the server read a
// file, of its own disk or (LOCAL) of Warden's host.
type Classifier struct {
	// Database is where unqualified names resolve.
	Database string
	// Functions looks stored functions up; nil: every one is a write.
	Functions sqlclass.FunctionResolver

	version *atomic.Pointer[string]
	cache   *sqlclassmysql.Cache
}

// Classify implements policy.Classifier.
func (c *Classifier) Classify(ctx context.Context, req policy.ClassifyRequest) (policy.Facts, error) {
	f, err := c.facts(ctx, req.Statement, req.MaxBytes)
	if err != nil {
		return policy.Facts{}, err
	}
	return f.Policy(c.Database), nil
}

func (c *Classifier) facts(ctx context.Context, sql string, maxBytes int) (sqlclass.Facts, error) {
	opts := sqlclassmysql.Options{Functions: c.Functions, MaxBytes: maxBytes, Cache: c.cache}
	if c.version != nil {
		if v := c.version.Load(); v != nil {
			opts.ServerVersion = *v
		}
	}
	f, err := sqlclassmysql.Classify(ctx, sql, opts)
	if err != nil {
		return sqlclass.Facts{}, err
	}
	for _, st := range f.Statements {
		if st.Tag == "LOAD DATA" {
			return sqlclass.Facts{}, sqlclass.NewUnsupportedError("LOAD DATA", st.Location,
				"Warden never lets a MySQL server read a file, from its own disk or from Warden's host (LOCAL)")
		}
	}
	return f, nil
}

// Namespace implements policy.Classifier.
func (c *Classifier) Namespace() string { return c.Database }

// Classifier implements connectors.SQL. It is made once per connection.
func (m *MySQL) Classifier() policy.Classifier { return m.classifier }

// OfflineClassifier is the classifier of a configured connection without
// its target: every stored function counts as a write, and executable
// comments are read as every server version would.
func OfflineClassifier(cfg config.Connection) policy.Classifier {
	return &Classifier{Database: cfg.Database}
}

// catalogTTL bounds how long a catalog answer is trusted: a function
// redefined as MODIFIES SQL DATA is judged anew within this time.
const catalogTTL = time.Minute

type catalogEntry struct {
	val     byte
	ok      bool
	expires time.Time
}

type catalogCache struct {
	mu sync.Mutex
	m  map[string]catalogEntry
}

func (c *catalogCache) get(key string) (catalogEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || time.Now().After(e.expires) {
		return catalogEntry{}, false
	}
	return e, true
}

func (c *catalogCache) put(key string, e catalogEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[string]catalogEntry{}
	}
	e.expires = time.Now().Add(catalogTTL)
	c.m[key] = e
}

// Volatility implements sqlclass.FunctionResolver with the byte the MySQL
// classifier reads (sqlclassmysql.Options.Functions): a stored function's
// declared data access, from information_schema.ROUTINES. An unqualified
// name is looked up in the connection's database.
func (m *MySQL) Volatility(ctx context.Context, name string) (byte, bool, error) {
	if e, ok := m.funcs.get(name); ok {
		return e.val, e.ok, nil
	}
	parts := sqlclass.SplitName(name)
	schema, fn := m.database, parts[len(parts)-1]
	if len(parts) > 1 {
		schema = parts[len(parts)-2]
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var access, deterministic string
	err := m.db.QueryRowContext(ctx, `SELECT SQL_DATA_ACCESS, IS_DETERMINISTIC FROM information_schema.ROUTINES
WHERE ROUTINE_TYPE = 'FUNCTION' AND ROUTINE_SCHEMA = ? AND ROUTINE_NAME = ?`, schema, fn).Scan(&access, &deterministic)
	e := catalogEntry{}
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return 0, false, m.mapError(err)
	default:
		e.ok = true
		switch strings.ToUpper(access) {
		case "NO SQL":
			e.val = 'n'
		case "READS SQL DATA":
			e.val = 'r'
		case "CONTAINS SQL":
			e.val = 'c'
			if strings.EqualFold(deterministic, "YES") {
				e.val = 'd'
			}
		default:
			e.val = 'm'
		}
	}
	m.funcs.put(name, e)
	return e.val, e.ok, nil
}

var (
	_ policy.Classifier         = (*Classifier)(nil)
	_ sqlclass.FunctionResolver = (*MySQL)(nil)
)
