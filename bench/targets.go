package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// directTarget is the baseline: the same query with pgx, every row decoded.
func directTarget(o options, db string) target {
	return target{name: "pgx direct", open: func(ctx context.Context, clients int, query string) ([]caller, func(), error) {
		host, port, _ := strings.Cut(o.addr, ":")
		cfg, err := pgxpool.ParseConfig(fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable", host, port, o.user, db))
		if err != nil {
			return nil, nil, err
		}
		cfg.ConnConfig.Password = o.password
		cfg.MaxConns = int32(max(clients, 4))
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		call := func(ctx context.Context) error {
			rows, err := pool.Query(ctx, query)
			if err != nil {
				return err
			}
			for rows.Next() {
				if _, err := rows.Values(); err != nil {
					rows.Close()
					return err
				}
			}
			rows.Close()
			return rows.Err()
		}
		return repeat(call, clients), pool.Close, nil
	}}
}

func repeat(c caller, n int) []caller {
	out := make([]caller, n)
	for i := range out {
		out[i] = c
	}
	return out
}

func initialize(ctx context.Context, c *client.Client) error {
	return initializeAt(ctx, c, mcpgo.LATEST_PROTOCOL_VERSION)
}

// initializeAt initializes c at a protocol revision (one before
// 2026-07-28 has sessions).
func initializeAt(ctx context.Context, c *client.Client, version string) error {
	req := mcpgo.InitializeRequest{}
	req.Params.ProtocolVersion = version
	req.Params.ClientInfo = mcpgo.Implementation{Name: "warden-bench", Version: "1"}
	_, err := c.Initialize(ctx, req)
	return err
}

func toolCaller(c *client.Client, tool string, args map[string]any) caller {
	return func(ctx context.Context) error {
		req := mcpgo.CallToolRequest{}
		req.Params.Name = tool
		req.Params.Arguments = args
		res, err := c.CallTool(ctx, req)
		if err != nil {
			return err
		}
		if res.IsError {
			var msg string
			for _, ct := range res.Content {
				if tc, ok := ct.(mcpgo.TextContent); ok {
					msg += tc.Text
				}
			}
			return errors.New(msg)
		}
		return nil
	}
}

// wardenStdioTarget drives one `warden mcp` process; concurrent clients
// share its stdio pipe, as concurrent tool calls from one agent would.
func wardenStdioTarget(o options, cfg string) target {
	var pid atomic.Int64
	return target{name: "warden MCP stdio", serverCPU: childCPU(&pid), open: func(ctx context.Context, clients int, query string) ([]caller, func(), error) {
		c, err := client.NewStdioMCPClientWithOptions(o.warden, os.Environ(), append([]string{"mcp", "--config", cfg, "--log-level", "warn"}, profileArgs("stdio", clients)...),
			transport.WithCommandStderrWriter(os.Stderr))
		if err != nil {
			return nil, nil, err
		}
		pid.Store(int64(childPID(o.warden)))
		if err := initialize(ctx, c); err != nil {
			c.Close()
			return nil, nil, err
		}
		call := toolCaller(c, "run_query", map[string]any{"connection": o.conn(), "sql": query, "max_rows": 1000})
		return repeat(call, clients), func() { c.Close() }, nil
	}}
}

// wardenHTTPTarget drives one `warden serve`; each client has its own MCP
// session over streamable HTTP.
func wardenHTTPTarget(o options, cfg string) target {
	return wardenHTTPTargetAt(o, cfg, mcpgo.LATEST_PROTOCOL_VERSION)
}

// wardenHTTPTargetAt is wardenHTTPTarget with clients of a protocol
// revision.
func wardenHTTPTargetAt(o options, cfg, version string) target {
	var pid atomic.Int64
	return target{name: "warden MCP HTTP", serverCPU: childCPU(&pid), open: func(ctx context.Context, clients int, query string) ([]caller, func(), error) {
		cmd := exec.Command(o.warden, append([]string{"serve", "--config", cfg, "--listen", "127.0.0.1:0", "--log-level", "warn"}, profileArgs("http", clients)...)...)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		pid.Store(int64(cmd.Process.Pid))
		stop := func() {
			interruptAndWait(cmd, 10*time.Second)
		}
		url, err := readURL(out)
		if err != nil {
			stop()
			return nil, nil, err
		}
		var callers []caller
		var cs []*client.Client
		for range clients {
			c, err := client.NewStreamableHttpClient(url)
			if err == nil {
				err = c.Start(ctx)
			}
			if err == nil {
				err = initializeAt(ctx, c, version)
			}
			if err != nil {
				stop()
				return nil, nil, err
			}
			cs = append(cs, c)
			callers = append(callers, toolCaller(c, "run_query", map[string]any{"connection": o.conn(), "sql": query, "max_rows": 1000}))
		}
		return callers, func() {
			for _, c := range cs {
				c.Close()
			}
			stop()
		}, nil
	}}
}

func readURL(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "Warden is serving MCP at "); ok {
			go io.Copy(io.Discard, r)
			return u, nil
		}
	}
	return "", errors.New("warden serve exited before serving")
}

// peerTarget drives the reference PostgreSQL MCP server
// (@modelcontextprotocol/server-postgres): stdio, a `query` tool that runs
// each statement in a read-only transaction, no policy, masking or audit.
func peerTarget(o options, db string) target {
	var pid atomic.Int64
	return target{name: "peer server-postgres stdio", serverCPU: childCPU(&pid), open: func(ctx context.Context, clients int, query string) ([]caller, func(), error) {
		host, port, _ := strings.Cut(o.addr, ":")
		url := fmt.Sprintf("postgresql://%s:%s@%s:%s/%s", o.user, o.password, host, port, db)
		c, err := client.NewStdioMCPClientWithOptions("node", os.Environ(), []string{o.peer, url})
		if err != nil {
			return nil, nil, err
		}
		pid.Store(int64(childPID("node")))
		if err := initialize(ctx, c); err != nil {
			c.Close()
			return nil, nil, err
		}
		return repeat(toolCaller(c, "query", map[string]any{"sql": query}), clients), func() { c.Close() }, nil
	}}
}

var profiles atomic.Int32

// profileArgs asks the server for a CPU profile when BENCH_PROFILE_DIR is
// set, one file per scenario.
func profileArgs(kind string, clients int) []string {
	dir := os.Getenv("BENCH_PROFILE_DIR")
	if dir == "" {
		return nil
	}
	n := profiles.Add(1)
	return []string{"--cpuprofile", fmt.Sprintf("%s/%02d-%s-%dclients.prof", dir, n, kind, clients)}
}

// interruptAndWait stops a child process as Ctrl-C would, and kills it if
// it has not exited within grace.
func interruptAndWait(cmd *exec.Cmd, grace time.Duration) {
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
	}
}

// childCPU is a target's serverCPU: the CPU time so far of the process
// whose pid open stored (0 before).
func childCPU(pid *atomic.Int64) func() int64 {
	return func() int64 {
		if p := pid.Load(); p > 0 {
			return pidCPU(int(p))
		}
		return 0
	}
}

// childPID finds the newest running child of this process whose program
// is the base name of program (a stdio MCP server the client library
// started), by /proc; 0 when there is none.
func childPID(program string) int {
	self := os.Getpid()
	name := filepath.Base(program)
	if len(name) > 15 {
		name = name[:15] // comm is truncated to 15 bytes
	}
	best := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(string(b[end+1:]))
		if len(f) < 2 || string(b[open+1:end]) != name {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == self && pid > best {
			best = pid
		}
	}
	return best
}
