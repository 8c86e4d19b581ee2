package cnb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

const (
	defaultBusybox = "/bin/busybox"
	hostCABundle   = "/etc/ssl/certs/ca-certificates.crt"
	caBundlePath   = "etc/ssl/certs/ca-certificates.crt"
	passwd         = "root:x:0:0:root:/root:/bin/sh\ncnb:x:1000:1000:cnb:/home/cnb:/bin/sh\n"
	group          = "root:x:0:\ncnb:x:1000:\n"
	hosts          = "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
)

// lifecyclePhases are the names the lifecycle binary answers to, linked to it in /cnb/lifecycle.
var lifecyclePhases = []string{"detector", "analyzer", "restorer", "builder", "exporter", "creator", "rebaser", "extender"}

// owner is who a path of the root belongs to inside the sandbox.
type owner int

const (
	ownerRoot owner = iota
	ownerBuild
)

// rootBuilder writes the build root and records who owns what, for one chown pass at the end.
type rootBuilder struct {
	dir    string
	owners map[string]owner
}

// prepareRoot makes the build root and returns the build user. From a builder directory: a
// busybox userland, then /cnb (lifecycle, buildpacks, order.toml, run.toml). From a builder
// image: the image's filesystem, and the lifecycle from opts.LifecycleDir only if given. Then,
// per build, the app copy and the layers and platform directories. Files belong to root inside
// the sandbox (or to their owners in the builder image) except the app, layers and home
// directories, which belong to the build user.
func prepareRoot(ctx context.Context, dir string, sb Sandbox, o Options) (builderUser, error) {
	b := &rootBuilder{dir: dir, owners: map[string]owner{}}
	user := builderUser{uid: BuildUID, gid: BuildGID}
	type step struct {
		what string
		fn   func() error
	}
	var steps []step
	if o.BuilderImage != "" {
		steps = append(steps, step{"builder image", func() error {
			var err error
			user, err = unpackBuilder(ctx, dir, o.BuilderImage, o.Insecure, sb)
			return err
		}})
		steps = append(steps, step{"scratch directory", b.tmp})
		if o.LifecycleDir != "" {
			steps = append(steps, step{"lifecycle", func() error { return b.lifecycle(o.LifecycleDir) }})
		}
		if o.RunImage != "" {
			steps = append(steps, step{"run image", func() error { return b.runTOML(o.RunImage) }})
		}
	} else {
		steps = append(steps,
			step{"busybox userland", func() error { return b.busybox(o.Busybox) }},
			step{"system files", b.etc},
			step{"lifecycle", func() error { return b.lifecycle(o.LifecycleDir) }},
			step{"builder", func() error { return b.builder(o.BuilderDir, o.RunImage) }},
		)
	}
	steps = append(steps,
		step{"app", func() error { return b.copyTree(o.AppDir, appPath, ownerBuild) }},
		step{"layers and platform", func() error { return b.platform(o.Env) }},
	)
	for _, s := range steps {
		if err := s.fn(); err != nil {
			return user, fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return user, b.chown(sb, user, o.BuilderImage == "")
}

func (b *rootBuilder) path(p string) string { return filepath.Join(b.dir, filepath.FromSlash(p)) }

func (b *rootBuilder) mkdir(p string, mode fs.FileMode, who owner) error {
	if err := os.MkdirAll(b.path(p), 0o755); err != nil {
		return err
	}
	b.owners[p] = who
	return os.Chmod(b.path(p), mode)
}

func (b *rootBuilder) write(p string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(b.path(p)), 0o755); err != nil {
		return err
	}
	return os.WriteFile(b.path(p), data, mode)
}

// busybox installs the static busybox binary and a link per applet, at the paths busybox
// itself lists.
func (b *rootBuilder) busybox(bin string) error {
	if bin == "" {
		bin = defaultBusybox
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("static busybox %s not found (Debian: apt-get install busybox-static): %w", bin, err)
	}
	out, err := exec.Command(bin, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("%s --list-full: %w", bin, err)
	}
	if err := copyFile(bin, b.path("/bin/busybox"), 0o755); err != nil {
		return err
	}
	for _, d := range []string{"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin"} {
		if err := b.mkdir(d, 0o755, ownerRoot); err != nil {
			return err
		}
	}
	for _, applet := range strings.Fields(string(out)) {
		p := "/" + strings.TrimPrefix(applet, "/")
		if p == "/bin/busybox" {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(b.path(p)), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/bin/busybox", b.path(p)); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// etc writes the users, hosts, CA bundle and the writable scratch and home directories.
func (b *rootBuilder) etc() error {
	for _, f := range []struct {
		p, data string
	}{{"/etc/passwd", passwd}, {"/etc/group", group}, {"/etc/hosts", hosts}} {
		if err := b.write(f.p, []byte(f.data), 0o644); err != nil {
			return err
		}
	}
	if resolv, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		if err := b.write("/etc/resolv.conf", resolv, 0o644); err != nil {
			return err
		}
	}
	ca, err := os.ReadFile(hostCABundle)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read CA bundle: %w", err)
	}
	if err := b.write("/"+caBundlePath, ca, 0o644); err != nil {
		return err
	}
	for _, d := range []struct {
		p    string
		mode fs.FileMode
		who  owner
	}{{"/tmp", 0o777 | fs.ModeSticky, ownerRoot}, {"/root", 0o700, ownerRoot}, {"/home", 0o755, ownerRoot},
		{homePath, 0o755, ownerBuild}, {"/proc", 0o555, ownerRoot}, {"/dev", 0o755, ownerRoot}} {
		if err := b.mkdir(d.p, d.mode, d.who); err != nil {
			return err
		}
	}
	return nil
}

// tmp makes /tmp writable by every user, as buildpacks expect, when a builder image lacks it.
func (b *rootBuilder) tmp() error {
	if _, err := os.Lstat(b.path("/tmp")); err == nil {
		return nil
	}
	return b.mkdir("/tmp", 0o777|fs.ModeSticky, ownerRoot)
}

// lifecycle installs the lifecycle and launcher binaries and the phase links to the lifecycle.
func (b *rootBuilder) lifecycle(dir string) error {
	b.owners[lifecyclePath] = ownerRoot
	for _, name := range []string{"lifecycle", "launcher"} {
		if err := copyFile(filepath.Join(dir, name), b.path(lifecyclePath+"/"+name), 0o755); err != nil {
			return fmt.Errorf("%w (build the lifecycle with hack/sctools/build.sh lifecycle)", err)
		}
	}
	for _, phase := range lifecyclePhases {
		_ = os.Remove(b.path(lifecyclePath + "/" + phase))
		if err := os.Symlink("lifecycle", b.path(lifecyclePath+"/"+phase)); err != nil {
			return err
		}
	}
	return nil
}

// builder copies the buildpacks and order.toml to /cnb and writes run.toml for runImage (or
// copies the builder's run.toml when runImage is empty).
func (b *rootBuilder) builder(dir, runImage string) error {
	if err := b.copyTree(filepath.Join(dir, "buildpacks"), "/cnb/buildpacks", ownerRoot); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(dir, "order.toml"), b.path("/cnb/order.toml"), 0o644); err != nil {
		return err
	}
	if runImage == "" {
		if err := copyFile(filepath.Join(dir, "run.toml"), b.path("/cnb/run.toml"), 0o644); err != nil {
			return fmt.Errorf("no run image given and the builder has no run.toml: %w", err)
		}
		return nil
	}
	return b.runTOML(runImage)
}

// runTOML writes /cnb/run.toml naming runImage.
func (b *rootBuilder) runTOML(runImage string) error {
	b.owners["/cnb/run.toml"] = ownerRoot
	return b.write("/cnb/run.toml", []byte(fmt.Sprintf("[[images]]\n  image = %q\n", runImage)), 0o644)
}

// platform makes the layers directory and the platform directory with one file per build-time
// environment variable.
func (b *rootBuilder) platform(env map[string]string) error {
	if err := b.mkdir(layersPath, 0o755, ownerBuild); err != nil {
		return err
	}
	b.owners[platformPath] = ownerRoot
	if err := b.mkdir(platformPath+"/env", 0o755, ownerRoot); err != nil {
		return err
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := b.write(platformPath+"/env/"+k, []byte(env[k]), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies the host directory src to p in the root, keeping modes and symlinks; who
// owns the copy.
func (b *rootBuilder) copyTree(src, p string, who owner) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", src)
	}
	b.owners[p] = who
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(b.path(p), rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case d.Type().IsRegular():
			return copyFile(path, dst, info.Mode().Perm())
		}
		return nil // sockets, devices and pipes have no place in a build root
	})
}

// chown gives the build user's trees to it and the other paths written here to the sandbox's
// root; with all, every other file of the root as well.
func (b *rootBuilder) chown(sb Sandbox, user builderUser, all bool) error {
	if all {
		if err := chownTree(b.dir, sb.HostID(0), sb.HostID(0)); err != nil {
			return err
		}
	}
	for p, who := range b.owners {
		uid, gid := sb.HostID(0), sb.HostID(0)
		if who == ownerBuild {
			uid, gid = sb.HostID(user.uid), sb.HostID(user.gid)
		}
		if err := chownTree(b.path(p), uid, gid); err != nil {
			return err
		}
	}
	return nil
}

func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}
