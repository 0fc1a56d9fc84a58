package mysql

import (
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/wardenhq/warden/policy/sqlclass"
)

// The grammar keeps no tree for a few statements (DO, LOAD DATA,
// OPTIMIZE, REPAIR). What the classifier needs from them is read from the
// statement's tokens, as the parser's tokenizer produced them.

// otherAdmin handles the statements the grammar returns as OtherAdmin.
func (w *walker) otherAdmin() {
	toks := w.piece.toks
	switch {
	case len(toks) > 0 && toks[0].typ == sqlparser.DO:
		w.doStatement()
	case len(toks) > 0 && toks[0].typ == sqlparser.OPTIMIZE:
		w.setTag("OPTIMIZE TABLE")
		w.effect(sqlclass.KindUtility, "OPTIMIZE TABLE rebuilds tables")
		w.tableList(toks[1:])
	case len(toks) > 0 && toks[0].typ == sqlparser.REPAIR:
		w.setTag("REPAIR TABLE")
		w.effect(sqlclass.KindUtility, "REPAIR TABLE rewrites tables")
		w.tableList(toks[1:])
	default:
		w.fail("OtherAdmin", "a statement the classifier does not know")
	}
}

// doStatement: DO expr, ... evaluates expressions for their side effects
// only. The grammar checks but drops the expressions, so they are parsed
// again as SELECT expr, ... and judged like a query's.
func (w *walker) doStatement() {
	w.setTag("DO")
	w.effect(sqlclass.KindWrite, "DO evaluates expressions only for their side effects")
	do := w.piece.toks[0]
	text := "SELECT" + w.text[do.end:w.piece.parseEnd]
	tree, err := parseStatement(text)
	if err != nil {
		w.fail("DO", "its expressions do not parse as a select list")
		return
	}
	sel, ok := tree.(*sqlparser.Select)
	if !ok || sel.Into != nil || sel.Lock != sqlparser.NoLock || sel.With != nil {
		w.fail("DO", "its expressions do not parse as a plain select list")
		return
	}
	w.query(sel)
}

// loadData: LOAD DATA [LOW_PRIORITY|CONCURRENT] [LOCAL] INFILE 'file'
// [REPLACE|IGNORE] INTO TABLE name ... writes the table from a file on
// the server or, with LOCAL, from the client (the gateway's host).
func (w *walker) loadData() {
	w.setTag("LOAD DATA")
	toks := w.piece.toks
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].typ == sqlparser.INTO && toks[i+1].typ == sqlparser.TABLE {
			names, _, ok := tableNames(toks[i+2:], false)
			if !ok || len(names) != 1 {
				break
			}
			w.effect(sqlclass.KindWrite, "LOAD DATA loads a file into table "+names[0])
			w.effect(sqlclass.KindUtility, "LOAD DATA reads a file on the database server, or with LOCAL on the client")
			w.write(names[0])
			return
		}
	}
	w.fail("LOAD DATA", "its target table could not be found")
}

// tableList reads "[NO_WRITE_TO_BINLOG|LOCAL] TABLE|TABLES name, ..." and
// records the names as written.
func (w *walker) tableList(toks []token) {
	if len(toks) > 0 && (toks[0].typ == sqlparser.NO_WRITE_TO_BINLOG || toks[0].typ == sqlparser.LOCAL) {
		toks = toks[1:]
	}
	if len(toks) == 0 || (toks[0].typ != sqlparser.TABLE && toks[0].typ != sqlparser.TABLES) {
		w.fail(w.tag, "expected TABLE")
		return
	}
	names, _, ok := tableNames(toks[1:], true)
	if !ok {
		w.fail(w.tag, "its tables could not be read (a table named like a keyword must be quoted with backticks)")
		return
	}
	for _, n := range names {
		w.write(n)
	}
}

// tableNames reads name[.name] (and, if list, more after commas) from the
// start of toks. Names must be plain or backticked identifiers; a
// keyword is refused rather than guessed at.
func tableNames(toks []token, list bool) (names []string, rest []token, ok bool) {
	for {
		if len(toks) == 0 || toks[0].typ != sqlparser.ID {
			return nil, nil, false
		}
		tn := sqlparser.TableName{Name: sqlparser.NewIdentifierCS(toks[0].val)}
		toks = toks[1:]
		if len(toks) > 1 && toks[0].typ == '.' && toks[1].typ == sqlparser.ID {
			tn = sqlparser.TableName{Qualifier: tn.Name, Name: sqlparser.NewIdentifierCS(toks[1].val)}
			toks = toks[2:]
		}
		names = append(names, tableName(tn))
		if !list || len(toks) == 0 || toks[0].typ != ',' {
			return names, toks, true
		}
		toks = toks[1:]
	}
}

// unparsedStatements are MySQL and MariaDB statements the vitess grammar
// does not parse, by their leading keywords, with the kind they would
// have. They are refused with ErrUnsupported naming them.
var unparsedStatements = []struct {
	words []string
	kind  sqlclass.Kind
}{
	{[]string{"GRANT"}, sqlclass.KindDCL},
	{[]string{"REVOKE"}, sqlclass.KindDCL},
	{[]string{"CREATE", "USER"}, sqlclass.KindDCL},
	{[]string{"ALTER", "USER"}, sqlclass.KindDCL},
	{[]string{"DROP", "USER"}, sqlclass.KindDCL},
	{[]string{"RENAME", "USER"}, sqlclass.KindDCL},
	{[]string{"CREATE", "ROLE"}, sqlclass.KindDCL},
	{[]string{"DROP", "ROLE"}, sqlclass.KindDCL},
	{[]string{"SET", "PASSWORD"}, sqlclass.KindDCL},
	{[]string{"SET", "ROLE"}, sqlclass.KindDCL},
	{[]string{"SET", "DEFAULT", "ROLE"}, sqlclass.KindDCL},
	{[]string{"SET", "PERSIST"}, sqlclass.KindDCL},
	{[]string{"SET", "PERSIST_ONLY"}, sqlclass.KindDCL},
	{[]string{"SET", "RESOURCE"}, sqlclass.KindUtility},
	{[]string{"HANDLER"}, sqlclass.KindWrite},
	{[]string{"XA"}, sqlclass.KindTransaction},
	{[]string{"LOCK", "TABLE"}, sqlclass.KindWrite},
	{[]string{"LOCK", "INSTANCE"}, sqlclass.KindUtility},
	{[]string{"UNLOCK", "INSTANCE"}, sqlclass.KindUtility},
	{[]string{"INSTALL"}, sqlclass.KindUtility},
	{[]string{"UNINSTALL"}, sqlclass.KindUtility},
	{[]string{"SHUTDOWN"}, sqlclass.KindUtility},
	{[]string{"RESTART"}, sqlclass.KindUtility},
	{[]string{"CLONE"}, sqlclass.KindUtility},
	{[]string{"RESET"}, sqlclass.KindUtility},
	{[]string{"CHANGE"}, sqlclass.KindUtility},
	{[]string{"START", "SLAVE"}, sqlclass.KindUtility},
	{[]string{"START", "REPLICA"}, sqlclass.KindUtility},
	{[]string{"STOP"}, sqlclass.KindUtility},
	{[]string{"BINLOG"}, sqlclass.KindUtility},
	{[]string{"CACHE", "INDEX"}, sqlclass.KindUtility},
	{[]string{"LOAD", "INDEX"}, sqlclass.KindUtility},
	{[]string{"LOAD", "XML"}, sqlclass.KindWrite},
	{[]string{"IMPORT"}, sqlclass.KindDDL},
	{[]string{"ALTER", "INSTANCE"}, sqlclass.KindUtility},
	{[]string{"CREATE", "FUNCTION"}, sqlclass.KindDDL},
	{[]string{"CREATE", "TRIGGER"}, sqlclass.KindDDL},
	{[]string{"CREATE", "EVENT"}, sqlclass.KindDDL},
	{[]string{"CREATE", "SERVER"}, sqlclass.KindDDL},
	{[]string{"CREATE", "SEQUENCE"}, sqlclass.KindDDL},
	{[]string{"CREATE", "DEFINER"}, sqlclass.KindDCL},
	{[]string{"CREATE", "OR"}, sqlclass.KindDDL},
	{[]string{"DROP", "FUNCTION"}, sqlclass.KindDDL},
	{[]string{"DROP", "TRIGGER"}, sqlclass.KindDDL},
	{[]string{"DROP", "EVENT"}, sqlclass.KindDDL},
	{[]string{"DROP", "SERVER"}, sqlclass.KindDDL},
	{[]string{"DROP", "SEQUENCE"}, sqlclass.KindDDL},
	{[]string{"ALTER", "FUNCTION"}, sqlclass.KindDDL},
	{[]string{"ALTER", "PROCEDURE"}, sqlclass.KindDDL},
	{[]string{"ALTER", "EVENT"}, sqlclass.KindDDL},
	{[]string{"ALTER", "SEQUENCE"}, sqlclass.KindDDL},
	{[]string{"CHECK"}, sqlclass.KindUtility},
	{[]string{"CHECKSUM"}, sqlclass.KindUtility},
	{[]string{"ANALYZE"}, sqlclass.KindWrite}, // MariaDB ANALYZE SELECT/DELETE runs the statement
	{[]string{"BACKUP"}, sqlclass.KindUtility},
	{[]string{"SIGNAL"}, sqlclass.KindRead},
	{[]string{"RESIGNAL"}, sqlclass.KindRead},
	{[]string{"GET", "DIAGNOSTICS"}, sqlclass.KindRead},
	{[]string{"HELP"}, sqlclass.KindRead},
	{[]string{"TABLE"}, sqlclass.KindRead},
	{[]string{"BEGIN"}, sqlclass.KindTransaction},
	{[]string{"COMMIT"}, sqlclass.KindTransaction},
	{[]string{"ROLLBACK"}, sqlclass.KindTransaction},
}

// unparsedStatement names a statement the grammar rejected by its leading
// keywords, when it is one MySQL has. Only the fixed keywords of the
// table are returned, never text from the input.
func unparsedStatement(toks []token) (construct string, kind sqlclass.Kind, ok bool) {
next:
	for _, s := range unparsedStatements {
		if len(toks) < len(s.words) {
			continue
		}
		for i, word := range s.words {
			if !strings.EqualFold(toks[i].val, word) {
				continue next
			}
		}
		return strings.Join(s.words, " "), s.kind, true
	}
	return "", "", false
}
