// Package sql is the SQL tools of the catalogue: run_query and
// describe_schema, on connections whose connector has the SQL capability.
// Each is authorize (gateway), the connector's call, finish; results are
// masked as they stream and rendered for agents as structured content and
// text.
//
// It must never reach a target except through a gateway Grant, nor return
// a row the Grant's masker has not seen.
package sql
