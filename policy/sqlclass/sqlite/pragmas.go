package sqlite

// pragmaClass is what Warden makes of a PRAGMA.
type pragmaClass int

const (
	// pragmaUnknown: not a pragma Warden knows (SQLite silently ignores
	// unknown pragmas; Warden refuses them).
	pragmaUnknown pragmaClass = iota
	// pragmaInspect reports on the schema or the database, and takes at
	// most the name of what to inspect: always a read.
	pragmaInspect
	// pragmaSetting reads a setting without an argument and changes it
	// with one.
	pragmaSetting
	// pragmaRefused acts or changes state whatever its argument.
	pragmaRefused
)

// pragmaArg says what an inspecting pragma's argument names, so that the
// table it reports on is one the statement reads.
type pragmaArg int

const (
	argNone  pragmaArg = iota
	argTable           // a table or view
	argIndex           // an index: the table it indexes is read
)

type pragmaInfo struct {
	class pragmaClass
	arg   pragmaArg
	// schema: the pragma lists the schema's tables (sqlite_schema is read).
	schema bool
}

// pragmas classifies SQLite's pragmas (https://www.sqlite.org/pragma.html).
var pragmas = map[string]pragmaInfo{
	// Inspection: reads, whatever they are given.
	"table_info":        {class: pragmaInspect, arg: argTable},
	"table_xinfo":       {class: pragmaInspect, arg: argTable},
	"index_list":        {class: pragmaInspect, arg: argTable},
	"foreign_key_list":  {class: pragmaInspect, arg: argTable},
	"foreign_key_check": {class: pragmaInspect, arg: argTable},
	"index_info":        {class: pragmaInspect, arg: argIndex},
	"index_xinfo":       {class: pragmaInspect, arg: argIndex},
	"table_list":        {class: pragmaInspect, arg: argTable, schema: true},
	"database_list":     {class: pragmaInspect},
	"collation_list":    {class: pragmaInspect},
	"function_list":     {class: pragmaInspect},
	"module_list":       {class: pragmaInspect},
	"pragma_list":       {class: pragmaInspect},
	"compile_options":   {class: pragmaInspect},
	"data_version":      {class: pragmaInspect},
	"freelist_count":    {class: pragmaInspect},
	"page_count":        {class: pragmaInspect},
	"integrity_check":   {class: pragmaInspect},
	"quick_check":       {class: pragmaInspect},

	// Settings: a read without an argument; with one they change the
	// connection (shared by later calls) or the database file.
	"application_id":            {class: pragmaSetting},
	"user_version":              {class: pragmaSetting},
	"schema_version":            {class: pragmaSetting},
	"auto_vacuum":               {class: pragmaSetting},
	"automatic_index":           {class: pragmaSetting},
	"busy_timeout":              {class: pragmaSetting},
	"cache_size":                {class: pragmaSetting},
	"cache_spill":               {class: pragmaSetting},
	"cell_size_check":           {class: pragmaSetting},
	"checkpoint_fullfsync":      {class: pragmaSetting},
	"defer_foreign_keys":        {class: pragmaSetting},
	"encoding":                  {class: pragmaSetting},
	"foreign_keys":              {class: pragmaSetting},
	"fullfsync":                 {class: pragmaSetting},
	"hard_heap_limit":           {class: pragmaSetting},
	"ignore_check_constraints":  {class: pragmaSetting},
	"journal_mode":              {class: pragmaSetting},
	"journal_size_limit":        {class: pragmaSetting},
	"legacy_alter_table":        {class: pragmaSetting},
	"locking_mode":              {class: pragmaSetting},
	"max_page_count":            {class: pragmaSetting},
	"mmap_size":                 {class: pragmaSetting},
	"page_size":                 {class: pragmaSetting},
	"read_uncommitted":          {class: pragmaSetting},
	"recursive_triggers":        {class: pragmaSetting},
	"reverse_unordered_selects": {class: pragmaSetting},
	"secure_delete":             {class: pragmaSetting},
	"soft_heap_limit":           {class: pragmaSetting},
	"synchronous":               {class: pragmaSetting},
	"temp_store":                {class: pragmaSetting},
	"threads":                   {class: pragmaSetting},
	"trusted_schema":            {class: pragmaSetting},
	"wal_autocheckpoint":        {class: pragmaSetting},
	"analysis_limit":            {class: pragmaSetting},

	// Refused whatever their argument: they act (checkpoint, vacuum,
	// optimize, free memory), set without reading (case_sensitive_like),
	// or undo a protection of the connector (query_only, writable_schema)
	// or name directories on the Warden host.
	"case_sensitive_like":    {class: pragmaRefused},
	"incremental_vacuum":     {class: pragmaRefused},
	"optimize":               {class: pragmaRefused},
	"shrink_memory":          {class: pragmaRefused},
	"wal_checkpoint":         {class: pragmaRefused},
	"query_only":             {class: pragmaRefused},
	"writable_schema":        {class: pragmaRefused},
	"temp_store_directory":   {class: pragmaRefused},
	"data_store_directory":   {class: pragmaRefused},
	"count_changes":          {class: pragmaRefused},
	"empty_result_callbacks": {class: pragmaRefused},
	"full_column_names":      {class: pragmaRefused},
	"short_column_names":     {class: pragmaRefused},
	"default_cache_size":     {class: pragmaRefused},
	"legacy_file_format":     {class: pragmaRefused},
	"parser_trace":           {class: pragmaRefused},
	"vdbe_addoptrace":        {class: pragmaRefused},
	"vdbe_debug":             {class: pragmaRefused},
	"vdbe_listing":           {class: pragmaRefused},
	"vdbe_trace":             {class: pragmaRefused},
}
