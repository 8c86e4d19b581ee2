package baseimage

import (
	"archive/tar"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// startRegistry serves an in-memory registry and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// requireBusybox returns the static busybox binary, installing Debian's package if it is missing.
func requireBusybox(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(DefaultBusybox); err == nil {
		return DefaultBusybox
	}
	out, err := exec.CommandContext(t.Context(), "apt-get", "install", "-y", "busybox-static").CombinedOutput()
	if err != nil {
		t.Skipf("%s is missing and busybox-static could not be installed: %v\n%s", DefaultBusybox, err, out)
	}
	return DefaultBusybox
}

// pull fetches an image by reference and returns it with the files of its only layer.
func pull(t *testing.T, ref string) (v1.Image, map[string]*tar.Header, map[string]string) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want exactly one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	hdrs, small := map[string]*tar.Header{}, map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs[h.Name] = h
		if h.Size < 4096 {
			b, _ := io.ReadAll(tr)
			small[h.Name] = string(b)
		}
	}
	return img, hdrs, small
}

func TestPushBusybox(t *testing.T) {
	bin := requireBusybox(t)
	reg := startRegistry(t)
	ref := reg + "/base/busybox:1"
	got, err := PushBusybox(t.Context(), ref, Options{Insecure: true, BusyboxBinary: bin})
	if err != nil {
		t.Fatal(err)
	}
	if got.Ref != reg+"/base/busybox@"+got.Digest || !strings.HasPrefix(got.Digest, "sha256:") {
		t.Fatalf("image = %+v, want %s/base/busybox@sha256:...", got, reg)
	}
	img, hdrs, files := pull(t, got.Ref)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform = %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if strings.Join(cf.Config.Cmd, " ") != "/bin/sh" || len(cf.Config.Env) != 1 || cf.Config.Env[0] != DefaultPath {
		t.Errorf("config = %+v", cf.Config)
	}
	for name, want := range map[string]string{"bin/sh": "/bin/busybox", "usr/bin/id": "/bin/busybox", "bin/ls": "/bin/busybox"} {
		if h := hdrs[name]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != want {
			t.Errorf("%s = %+v, want a link to %s", name, h, want)
		}
	}
	if h := hdrs["bin/busybox"]; h == nil || h.Mode != 0o755 || h.Typeflag != tar.TypeReg {
		t.Errorf("bin/busybox = %+v", h)
	}
	if h := hdrs["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp = %+v, want mode 1777", h)
	}
	if !strings.HasPrefix(files["etc/passwd"], "root:x:0:0:") || !strings.HasPrefix(files["etc/group"], "root:x:0:") {
		t.Errorf("passwd = %q, group = %q", files["etc/passwd"], files["etc/group"])
	}
	if _, ok := hdrs["linuxrc"]; ok {
		t.Error("linuxrc is in the image")
	}

	again, err := PushBusybox(t.Context(), reg+"/other/busybox:2", Options{Insecure: true, BusyboxBinary: bin})
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != got.Digest {
		t.Errorf("second push has digest %s, first %s: not reproducible", again.Digest, got.Digest)
	}
	// The tag points at the same digest.
	tagged, _, _ := pull(t, ref)
	if d, _ := tagged.Digest(); d.String() != got.Digest {
		t.Errorf("tag %s = %s, want %s", ref, d, got.Digest)
	}
}

func TestPushBusyboxBadBinary(t *testing.T) {
	reg := startRegistry(t)
	dynamic, err := exec.LookPath("ls")
	if err != nil {
		t.Skip("no ls on PATH")
	}
	notELF := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, bin, want string }{
		{"missing", filepath.Join(t.TempDir(), "nope"), "does not exist"},
		{"dynamic", dynamic, "dynamically linked"},
		{"not ELF", notELF, "not an ELF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PushBusybox(t.Context(), reg+"/base/busybox:1", Options{Insecure: true, BusyboxBinary: tc.bin})
			if !errors.Is(err, ErrNoBusybox) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.bin) {
				t.Fatalf("err = %v, want ErrNoBusybox naming %s and %q", err, tc.bin, tc.want)
			}
		})
	}
}

func TestPushRootfs(t *testing.T) {
	reg := startRegistry(t)
	root := t.TempDir()
	mk := func(p string, mode os.FileMode, data string) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Chmod(full, uint32(mode)); err != nil {
			t.Fatal(err)
		}
	}
	mk("etc/os-release", 0o644, "ID=test\n")
	mk("usr/bin/su", 0o4755, "suid")
	mk("dev/null-ish", 0o644, "device placeholder")
	mk("proc/cpuinfo", 0o644, "x")
	if err := os.Mkdir(filepath.Join(root, "sys"), 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "etc/os-release"), filepath.Join(root, "etc/os-release.hard")); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(filepath.Join(root, "etc/os-release"), 42, 43); err != nil {
			t.Fatal(err)
		}
	}

	got, err := PushRootfs(t.Context(), reg+"/base/tree:1", root, Options{Insecure: true, Config: Config{Cmd: []string{"/bin/sh"}}})
	if err != nil {
		t.Fatal(err)
	}
	img, hdrs, files := pull(t, got.Ref)
	cf, _ := img.ConfigFile()
	if cf.OS != "linux" || cf.Architecture != "amd64" || cf.Config.Env[0] != DefaultPath || cf.Config.Cmd[0] != "/bin/sh" {
		t.Errorf("config = %s/%s %+v", cf.OS, cf.Architecture, cf.Config)
	}
	if files["etc/os-release"] != "ID=test\n" {
		t.Errorf("etc/os-release = %q", files["etc/os-release"])
	}
	if h := hdrs["etc/os-release.hard"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "etc/os-release" {
		t.Errorf("hard link = %+v", h)
	}
	if h := hdrs["bin"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "usr/bin" {
		t.Errorf("bin = %+v", h)
	}
	if h := hdrs["usr/bin/su"]; h == nil || h.Mode != 0o4755 {
		t.Errorf("su = %+v, want mode 4755", h)
	}
	if os.Geteuid() == 0 {
		if h := hdrs["etc/os-release"]; h.Uid != 42 || h.Gid != 43 {
			t.Errorf("owner = %d:%d, want 42:43", h.Uid, h.Gid)
		}
	}
	for _, p := range []string{"dev/", "proc/", "sys/"} {
		if hdrs[p] == nil {
			t.Errorf("%s missing", p)
		}
	}
	for _, p := range []string{"dev/null-ish", "proc/cpuinfo"} {
		if hdrs[p] != nil {
			t.Errorf("%s is in the image", p)
		}
	}
	for _, h := range hdrs {
		if !h.ModTime.Equal(epoch) {
			t.Errorf("%s has mtime %s, want the epoch", h.Name, h.ModTime)
		}
	}

	if _, err := PushRootfs(t.Context(), reg+"/base/tree:1", filepath.Join(root, "nope"), Options{Insecure: true}); err == nil || !strings.Contains(err.Error(), "nope is not a directory") {
		t.Errorf("missing dir: err = %v", err)
	}
}
