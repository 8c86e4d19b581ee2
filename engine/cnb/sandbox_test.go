package cnb_test

import (
	"os"
	"testing"

	"slipway.dev/slipway/engine/sandbox"
)

// TestMain hands the sandbox's re-executions of the test binary to the sandbox.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandbox.ExecCommand {
		os.Exit(sandbox.Child())
	}
	os.Exit(m.Run())
}
