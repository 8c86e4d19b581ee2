package cnb

import (
	"context"

	"slipway.dev/slipway/engine/sandbox"
)

// NamespaceSandbox runs commands with engine/sandbox: user, mount, pid, ipc and uts namespaces
// with the sandbox's ids mapped to host ids from Base. The calling process must be real root and
// must hand `sandbox-exec` re-executions to sandbox.Child.
type NamespaceSandbox struct {
	// Base is the host id of the sandbox's root; default sandbox.DefaultBase.
	Base int
	// Executable is the binary re-executed inside; default the running binary.
	Executable string
}

func (s NamespaceSandbox) base() int {
	if s.Base == 0 {
		return sandbox.DefaultBase
	}
	return s.Base
}

// HostID implements Sandbox.
func (s NamespaceSandbox) HostID(id int) int { return s.base() + id }

// Run implements Sandbox. The root is already owned by the mapped ids, so nothing is shifted.
func (s NamespaceSandbox) Run(ctx context.Context, c Command) (int, error) {
	return sandbox.Run(ctx, sandbox.Config{
		Root: c.Root, Args: c.Argv, Env: c.Env, Dir: c.Dir, UID: c.UID, GID: c.GID,
		Stdout: c.Stdout, Stderr: c.Stderr, Base: s.base(), Executable: s.Executable,
		Hostname: "buildpacks",
	})
}
