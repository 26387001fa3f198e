package main

import (
	"context"
	"fmt"
	"os"
	"syscall"
)

// socketDependency is met when the path exists and this process may read it (a socket another container of the
// pod, or the host, creates). It needs no API access.
type socketDependency struct {
	path string
}

func (d socketDependency) String() string {
	return "Socket " + d.path
}

func (d socketDependency) check(_ context.Context, _ *apiClient) error {
	if _, err := os.Stat(d.path); err != nil {
		return fmt.Errorf("it does not exist yet")
	}
	const readOK = 4 // R_OK of access(2)
	if err := syscall.Access(d.path, readOK); err != nil {
		return fmt.Errorf("it exists but is not readable: %v", err)
	}
	return nil
}
