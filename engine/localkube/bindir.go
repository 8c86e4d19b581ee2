package localkube

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// BinDirEnv names the environment variable that points at the control-plane binaries.
const BinDirEnv = "SLIPWAY_K8S_BIN"

// ErrNoBinDir means BinDirEnv is unset.
var ErrNoBinDir = errors.New(BinDirEnv + " is not set: run `make k8sbin` (or `export " + BinDirEnv +
	"=$(hack/k8sbin/build.sh)`) to build etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok")

// BinDir returns the directory named by $SLIPWAY_K8S_BIN, or ErrNoBinDir. It does not check the
// contents; Start does, for the components it needs.
func BinDir() (string, error) {
	dir := os.Getenv(BinDirEnv)
	if dir == "" {
		return "", ErrNoBinDir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("%s: %w", BinDirEnv, err)
	}
	return abs, nil
}

// systemKubectl is linked into the envtest assets when present; envtest's kubectl helper uses it.
const systemKubectl = "/usr/bin/kubectl"

// EnvtestAssets returns a directory for KUBEBUILDER_ASSETS (or envtest.Environment's
// BinaryAssetsDirectory) holding kube-apiserver and etcd symlinks into binDir, plus kubectl when
// /usr/bin/kubectl exists. The directory lives in the user cache dir, keyed by binDir, and is
// safe to prepare from several test processes at once.
func EnvtestAssets(binDir string) (string, error) {
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		return "", fmt.Errorf("envtest assets: %w", err)
	}
	links := map[string]string{
		"kube-apiserver": filepath.Join(binDir, "kube-apiserver"),
		"etcd":           filepath.Join(binDir, "etcd"),
	}
	for _, target := range links {
		if _, err := os.Stat(target); err != nil {
			return "", fmt.Errorf("envtest assets (run `make k8sbin`): %w", err)
		}
	}
	if _, err := os.Stat(systemKubectl); err == nil {
		links["kubectl"] = systemKubectl
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	sum := sha256.Sum256([]byte(binDir))
	dir := filepath.Join(cache, "slipway", "envtest-assets", filepath.Base(binDir)+"-"+hex.EncodeToString(sum[:4]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("envtest assets: %w", err)
	}
	for name, target := range links {
		if err := symlinkAtomic(target, filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("envtest assets: %w", err)
		}
	}
	return dir, nil
}

// symlinkAtomic points link at target, replacing whatever link was there by rename so that a
// concurrent reader never sees it missing.
func symlinkAtomic(target, link string) error {
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(link), ".link-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Symlink(target, filepath.Join(tmp, "l")); err != nil {
		return err
	}
	return os.Rename(filepath.Join(tmp, "l"), link)
}
