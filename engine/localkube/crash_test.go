package localkube

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const helperDirEnv = "LOCALKUBE_TEST_HELPER_STATE_DIR"

// TestHelperStartAndHang is not a test: TestComponentsDieWithTheirParent runs the test binary
// with helperDirEnv set, and this function then starts a cluster and waits to be killed.
func TestHelperStartAndHang(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("helper process for TestComponentsDieWithTheirParent")
	}
	if _, err := Start(t.Context(), Options{BinDir: testBinDir(t), StateDir: dir, NoFsync: true}); err != nil {
		os.Stdout.WriteString("error: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("ready\n")
	select {} // until SIGKILL
}

// TestComponentsDieWithTheirParent SIGKILLs a process that started a cluster, so that it never
// calls Stop, and checks that the components die with it (Pdeathsig), that the state-dir lock is
// released, and that the next Start on the same directory resumes.
func TestComponentsDieWithTheirParent(t *testing.T) {
	bin := testBinDir(t)
	dir := t.TempDir()
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperStartAndHang$", "-test.count=1")
	helper.Env = append(os.Environ(), helperDirEnv+"="+dir)
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { helper.Process.Kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("helper: %q, %v; logs in %s", line, err, filepath.Join(dir, "logs"))
	}

	var recs []pidRecord
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, "run", "pids.json")), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("pid records = %+v, want etcd and kube-apiserver", recs)
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	helper.Wait()

	deadline := time.Now().Add(10 * time.Second)
	for _, rec := range recs {
		for {
			ours, err := rec.matches()
			if err != nil {
				t.Fatal(err)
			}
			if !ours {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s (pid %d) outlived its parent", rec.Component, rec.PID)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	c, err := Start(t.Context(), Options{BinDir: bin, StateDir: dir, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
}
