package main

import (
	"context"
	"fmt"
)

// containerDependency is met when the container of this same pod is ready (a sidecar the main container needs).
type containerDependency struct {
	name string
	self *self
}

func (d containerDependency) String() string {
	return fmt.Sprintf("Container %s of this pod", d.name)
}

func (d containerDependency) check(ctx context.Context, api *apiClient) error {
	p, err := d.self.pod(ctx, api)
	if err != nil {
		return err
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == d.name {
			if c.Ready {
				return nil
			}
			return fmt.Errorf("it is not ready")
		}
	}
	return fmt.Errorf("it has no status (not started yet, or no such container)")
}
