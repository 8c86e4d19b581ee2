package sandbox

import (
	"context"
	"errors"
	"os/exec"
	"testing"
)

func TestExitStatus(t *testing.T) {
	run := func(script string) error { return exec.Command("/bin/sh", "-c", script).Run() }
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		ctx      context.Context
		err      error
		wantCode int
		wantOK   bool
	}{
		{"no error", context.Background(), nil, 0, true},
		{"exit code", context.Background(), run("exit 3"), 3, true},
		{"signal", context.Background(), run("kill -TERM $$"), 128 + 15, true},
		{"cancelled", cancelled, errors.New("wait: i/o"), 137, true},
		{"other error", context.Background(), errors.New("wait: i/o"), 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ok := ExitStatus(tt.ctx, tt.err)
			if code != tt.wantCode || ok != tt.wantOK {
				t.Errorf("ExitStatus(%v) = %d, %v; want %d, %v", tt.err, code, ok, tt.wantCode, tt.wantOK)
			}
		})
	}
}
