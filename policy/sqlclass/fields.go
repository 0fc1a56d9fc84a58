package sqlclass

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// fieldMask is a set of field numbers (all below 64) a handler walks
// itself, so the generic walk must skip them.
type fieldMask uint64

func (f fieldMask) has(n protoreflect.FieldNumber) bool {
	return n < 64 && f&(1<<uint(n)) != 0
}

// mask builds a fieldMask from field names of m's message type. It panics
// on a name the type does not have: the tables below are fixed at build
// time and the tests load them.
func mask(m proto.Message, names ...string) fieldMask {
	var f fieldMask
	for _, fd := range fieldsOf(m, names...) {
		if fd.Number() >= 64 {
			panic(fmt.Sprintf("sqlclass: field %s number %d too large for a mask", fd.FullName(), fd.Number()))
		}
		f |= 1 << uint(fd.Number())
	}
	return f
}

func fieldsOf(m proto.Message, names ...string) []protoreflect.FieldDescriptor {
	desc := m.ProtoReflect().Descriptor()
	out := make([]protoreflect.FieldDescriptor, 0, len(names))
	for _, n := range names {
		fd := desc.Fields().ByName(protoreflect.Name(n))
		if fd == nil {
			panic(fmt.Sprintf("sqlclass: %s has no field %q", desc.FullName(), n))
		}
		out = append(out, fd)
	}
	return out
}

// Fields that handlers walk themselves.
var (
	aExprSkip       = mask(&pg_query.A_Expr{}, "name")
	subLinkSkip     = mask(&pg_query.SubLink{}, "oper_name")
	sortBySkip      = mask(&pg_query.SortBy{}, "use_op")
	funcCallSkip    = mask(&pg_query.FuncCall{}, "funcname")
	typeNameSkip    = mask(&pg_query.TypeName{}, "names")
	tableSampleSkip = mask(&pg_query.RangeTableSample{}, "method")
	selectSkip      = mask(&pg_query.SelectStmt{}, "with_clause", "into_clause", "from_clause", "locking_clause")
	insertSkip      = mask(&pg_query.InsertStmt{}, "relation", "with_clause")
	updateSkip      = mask(&pg_query.UpdateStmt{}, "relation", "with_clause")
	deleteSkip      = mask(&pg_query.DeleteStmt{}, "relation", "with_clause")
	mergeSkip       = mask(&pg_query.MergeStmt{}, "relation", "with_clause")
	cteSkip         = mask(&pg_query.CommonTableExpr{}, "ctequery")
	copySkip        = mask(&pg_query.CopyStmt{}, "relation")
	callSkip        = mask(&pg_query.CallStmt{}, "funccall")
)

// targetFields are the fields whose relation a statement changes (creates,
// alters, drops, truncates, locks, vacuums, grants on...). A RangeVar found
// directly in one of them, or in a list held by one, is recorded as
// written; every other RangeVar is read. The data-modifying statements
// (INSERT, UPDATE, DELETE, MERGE, COPY) and SELECT INTO handle their
// targets themselves.
var targetFields = func() map[protoreflect.FieldDescriptor]bool {
	set := map[protoreflect.FieldDescriptor]bool{}
	add := func(m proto.Message, names ...string) {
		for _, fd := range fieldsOf(m, names...) {
			set[fd] = true
		}
	}
	add(&pg_query.IntoClause{}, "rel")
	add(&pg_query.CreateStmt{}, "relation")
	add(&pg_query.ViewStmt{}, "view")
	add(&pg_query.AlterTableStmt{}, "relation")
	add(&pg_query.IndexStmt{}, "relation")
	add(&pg_query.CreateTrigStmt{}, "relation")
	add(&pg_query.RuleStmt{}, "relation")
	add(&pg_query.CreatePolicyStmt{}, "table")
	add(&pg_query.AlterPolicyStmt{}, "table")
	add(&pg_query.ClusterStmt{}, "relation")
	add(&pg_query.ReindexStmt{}, "relation")
	add(&pg_query.RefreshMatViewStmt{}, "relation")
	add(&pg_query.VacuumRelation{}, "relation")
	add(&pg_query.RenameStmt{}, "relation")
	add(&pg_query.AlterObjectSchemaStmt{}, "relation")
	add(&pg_query.AlterOwnerStmt{}, "relation")
	add(&pg_query.AlterObjectDependsStmt{}, "relation")
	add(&pg_query.PartitionCmd{}, "name")
	add(&pg_query.PublicationTable{}, "relation")
	add(&pg_query.CreateStatsStmt{}, "relations")
	add(&pg_query.ImportForeignSchemaStmt{}, "table_list")
	add(&pg_query.LockStmt{}, "relations")
	add(&pg_query.TruncateStmt{}, "relations")
	add(&pg_query.GrantStmt{}, "objects")
	add(&pg_query.CreateSeqStmt{}, "sequence")
	add(&pg_query.AlterSeqStmt{}, "sequence")
	return set
}()

// childField is a message-valued field of a parse-tree message type.
type childField struct {
	index  int // in the generated Go struct
	number protoreflect.FieldNumber
	list   bool
	target bool // see targetFields
}

// messageFields lists, for the Go struct of every message type in
// pg_query's schema, the fields that can hold nodes: every message-valued
// field of the descriptor, matched to its struct field by field number.
// Types it cannot map completely (oneofs, maps) are left out, and the
// walk refuses them. Built once; read-only.
var messageFields = func() map[reflect.Type][]childField {
	out := map[reflect.Type][]childField{}
	msgs := pg_query.File_pg_query_proto.Messages()
	for i := 0; i < msgs.Len(); i++ {
		md := msgs.Get(i)
		mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
		if err != nil {
			continue
		}
		st := reflect.TypeOf(mt.Zero().Interface())
		if st.Kind() != reflect.Pointer || st.Elem().Kind() != reflect.Struct {
			continue
		}
		st = st.Elem()
		byNumber := map[int]int{}
		for j := 0; j < st.NumField(); j++ {
			if n, ok := tagNumber(st.Field(j).Tag.Get("protobuf")); ok {
				byNumber[n] = j
			}
		}
		var fields []childField
		complete := true
		fds := md.Fields()
		for j := 0; j < fds.Len(); j++ {
			fd := fds.Get(j)
			if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
				continue
			}
			idx, ok := byNumber[int(fd.Number())]
			if !ok || fd.IsMap() || fd.ContainingOneof() != nil {
				complete = false
				break
			}
			fields = append(fields, childField{index: idx, number: fd.Number(), list: fd.IsList(), target: targetFields[fd]})
		}
		if complete {
			out[st] = fields
		}
	}
	return out
}()

// tagNumber reads the field number from a generated struct field's
// protobuf tag ("bytes,4,opt,name=relation,proto3").
func tagNumber(tag string) (int, bool) {
	parts := strings.Split(tag, ",")
	if len(parts) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(parts[1])
	return n, err == nil
}
