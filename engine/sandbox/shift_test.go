package sandbox

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestShift(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing owners needs root")
	}
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name             string
		uid, gid         int
		wantUID, wantGID int
		mode             uint32
		wantMode         uint32
	}{
		{"host root", 0, 0, 100000, 100000, 0o644, 0o644},
		{"host user", 1000, 50, 101000, 100050, 0o600, 0o600},
		{"already shifted", 100005, 100006, 100005, 100006, 0o644, 0o644},
		{"above the range", 200000, 200000, 200000, 200000, 0o644, 0o644},
		{"setuid kept", 0, 0, 100000, 100000, 0o4755, 0o4755},
	}
	for _, tc := range tests {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, tc.uid, tc.gid); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Chmod(p, tc.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := Shift(dir, DefaultBase); err != nil {
		t.Fatal(err)
	}
	stat := func(p string) *syscall.Stat_t {
		t.Helper()
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := stat(filepath.Join(dir, tc.name))
			if int(st.Uid) != tc.wantUID || int(st.Gid) != tc.wantGID || st.Mode&0o7777 != tc.wantMode {
				t.Errorf("owner %d:%d mode %o, want %d:%d mode %o", st.Uid, st.Gid, st.Mode&0o7777, tc.wantUID, tc.wantGID, tc.wantMode)
			}
		})
	}
	if st := stat(outside); st.Uid != 0 {
		t.Errorf("Shift followed a symbolic link out of the tree: %s is owned by %d", outside, st.Uid)
	}
	if st := stat(dir); st.Uid != DefaultBase {
		t.Errorf("the directory itself is owned by %d", st.Uid)
	}
}
