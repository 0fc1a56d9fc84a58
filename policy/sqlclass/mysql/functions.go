package mysql

import (
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/wardenhq/warden/policy/sqlclass"
)

// funcExpr judges a generic function call. The order matters:
//  1. a function known to have side effects (by bare name, qualified or
//     not) gets its effect;
//  2. an unqualified name on the safe built-in list is a read: MySQL
//     resolves an unqualified call to a native function before any stored
//     function of the same name, and a loadable function cannot take a
//     native function's name;
//  3. anything else (stored functions, loadable functions, functions
//     qualified with a database) is left to the FunctionResolver, and is
//     a write unless it vouches for it.
func (w *walker) funcExpr(x *sqlparser.FuncExpr) {
	bare := x.Name.Lowered()
	qual := x.Qualifier.String()
	display := funcName(qual, bare)
	w.funcs = append(w.funcs, display)
	if e, ok := sideEffects[bare]; ok {
		if bare == "last_insert_id" && len(x.Exprs) == 0 {
			return // LAST_INSERT_ID() only reads
		}
		w.add(e.kind, "function "+display+" "+e.reason)
		if qual == "" {
			return
		}
	}
	if qual == "" && safeFunctions[bare] {
		return
	}
	w.unresolved = append(w.unresolved, display)
}

// lockingFunc handles the user-level (advisory) lock functions, which the
// grammar parses specially.
func (w *walker) lockingFunc(x *sqlparser.LockingFunc) {
	name := strings.ToLower(x.Type.ToString())
	w.funcs = append(w.funcs, name)
	switch x.Type {
	case sqlparser.GetLock, sqlparser.ReleaseLock, sqlparser.ReleaseAllLocks:
		w.add(sqlclass.KindWrite, "function "+name+" takes or releases a user-level lock")
	case sqlparser.IsFreeLock, sqlparser.IsUsedLock:
		// Only inspects lock state.
	default:
		w.fail("LockingFunc", "unknown locking function")
	}
}

type effect struct {
	kind   sqlclass.Kind
	reason string
}

var (
	waits     = effect{sqlclass.KindUtility, "holds the connection idle or waiting (never a read)"}
	sequence  = effect{sqlclass.KindWrite, "advances or sets a sequence"}
	udfShell  = effect{sqlclass.KindWrite, "is a loadable function known from server takeovers (runs commands)"}
	readsFile = effect{sqlclass.KindUtility, "reads a file on the database server"}
)

// sideEffects are functions that do more than compute a value, matched by
// bare name. The grammar parses GET_LOCK and friends, and the GTID wait
// functions, as their own nodes (see lockingFunc and visit).
var sideEffects = map[string]effect{
	"sleep":                             waits,
	"benchmark":                         {sqlclass.KindUtility, "burns server CPU (never a read)"},
	"master_pos_wait":                   waits,
	"source_pos_wait":                   waits,
	"master_gtid_wait":                  waits, // MariaDB
	"wait_for_executed_gtid_set":        waits,
	"wait_until_sql_thread_after_gtids": waits,
	"load_file":                         readsFile,
	"last_insert_id":                    {sqlclass.KindSession, "with an argument sets the session's LAST_INSERT_ID value"},
	"nextval":                           sequence, // MariaDB sequences
	"setval":                            sequence,
	"sys_exec":                          udfShell,
	"sys_eval":                          udfShell,
	"sys_get":                           udfShell,
	"sys_set":                           udfShell,
	"do_system":                         udfShell,
	"lib_mysqludf_sys_info":             udfShell,
	"set_user_id":                       {sqlclass.KindDCL, "changes the session's user"},
	"audit_log_filter_set_filter":       {sqlclass.KindUtility, "changes the audit log configuration"},
	"audit_log_filter_remove_filter":    {sqlclass.KindUtility, "changes the audit log configuration"},
	"audit_log_filter_set_user":         {sqlclass.KindUtility, "changes the audit log configuration"},
	"audit_log_filter_remove_user":      {sqlclass.KindUtility, "changes the audit log configuration"},
	"audit_log_filter_flush":            {sqlclass.KindUtility, "changes the audit log configuration"},
	"version_tokens_set":                {sqlclass.KindUtility, "changes server version tokens"},
	"version_tokens_edit":               {sqlclass.KindUtility, "changes server version tokens"},
	"version_tokens_delete":             {sqlclass.KindUtility, "changes server version tokens"},
	"version_tokens_lock_shared":        {sqlclass.KindWrite, "takes a lock"},
	"version_tokens_lock_exclusive":     {sqlclass.KindWrite, "takes a lock"},
	"service_get_read_locks":            {sqlclass.KindWrite, "takes a lock"},
	"service_get_write_locks":           {sqlclass.KindWrite, "takes a lock"},
	"service_release_locks":             {sqlclass.KindWrite, "releases locks"},
	"keyring_key_store":                 {sqlclass.KindUtility, "changes the keyring"},
	"keyring_key_remove":                {sqlclass.KindUtility, "changes the keyring"},
	"keyring_key_generate":              {sqlclass.KindUtility, "changes the keyring"},
}

// safeFunctions are MySQL and MariaDB native functions that compute a
// value from their arguments and the session or server state, and change
// nothing. Functions the grammar parses into their own node types (JSON,
// regular expressions, aggregates, window functions, CAST, CONVERT, ...)
// are judged in visit instead. Nondeterministic but harmless functions
// (RAND, UUID, NOW) are here; so are those that only read session state
// (LAST_INSERT_ID without an argument is handled in funcExpr).
var safeFunctions = setOf(
	// Control flow and comparison.
	"if", "ifnull", "nullif", "coalesce", "greatest", "least", "isnull", "interval", "strcmp",
	"nvl", "nvl2", "decode_oracle", "decode_histogram",
	// Strings.
	"ascii", "bin", "bit_length", "char_length", "character_length", "concat", "concat_ws", "elt",
	"export_set", "field", "find_in_set", "format", "from_base64", "hex", "instr", "lcase", "left",
	"length", "lower", "lpad", "ltrim", "make_set", "mid", "oct", "octet_length", "ord", "position",
	"quote", "repeat", "replace", "reverse", "right", "rpad", "rtrim", "soundex", "space",
	"substring_index", "to_base64", "ucase", "unhex", "upper", "char", "length_oracle", "lengthb",
	"sformat", "natural_sort_key", "regexp", "rlike", "substr", "substring", "trim", "insert", "locate",
	"format_bytes", "format_pico_time",
	// Numbers.
	"abs", "acos", "asin", "atan", "atan2", "ceil", "ceiling", "conv", "cos", "cot", "crc32",
	"degrees", "exp", "floor", "ln", "log", "log10", "log2", "mod", "pi", "pow", "power", "radians",
	"rand", "round", "sign", "sin", "sqrt", "tan", "truncate", "div", "crc32c",
	// Dates and times.
	"adddate", "addtime", "convert_tz", "curdate", "current_date", "current_time",
	"current_timestamp", "curtime", "date", "date_add", "date_format", "date_sub", "datediff",
	"day", "dayname", "dayofmonth", "dayofweek", "dayofyear", "from_days", "from_unixtime",
	"get_format", "hour", "last_day", "localtime", "localtimestamp", "makedate", "maketime",
	"microsecond", "minute", "month", "monthname", "now", "period_add", "period_diff", "quarter",
	"sec_to_time", "second", "str_to_date", "subdate", "subtime", "sysdate", "time",
	"time_format", "time_to_sec", "timediff", "timestamp", "timestampadd", "to_days",
	"to_seconds", "unix_timestamp", "utc_date", "utc_time", "utc_timestamp", "week", "weekday",
	"weekofyear", "year", "yearweek", "add_months", "months_between", "to_char",
	// Hashing, encryption and compression (computed from arguments).
	"aes_decrypt", "aes_encrypt", "compress", "md5", "random_bytes", "sha", "sha1", "sha2",
	"statement_digest", "statement_digest_text", "uncompress", "uncompressed_length",
	"validate_password_strength", "kdf",
	// Information about the session and server.
	"charset", "coercibility", "collation", "connection_id", "current_role", "current_user",
	"database", "found_rows", "icu_version", "roles_graphml", "row_count", "schema",
	"session_user", "system_user", "user", "version", "last_insert_id", "lastval",
	// Miscellaneous.
	"any_value", "bin_to_uuid", "grouping", "inet_aton", "inet_ntoa", "inet6_aton", "inet6_ntoa",
	"is_ipv4", "is_ipv4_compat", "is_ipv4_mapped", "is_ipv6", "is_uuid", "name_const", "uuid",
	"uuid_short", "uuid_to_bin", "sys_guid", "default", "values", "gtid_subset", "gtid_subtract",
	"ps_current_thread_id", "ps_thread_id",
	// Bit and JSON functions the grammar leaves as plain calls.
	"bit_count", "json_depth", "json_length", "json_type", "json_valid", "json_array_append",
	"json_array_insert", "json_insert", "json_merge", "json_merge_patch", "json_merge_preserve",
	"json_remove", "json_replace", "json_set", "json_unquote", "json_object", "json_array",
	"json_pretty", "json_quote", "json_search", "json_contains", "json_contains_path",
	"json_extract", "json_keys", "json_overlaps", "json_value", "json_detailed", "json_loose",
	"json_compact", "json_exists", "json_query", "json_normalize", "json_equals",
	"json_array_intersect", "json_object_filter_keys", "json_object_to_array", "json_key_value",
	// Spatial functions the grammar leaves as plain calls.
	"st_area", "st_asbinary", "st_aswkb", "st_asgeojson", "st_astext", "st_aswkt", "st_buffer",
	"st_buffer_strategy", "st_centroid", "st_collect", "st_contains", "st_convexhull",
	"st_crosses", "st_difference", "st_dimension", "st_disjoint", "st_distance",
	"st_distance_sphere", "st_endpoint", "st_envelope", "st_equals", "st_exteriorring",
	"st_frechetdistance", "st_geohash", "st_geomcollfromtext", "st_geomcollfromwkb",
	"st_geometryn", "st_geometrytype", "st_geomfromgeojson", "st_geomfromtext",
	"st_geomfromwkb", "st_hausdorffdistance", "st_interiorringn", "st_intersection",
	"st_intersects", "st_isclosed", "st_isempty", "st_issimple", "st_isvalid",
	"st_latfromgeohash", "st_latitude", "st_length", "st_linefromtext", "st_linefromwkb",
	"st_lineinterpolatepoint", "st_lineinterpolatepoints", "st_longfromgeohash",
	"st_longitude", "st_makeenvelope", "st_numgeometries", "st_numinteriorring",
	"st_numinteriorrings", "st_numpoints", "st_overlaps", "st_pointatdistance",
	"st_pointfromgeohash", "st_pointfromtext", "st_pointfromwkb", "st_pointn",
	"st_polyfromtext", "st_polyfromwkb", "st_simplify", "st_srid", "st_startpoint",
	"st_swapxy", "st_symdifference", "st_touches", "st_transform", "st_union", "st_validate",
	"st_within", "st_x", "st_y", "mbrcontains", "mbrcoveredby", "mbrcovers", "mbrdisjoint",
	"mbrequals", "mbrintersects", "mbroverlaps", "mbrtouches", "mbrwithin", "point",
	"linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
	"geometrycollection",
	// Window and aggregate names the grammar may leave as plain calls.
	"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "count", "sum", "avg",
	"min", "max", "group_concat", "bit_and", "bit_or", "bit_xor", "std", "stddev",
	"stddev_pop", "stddev_samp", "var_pop", "var_samp", "variance", "json_arrayagg",
	"json_objectagg", "median", "percentile_cont", "percentile_disc",
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
