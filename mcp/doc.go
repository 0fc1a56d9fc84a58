// Package mcp is Warden's first front door: an MCP server (built on
// github.com/mark3labs/mcp-go) over stdio and streamable HTTP. It
// identifies the caller, publishes the catalogue of package tools, and hands
// every tool call to the pipeline.
//
// It must never execute anything itself, never skip the pipeline, and never
// accept an HTTP request it could not identify.
package mcp
