package cnb

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

type fakeIDs struct{}

func (fakeIDs) Run(context.Context, Command) (int, error) { return 0, nil }
func (fakeIDs) HostID(id int) int                         { return id + 7 }

func tarOf(t *testing.T, hs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		body := []byte{}
		if h.Typeflag == tar.TypeReg {
			body = []byte("data")
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestUntarStaysInside feeds archives that try to write outside the root; none may.
func TestUntarStaysInside(t *testing.T) {
	tests := []struct {
		name    string
		entries []*tar.Header
		wantErr bool
	}{
		{name: "dot-dot", entries: []*tar.Header{{Name: "../../escape", Typeflag: tar.TypeReg, Mode: 0o644}}},
		{name: "absolute", entries: []*tar.Header{{Name: "/escape", Typeflag: tar.TypeReg, Mode: 0o644}}},
		{name: "through symlink", wantErr: true, entries: []*tar.Header{
			{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "../outside"},
			{Name: "link/escape", Typeflag: tar.TypeReg, Mode: 0o644},
		}},
		{name: "through absolute symlink", wantErr: true, entries: []*tar.Header{
			{Name: "abs", Typeflag: tar.TypeSymlink, Linkname: "/"},
			{Name: "abs/escape", Typeflag: tar.TypeReg, Mode: 0o644},
		}},
		{name: "hard link out", wantErr: true, entries: []*tar.Header{
			{Name: "hl", Typeflag: tar.TypeLink, Linkname: "../outside/secret"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600); err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(base, "a", "root")
			err := untar(context.Background(), bytes.NewReader(tarOf(t, tc.entries...)), root, fakeIDs{})
			if tc.wantErr && err == nil {
				t.Error("no error")
			}
			for _, p := range []string{filepath.Join(base, "escape"), filepath.Join(base, "a", "escape"), filepath.Join(outside, "escape"), "/escape"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
		})
	}
}

func TestUntarOwnersAndModes(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	data := tarOf(t,
		&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777},
		&tar.Header{Name: "home/u/f", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 1000, Gid: 1001},
		&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "/bin/busybox"},
	)
	if err := untar(context.Background(), bytes.NewReader(data), root, fakeIDs{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("/tmp mode %s, want sticky 0777", fi.Mode())
	}
	uid, gid := ownerOf(t, filepath.Join(root, "home/u/f"))
	if uid != 1007 || gid != 1008 {
		t.Errorf("owner %d:%d, want the mapped 1007:1008", uid, gid)
	}
	if uid, _ := ownerOf(t, root); uid != 7 {
		t.Errorf("root directory owner %d, want the sandbox's root (7)", uid)
	}
	if target, err := os.Readlink(filepath.Join(root, "bin/sh")); err != nil || target != "/bin/busybox" {
		t.Errorf("bin/sh -> %q, %v", target, err)
	}
}

func ownerOf(t *testing.T, p string) (int, int) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}
