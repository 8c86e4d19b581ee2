package main

import (
	"strings"
	"testing"
)

func TestDevAllowHostSteps(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		wantErr     string
		wantWarning bool
	}{
		{"off by default", nil, "SLIPWAY_K8S_BIN", false},
		{"on, with a warning", []string{"--allow-host-steps"}, "SLIPWAY_K8S_BIN", true},
		{"explicitly off", []string{"--allow-host-steps=false"}, "SLIPWAY_K8S_BIN", false},
		{"not a bool", []string{"--allow-host-steps=maybe"}, `invalid argument "maybe" for "--allow-host-steps" flag`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Without control plane binaries slipway dev stops right after checking its flags.
			t.Setenv("SLIPWAY_K8S_BIN", "")
			t.Setenv("SLIPWAY_SCTOOLS", "")
			t.Setenv("SLIPWAY_TRIVY_DB", "")
			out, err := run(append([]string{"dev", "--dir", t.TempDir()}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if warned := strings.Contains(out, "WARNING: --allow-host-steps is on"); warned != tt.wantWarning {
				t.Errorf("warning printed = %v, want %v; output:\n%s", warned, tt.wantWarning, out)
			}
		})
	}
}
