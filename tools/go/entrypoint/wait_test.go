package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// flaky is unmet for its first n checks.
type flaky struct {
	name   string
	n      int
	checks int
}

func (f *flaky) String() string { return f.name }

func (f *flaky) check(context.Context, *apiClient) error {
	f.checks++
	if f.checks <= f.n {
		return fmt.Errorf("not yet (%d)", f.checks)
	}
	return nil
}

type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func TestWaitForLogsEachUnmetDependency(t *testing.T) {
	a, b := &flaky{name: "A", n: 2}, &flaky{name: "B", n: 0}
	var r recorder
	if err := waitFor(context.Background(), []dependency{a, b}, nil, time.Millisecond, r.logf); err != nil {
		t.Fatal(err)
	}
	want := []string{"waiting for A: not yet (1)", "B: met", "waiting for A: not yet (2)", "A: met"}
	if strings.Join(r.lines, "|") != strings.Join(want, "|") {
		t.Fatalf("log\n got %q\nwant %q", r.lines, want)
	}
	if b.checks != 1 {
		t.Fatalf("a met dependency was checked %d times, want once", b.checks)
	}
}

func TestWaitForStopsWhenCancelled(t *testing.T) {
	never := &flaky{name: "never", n: 1 << 30}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	var r recorder
	err := waitFor(ctx, []dependency{never}, nil, time.Hour, r.logf)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("got %v after %v, want a prompt cancellation", err, time.Since(start))
	}
}
