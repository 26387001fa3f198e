package main

import (
	"context"
	"time"
)

const (
	pollInterval = 2 * time.Second
	// One slow answer must not hold up the others' polls for long, nor a SIGTERM (the context ends it anyway).
	checkTimeout = 10 * time.Second
)

// waitFor polls the dependencies not met yet, every interval, until all are met (nil) or ctx ends (its error).
// Every poll logs one line per dependency still unmet, with the reason; a met one is logged once and not
// checked again.
func waitFor(ctx context.Context, deps []dependency, api *apiClient, interval time.Duration,
	logf func(format string, args ...any)) error {
	pending := deps
	for {
		var still []dependency
		for _, d := range pending {
			checkCtx, cancel := context.WithTimeout(ctx, checkTimeout)
			err := d.check(checkCtx, api)
			cancel()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			switch {
			case err == nil:
				logf("%s: met", d)
			case isMet(err):
				logf("%s: met (%v)", d, err)
			default:
				logf("waiting for %s: %v", d, err)
				still = append(still, d)
			}
		}
		pending = still
		if len(pending) == 0 {
			return nil
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}
