package devenv

import (
	"log/slog"
	"testing"
)

func TestHostStepsWiring(t *testing.T) {
	for _, allow := range []bool{false, true} {
		h := hostSteps(Options{SlipwayBinary: "/opt/slipway", AllowHostSteps: allow, Logger: slog.New(slog.DiscardHandler)})
		if h.AllowHostSteps != allow {
			t.Errorf("AllowHostSteps = %v for Options.AllowHostSteps %v", h.AllowHostSteps, allow)
		}
		if h.Reaper != "/opt/slipway" || h.SlipwayBinary != "/opt/slipway" {
			t.Errorf("steps run as %q, reaped by %q, want both the slipway binary", h.SlipwayBinary, h.Reaper)
		}
	}
}
