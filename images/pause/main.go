// Command pause is the pod sandbox process of the mlsecrets test cluster: it holds the pod's
// namespaces open until the kubelet stops the sandbox (SIGTERM, or SIGINT by hand), and as
// PID 1 of a pod that shares its PID namespace it reaps the zombies that would otherwise
// accumulate there.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Buffered: signals that arrive while zombies are being reaped are not lost.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child: SIGCHLDs coalesce, so one signal may stand for many.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
