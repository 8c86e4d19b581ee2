package sandbox

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Shift moves the owners of every file under dir into the sandbox's id range: a file owned by
// host uid u < Size becomes owned by base+u (likewise for gids), so host root's files belong to
// the sandbox's root. Ids already in the range, or above it, are left alone. Symbolic links are
// not followed.
func Shift(dir string, base int) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		uid, gid := shifted(int(st.Uid), base), shifted(int(st.Gid), base)
		if uid == int(st.Uid) && gid == int(st.Gid) {
			return nil
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
		// chown clears set-id bits; put them back.
		if m := fi.Mode(); m&(fs.ModeSetuid|fs.ModeSetgid) != 0 && m&fs.ModeSymlink == 0 {
			return os.Chmod(p, m)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("shift owners under %s into %d-%d: %w", dir, base, base+Size-1, err)
	}
	return nil
}

func shifted(id, base int) int {
	if id < Size && base > 0 {
		return base + id
	}
	return id
}
