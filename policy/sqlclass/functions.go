package sqlclass

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// funcCall judges one function call (including the calls the grammar
// generates for SQL syntax, such as EXTRACT or AT TIME ZONE, which arrive
// qualified with pg_catalog) and walks its arguments.
func (w *walker) funcCall(x *pg_query.FuncCall, m proto.Message) {
	parts, ok := stringList(x.GetFuncname())
	if !ok || len(parts) == 0 || len(parts) > 3 {
		w.fail(m, "function name is not a plain qualified name")
		return
	}
	w.function(parts, x.GetArgs())
	w.children(m, funcCallSkip)
}

// function records a called function and its effect. The order of the
// checks matters:
//  1. a function known to have side effects (by its bare name, whatever
//     schema qualifies it: dblink in schema public is still dblink) gets
//     its effect;
//  2. a name that can only mean a built-in (unqualified or pg_catalog.)
//     and is on the safe list is a read;
//  3. anything else is left for the FunctionResolver; unresolved, it is a
//     write. A function qualified with another schema is never taken for
//     a built-in, even if a built-in has its name.
func (w *walker) function(parts []string, args []*pg_query.Node) {
	bare, builtin := builtinName(parts)
	display := displayName(parts)
	w.funcs = append(w.funcs, display)
	if e, ok := sideEffect(bare, args); ok {
		if bare == "set_config" {
			w.readsLiteral = true // its reason names the setting
		}
		w.add(e.kind, "function "+display+" "+e.reason)
		if builtin {
			return
		}
	}
	if builtin && safeFunctions[bare] {
		return
	}
	w.unresolvedFuncs = append(w.unresolvedFuncs, joinName(parts))
}

// typeName checks the target type of casts and typed column lists in
// queries: a type that is not built in may be a domain whose CHECK, or a
// composite whose fields, run user-defined code on conversion.
func (w *walker) typeName(x *pg_query.TypeName, m proto.Message) {
	if w.ddl == 0 {
		parts, ok := stringList(x.GetNames())
		switch {
		case !ok || len(parts) == 0 || len(parts) > 3:
			w.fail(m, "type name is not a plain qualified name")
			return
		case x.GetPctType():
			w.unresolvedTypes = append(w.unresolvedTypes, joinName(parts)+"%TYPE")
		default:
			bare, builtin := builtinName(parts)
			if !builtin || !builtinTypes[bare] {
				w.unresolvedTypes = append(w.unresolvedTypes, joinName(parts))
			}
		}
	}
	w.children(m, typeNameSkip)
}

// operator checks an operator name in a query. Operators run functions;
// one that is not among PostgreSQL's built-in operator names, or that is
// qualified with a schema other than pg_catalog, is user-defined and
// counts as a write. (A user-defined overload of a built-in operator name
// is not detected here: see the package documentation.)
func (w *walker) operator(name []*pg_query.Node, m proto.Message) {
	parts, ok := stringList(name)
	if !ok || len(parts) == 0 || len(parts) > 3 {
		w.fail(m, "operator name is not a plain qualified name")
		return
	}
	if w.ddl > 0 {
		return
	}
	bare, builtin := builtinName(parts)
	if builtin && builtinOperators[bare] {
		return
	}
	w.add(KindWrite, "operator "+operatorName(parts)+" is not a built-in operator")
}

// tableSample handles TABLESAMPLE: the method is a function.
func (w *walker) tableSample(x *pg_query.RangeTableSample, m proto.Message) {
	parts, ok := stringList(x.GetMethod())
	if !ok || len(parts) == 0 || len(parts) > 3 {
		w.fail(m, "sampling method is not a plain qualified name")
		return
	}
	bare, builtin := builtinName(parts)
	if !builtin || (bare != "system" && bare != "bernoulli") {
		w.funcs = append(w.funcs, displayName(parts))
		w.unresolvedFuncs = append(w.unresolvedFuncs, joinName(parts))
	}
	w.children(m, tableSampleSkip)
}

// sideEffect returns the effect of a function known to do more than
// compute a value, by bare name.
func sideEffect(name string, args []*pg_query.Node) (effect, bool) {
	if e, ok := sideEffects[name]; ok {
		if name == "set_config" {
			e.reason = setConfigReason(args)
		}
		if name == "ts_rewrite" && len(args) != 2 {
			return effect{}, false // only ts_rewrite(query, sql text) runs SQL
		}
		return e, true
	}
	for _, p := range sideEffectPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.effect, true
		}
	}
	return effect{}, false
}

// setConfigReason names the setting set_config changes when it is a
// constant, singling out those that undo read-only mode.
func setConfigReason(args []*pg_query.Node) string {
	if len(args) > 0 {
		if s := args[0].GetAConst().GetSval(); s != nil {
			name := strings.ToLower(s.GetSval())
			if name == "default_transaction_read_only" || name == "transaction_read_only" {
				return "changes " + name + " and can turn off read-only mode"
			}
			if isSettingName(name) {
				return "changes session setting " + name
			}
		}
	}
	return "changes a session setting"
}

var (
	runsSQL    = effect{KindWrite, "runs SQL text the classifier cannot see"}
	readsFiles = effect{KindUtility, "reads files on the database server"}
	admin      = effect{KindUtility, "performs a server administration action"}
	typeInput  = effect{KindWrite, "runs a type's input function, which can run user-defined code (domain checks)"}
	slot       = effect{KindUtility, "manipulates replication slots or origins"}
)

// sideEffects are functions, built in or from common extensions, that do
// more than compute a value. They are matched by bare name, in any schema.
var sideEffects = map[string]effect{
	// Session state.
	"set_config":         {KindSession, ""},
	"setseed":            {KindSession, "sets the session's random seed"},
	"pg_export_snapshot": {KindSession, "exports the transaction's snapshot"},

	// Writes: sequences, transaction ids, notifications, messages.
	"nextval":                  {KindWrite, "advances a sequence"},
	"setval":                   {KindWrite, "sets a sequence"},
	"txid_current":             {KindWrite, "assigns a transaction id"},
	"pg_current_xact_id":       {KindWrite, "assigns a transaction id"},
	"pg_notify":                {KindWrite, "sends a notification to other sessions"},
	"pg_logical_emit_message":  {KindWrite, "writes a message into the WAL"},
	"loread":                   {KindWrite, "reads a large object outside table policy"},
	"lowrite":                  {KindWrite, "writes a large object"},
	"pg_extension_config_dump": {KindWrite, "changes an extension's configuration"},

	// Functions that run SQL given as text (or read whole tables, schemas
	// or databases by name), out of the classifier's sight.
	"query_to_xml":                  runsSQL,
	"query_to_xml_and_xmlschema":    runsSQL,
	"query_to_xmlschema":            runsSQL,
	"cursor_to_xml":                 runsSQL,
	"cursor_to_xmlschema":           runsSQL,
	"table_to_xml":                  runsSQL,
	"table_to_xml_and_xmlschema":    runsSQL,
	"table_to_xmlschema":            runsSQL,
	"schema_to_xml":                 runsSQL,
	"schema_to_xml_and_xmlschema":   runsSQL,
	"schema_to_xmlschema":           runsSQL,
	"database_to_xml":               runsSQL,
	"database_to_xml_and_xmlschema": runsSQL,
	"database_to_xmlschema":         runsSQL,
	"ts_stat":                       runsSQL,
	"ts_rewrite":                    runsSQL, // two-argument form only
	"crosstab":                      runsSQL,
	"crosstab2":                     runsSQL,
	"crosstab3":                     runsSQL,
	"crosstab4":                     runsSQL,
	"connectby":                     runsSQL,

	// Type input functions called directly run domain checks and
	// composite field conversions.
	"domain_in":           typeInput,
	"domain_recv":         typeInput,
	"record_in":           typeInput,
	"record_recv":         typeInput,
	"array_in":            typeInput,
	"array_recv":          typeInput,
	"range_in":            typeInput,
	"range_recv":          typeInput,
	"multirange_in":       typeInput,
	"multirange_recv":     typeInput,
	"pg_input_is_valid":   typeInput,
	"pg_input_error_info": typeInput,

	// Server files.
	"pg_read_file":              readsFiles,
	"pg_read_file_old":          readsFiles,
	"pg_read_binary_file":       readsFiles,
	"pg_stat_file":              readsFiles,
	"pg_hba_file_rules":         readsFiles,
	"pg_ident_file_mappings":    readsFiles,
	"pg_show_all_file_settings": readsFiles,
	"pg_logdir_ls":              readsFiles,

	// Signalling backends and administering the server.
	"pg_terminate_backend":           {KindUtility, "signals a backend"},
	"pg_cancel_backend":              {KindUtility, "signals a backend"},
	"pg_reload_conf":                 {KindUtility, "signals the server to reload its configuration"},
	"pg_rotate_logfile":              {KindUtility, "signals the server to rotate its log"},
	"pg_rotate_logfile_old":          {KindUtility, "signals the server to rotate its log"},
	"pg_promote":                     {KindUtility, "promotes a standby server"},
	"pg_log_backend_memory_contexts": {KindUtility, "signals a backend"},
	"pg_switch_wal":                  admin,
	"pg_create_restore_point":        admin,
	"pg_backup_start":                admin,
	"pg_backup_stop":                 admin,
	"pg_start_backup":                admin,
	"pg_stop_backup":                 admin,
	"pg_import_system_collations":    admin,
	"pg_nextoid":                     admin,
	"pg_stop_making_pinned_objects":  admin,
	"pg_sync_replication_slots":      slot,
	"pg_drop_replication_slot":       slot,
	"pg_replication_slot_advance":    slot,
	"pg_sleep":                       {KindUtility, "holds the connection idle (pg_sleep is never a read)"},
	"pg_sleep_for":                   {KindUtility, "holds the connection idle (pg_sleep is never a read)"},
	"pg_sleep_until":                 {KindUtility, "holds the connection idle (pg_sleep is never a read)"},
}

// sideEffectPrefixes are families of such functions, by name prefix.
var sideEffectPrefixes = []struct {
	prefix string
	effect effect
}{
	{"lo_", effect{KindWrite, "reads or writes large objects outside table policy"}},
	{"dblink", effect{KindWrite, "runs SQL over another connection"}},
	{"postgres_fdw_", effect{KindUtility, "manages foreign-server connections"}},
	{"pg_advisory_", effect{KindWrite, "takes or releases an advisory lock"}},
	{"pg_try_advisory_", effect{KindWrite, "takes an advisory lock"}},
	{"pg_ls_", readsFiles},
	{"pg_read_", readsFiles},
	{"pg_file_", effect{KindUtility, "writes files on the database server"}},
	{"pg_stat_reset", effect{KindUtility, "resets statistics"}},
	{"pg_stat_statements_reset", effect{KindUtility, "resets statistics"}},
	{"pg_wal_replay_", admin},
	{"pg_create_", slot},
	{"pg_copy_", slot},
	{"pg_logical_slot_", effect{KindUtility, "reads or consumes logical decoding changes (row data outside table policy)"}},
	{"pg_replication_origin_", slot},
	{"binary_upgrade_", admin},
}

// operatorName shows a possibly schema-qualified operator: the schema
// quoted where needed, the operator symbol as is.
func operatorName(parts []string) string {
	last := len(parts) - 1
	if last == 0 {
		return parts[0]
	}
	return joinName(parts[:last]) + "." + parts[last]
}
