package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The process tests run the program as a pod would: a separate process with only the environment the kubelet
// gives it. By default that is this test binary re-executed into main(); ENTRYPOINT_TEST_BINARY=<path> runs a
// built kubernetes-entrypoint instead (tools/build-entrypoint-image.sh's output), the same way.
func TestMain(m *testing.M) {
	if os.Getenv("ENTRYPOINT_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func entrypointCommand(t *testing.T, env map[string]string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	binary := os.Getenv("ENTRYPOINT_TEST_BINARY")
	vars := []string{"PATH=" + os.Getenv("PATH")}
	if binary == "" {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		binary = exe
		vars = append(vars, "ENTRYPOINT_TEST_RUN_MAIN=1")
	}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	cmd := exec.Command(binary)
	cmd.Env = vars
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatal(err)
	}
	return exitErr.ExitCode()
}

// The snippet's environment for a pod waiting on a Service and a Job: it logs the unmet one, waits, then runs
// COMMAND in its place once both are met.
func TestProcessWaitsThenRunsCommand(t *testing.T) {
	f := newFakeAPI(t)
	slices := slicesPath + "?labelSelector=kubernetes.io/service-name=mariadb"
	f.set(slices, `{"items": [{"endpoints": [{"addresses": ["10.0.0.5"], "conditions": {"ready": false}}]}]}`)
	f.set("/apis/batch/v1/namespaces/openstack/jobs/keystone-db-sync", `{"status": {"succeeded": 1}}`)
	cmd, stdout, stderr := entrypointCommand(t, joinEnv(f.env(), map[string]string{
		"NAMESPACE": "openstack", "POD_NAME": "keystone-api-0", "INTERFACE_NAME": "eth0",
		"DEPENDENCY_SERVICE": "mariadb", "DEPENDENCY_JOBS": "keystone-db-sync", "DEPENDENCY_DAEMONSET": "",
		"DEPENDENCY_CONTAINER": "", "DEPENDENCY_POD_JSON": "", "DEPENDENCY_CUSTOM_RESOURCE": "",
		"COMMAND": "echo all   dependencies met",
	}))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.waitRequested(slices, 5*time.Second)
	time.Sleep(100 * time.Millisecond) // let it log the first round
	f.set(slices, `{"items": [{"endpoints": [{"addresses": ["10.0.0.5"], "conditions": {"ready": true}}]}]}`)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if code := exitCode(t, err); code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("still waiting after 15 s\n%s", stderr)
	}
	log := stderr.String()
	t.Logf("its log (go test -v shows it):\n%s", log)
	for _, want := range []string{
		"waiting for Service openstack/mariadb: none of its 1 endpoints is ready",
		"Job openstack/keystone-db-sync: met",
		"Service openstack/mariadb: met",
		"every dependency is met; running /",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, fakeToken) {
		t.Errorf("the log shows the token:\n%s", log)
	}
	if stdout.String() != "all dependencies met\n" {
		t.Errorf("COMMAND's output %q", stdout.String())
	}
}

// No COMMAND (the charts' init container): exit 0 once met; nothing to wait for needs no API at all.
func TestProcessWithoutCommandExitsZero(t *testing.T) {
	cmd, _, stderr := entrypointCommand(t, map[string]string{"DEPENDENCY_SERVICE": "", "DEPENDENCY_JOBS": ""})
	if code := exitCode(t, cmd.Run()); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "no COMMAND, exiting") {
		t.Fatalf("log:\n%s", stderr)
	}
}

func TestProcessRefusesMalformedEnvironment(t *testing.T) {
	cmd, _, stderr := entrypointCommand(t, map[string]string{"DEPENDENCY_JOBS_JSON": `[{"name": 3}]`})
	if code := exitCode(t, cmd.Run()); code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "invalid environment: DEPENDENCY_JOBS_JSON: not a JSON list") {
		t.Fatalf("log:\n%s", stderr)
	}
}

func TestProcessWithoutServiceAccountFails(t *testing.T) {
	cmd, _, stderr := entrypointCommand(t, map[string]string{"DEPENDENCY_SERVICE": "mariadb"})
	if code := exitCode(t, cmd.Run()); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set") {
		t.Fatalf("log:\n%s", stderr)
	}
}

// A pod deleted while its init container waits: SIGTERM ends the wait at once (it is PID 1 in the container,
// where an unhandled SIGTERM does nothing).
func TestProcessStopsOnSIGTERM(t *testing.T) {
	f := newFakeAPI(t)
	cmd, _, stderr := entrypointCommand(t, joinEnv(f.env(), map[string]string{
		"NAMESPACE": "openstack", "DEPENDENCY_JOBS": "never-created", "COMMAND": "echo must-not-run",
	}))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.waitRequested("/apis/batch/v1/namespaces/openstack/jobs/never-created", 5*time.Second)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := exitCode(t, cmd.Wait())
	if code != 128+int(syscall.SIGTERM) || time.Since(start) > time.Second {
		t.Fatalf("exit %d after %v, want 143 within a second\n%s", code, time.Since(start), stderr)
	}
	if !strings.Contains(stderr.String(), "waiting for Job openstack/never-created: it does not exist") ||
		!strings.Contains(stderr.String(), "stopped by terminated") {
		t.Fatalf("log:\n%s", stderr)
	}
}
