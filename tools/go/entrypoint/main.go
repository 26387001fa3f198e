// Command kubernetes-entrypoint waits until the Kubernetes objects a pod depends on are ready, then runs COMMAND
// in its place, or exits 0 when there is none (the charts' `init` container). It reimplements the environment
// contract of airshipit/kubernetes-entrypoint (see env.go) with the standard library alone, reading the API as
// the pod's service account with the get and list rights helm-toolkit's Role gives it.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

func main() {
	logger := log.New(os.Stderr, "", log.LstdFlags|log.LUTC)
	os.Exit(run(os.Getenv, logger))
}

// run waits and then execs the command; it returns only with the exit status of a failure, a stop or no command.
func run(getenv func(string) string, logger *log.Logger) int {
	s, err := parseEnv(getenv)
	if err != nil {
		logger.Printf("invalid environment: %v", err)
		return 2
	}
	for _, w := range s.warnings {
		logger.Print(w)
	}

	// As PID 1 of its container it gets no default SIGTERM handling: without this the kubelet would wait out
	// the grace period of a pod deleted while it waits.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(stop)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var caught os.Signal
	stopped := make(chan struct{})
	go func() {
		select {
		case caught = <-stop:
			cancel()
		case <-ctx.Done():
		}
		close(stopped)
	}()

	var api *apiClient
	if s.needsAPI {
		saDir := getenv("ENTRYPOINT_SERVICEACCOUNT_DIR") // only to run it outside a pod (tests)
		if saDir == "" {
			saDir = defaultServiceAccountDir
		}
		if api, err = inClusterClient(getenv, saDir); err != nil {
			logger.Printf("cannot reach the Kubernetes API: %v", err)
			return 1
		}
	}
	if len(s.deps) == 0 {
		logger.Print("no dependencies")
	}
	if err := waitFor(ctx, s.deps, api, pollInterval, logger.Printf); err != nil {
		cancel()
		<-stopped
		if sig, ok := caught.(syscall.Signal); ok {
			logger.Printf("stopped by %v before every dependency was met", sig)
			return 128 + int(sig)
		}
		logger.Printf("stopped: %v", err)
		return 1
	}
	cancel()
	<-stopped
	if sig, ok := caught.(syscall.Signal); ok { // arrived as the last check passed: still a stop
		logger.Printf("stopped by %v", sig)
		return 128 + int(sig)
	}

	if len(s.command) == 0 {
		logger.Print("every dependency is met; no COMMAND, exiting")
		return 0
	}
	path, err := exec.LookPath(s.command[0])
	if err != nil {
		logger.Printf("COMMAND: %v", err)
		return 127
	}
	logger.Printf("every dependency is met; running %s", path)
	signal.Reset(syscall.SIGTERM, syscall.SIGINT)
	err = syscall.Exec(path, s.command, os.Environ())
	logger.Printf("COMMAND: %v", fmt.Errorf("exec %s: %w", path, err))
	return 126
}
