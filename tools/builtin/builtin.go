package builtin

import (
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/tools"
	kubetools "github.com/wardenhq/warden/tools/kube"
	sqltools "github.com/wardenhq/warden/tools/sql"
	sshtools "github.com/wardenhq/warden/tools/ssh"
)

// Tools is the table of the tools this build has: adding a tool is adding
// its entry here.
func Tools() []tools.Tool {
	return []tools.Tool{
		tools.ListConnectionsTool,
		sqltools.DescribeSchemaTool,
		sqltools.RunQueryTool,
		sshtools.ExecTool,
		kubetools.GetTool,
		kubetools.LogsTool,
		kubetools.DeleteTool,
		kubetools.ApplyTool,
		tools.ApprovalStatusTool,
		tools.AwaitApprovalTool,
	}
}

// Open wires a gateway with o and the catalogue of the built-in tools on
// it (what the binary does, for tests and benchmarks).
func Open(o gateway.Options) (*tools.Catalogue, error) {
	g, err := gateway.New(o)
	if err != nil {
		return nil, err
	}
	return tools.New(g, Tools()), nil
}
