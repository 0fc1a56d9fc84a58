package sql

import "encoding/json"

var runQueryInputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connection": {"type": "string", "description": "Connection name, from list_connections."},
    "sql": {"type": "string", "description": "One SQL statement."},
    "max_rows": {"type": "integer", "minimum": 1, "description": "Most rows to return (default 200; policy may cap it)."},
    "justification": {"type": "string", "description": "Why you need this; recorded, and shown to a human if approval is needed."}
  },
  "required": ["connection", "sql"],
  "additionalProperties": false
}`)

var runQueryOutputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connection": {"type": "string"},
    "columns": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "type": {"type": "string"}}, "required": ["name", "type"]}},
    "rows": {"type": "array", "items": {"type": "array"}},
    "row_count": {"type": "integer"},
    "truncated": {"type": "boolean"},
    "max_rows": {"type": "integer"},
    "elapsed_ms": {"type": "number"},
    "command_tag": {"type": "string"},
    "read_only": {"type": "boolean"},
    "masked": {"type": "object", "additionalProperties": {"type": "integer"}},
    "audit_id": {"type": "string"}
  },
  "required": ["connection", "columns", "rows", "row_count", "truncated", "elapsed_ms"]
}`)

var describeSchemaInputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connection": {"type": "string", "description": "Connection name, from list_connections."},
    "schema": {"type": "string", "description": "Only this schema."},
    "table": {"type": "string", "description": "Only this table or view."}
  },
  "required": ["connection"],
  "additionalProperties": false
}`)

var describeSchemaOutputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "connection": {"type": "string"},
    "tables": {"type": "array", "items": {"type": "object", "properties": {
      "schema": {"type": "string"}, "name": {"type": "string"}, "kind": {"type": "string"},
      "columns": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "type": {"type": "string"}, "nullable": {"type": "boolean"}}}}}}}
  },
  "required": ["connection", "tables"]
}`)
