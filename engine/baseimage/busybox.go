package baseimage

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultBusybox is where Debian's busybox-static package installs its binary.
const DefaultBusybox = "/bin/busybox"

// ErrNoBusybox means the host has no usable static busybox binary.
var ErrNoBusybox = errors.New("no static busybox binary (install Debian's busybox-static package: apt-get install busybox-static)")

const (
	busyboxPasswd = "root:x:0:0:root:/root:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	busyboxGroup = "root:x:0:\nnobody:x:65534:\n"
)

// PushBusybox makes a busybox base image and pushes it to ref (a tag reference such as
// "127.0.0.1:5001/base/busybox:1"). The image is linux/amd64 with one layer: the static busybox
// binary at /bin/busybox, a symbolic link for each applet at the path busybox lists for it
// (/bin/sh, /usr/bin/id, ...), root and nobody in /etc/passwd and /etc/group, /root and /tmp.
// The same binary always gives the same digest.
func PushBusybox(ctx context.Context, ref string, opts Options) (Image, error) {
	entries, err := busyboxEntries(ctx, opts.BusyboxBinary)
	if err != nil {
		return Image{}, fmt.Errorf("busybox base image: %w", err)
	}
	layer, err := Layer(entries, epoch, types.OCILayer)
	if err != nil {
		return Image{}, fmt.Errorf("busybox base image: %w", err)
	}
	cfg := opts.Config.withDefaults(Config{Env: []string{DefaultPath}, Cmd: []string{"/bin/sh"}})
	img, err := NewImage(layer, "slipway baseimage busybox", cfg)
	if err != nil {
		return Image{}, fmt.Errorf("busybox base image: %w", err)
	}
	out, err := push(ctx, ref, img, opts)
	if err != nil {
		return Image{}, fmt.Errorf("busybox base image: %w", err)
	}
	return out, nil
}

// busyboxEntries reads the static busybox binary at bin (DefaultBusybox if empty) and lists the
// files of the busybox layer.
func busyboxEntries(ctx context.Context, bin string) ([]Entry, error) {
	if bin == "" {
		bin = DefaultBusybox
	}
	data, err := os.ReadFile(bin)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoBusybox, bin)
	}
	if err != nil {
		return nil, fmt.Errorf("read busybox binary: %w", err)
	}
	if err := checkStatic(data); err != nil {
		return nil, fmt.Errorf("%w: %s %v", ErrNoBusybox, bin, err)
	}
	list, err := exec.CommandContext(ctx, bin, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("list busybox applets (%s --list-full): %w", bin, err)
	}

	dirs := map[string]bool{"bin": true, "etc": true, "root": true, "tmp": true}
	var links []Entry
	for _, line := range strings.Split(string(list), "\n") {
		p := path.Clean(strings.TrimSpace(line))
		// linuxrc is an init for initramfs; an applet outside a directory is not for images.
		if p == "." || p == "bin/busybox" || !strings.Contains(p, "/") || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "..") {
			continue
		}
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
		links = append(links, Entry{Path: p, Link: "/bin/busybox", Mode: 0o777})
	}
	if len(links) == 0 {
		return nil, fmt.Errorf("%s --list-full listed no applets", bin)
	}

	var entries []Entry
	for d := range dirs {
		mode := int64(0o755)
		switch d {
		case "root":
			mode = 0o700
		case "tmp":
			mode = 0o1777
		}
		entries = append(entries, Entry{Path: d, Dir: true, Mode: mode})
	}
	entries = append(entries,
		Entry{Path: "bin/busybox", Mode: 0o755, Data: data},
		Entry{Path: "etc/group", Mode: 0o644, Data: []byte(busyboxGroup)},
		Entry{Path: "etc/passwd", Mode: 0o644, Data: []byte(busyboxPasswd)},
	)
	entries = append(entries, links...)
	// Sorted by path, a directory comes before everything in it.
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	return slices.CompactFunc(entries, func(a, b Entry) bool { return a.Path == b.Path }), nil
}

// checkStatic fails for a binary that is not a statically linked ELF executable: a dynamic one
// would not run in an image without its loader and libraries.
func checkStatic(data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("is not an ELF executable: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("is dynamically linked")
		}
	}
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("is for %s, not amd64", f.Machine)
	}
	return nil
}
