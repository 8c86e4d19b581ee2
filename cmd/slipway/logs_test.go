package main

import (
	"os"
	"os/exec"
	"testing"
)

func TestProcessAlive(t *testing.T) {
	if !processAlive(os.Getpid()) {
		t.Error("this process is reported gone")
	}
	ended := exec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	if processAlive(ended.Process.Pid) {
		t.Errorf("pid %d of a process that exited is reported alive", ended.Process.Pid)
	}
	// A zombie has exited though its pid still exists.
	zombie := exec.Command("true")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	defer zombie.Wait()
	for i := 0; processAlive(zombie.Process.Pid); i++ {
		if i > 1000 {
			t.Fatalf("pid %d of an exited, unreaped process is reported alive", zombie.Process.Pid)
		}
		exec.Command("true").Run() // let it exit
	}
}
