package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
)

// dependency is one thing the pod waits for. check returns nil once it is met, else why not (logged as is, so
// it names objects and states, never a credential).
type dependency interface {
	String() string
	check(ctx context.Context, api *apiClient) error
}

// metAnyway is returned by a check that is met in a way worth logging.
type metAnyway struct{ why string }

func (m metAnyway) Error() string { return m.why }

func isMet(err error) bool {
	var m metAnyway
	return err == nil || errors.As(err, &m)
}

// self is the pod running this init container (POD_NAME in NAMESPACE, from the downward API): container
// dependencies read its status, daemonset and same-node pod dependencies its node.
type self struct {
	namespace string
	name      string

	mu   sync.Mutex
	node string // cached: a pod never moves
}

func (s *self) path() string {
	return fmt.Sprintf("/api/v1/namespaces/%s/pods/%s", url.PathEscape(s.namespace), url.PathEscape(s.name))
}

func (s *self) pod(ctx context.Context, api *apiClient) (*podObject, error) {
	var p podObject
	if err := api.get(ctx, s.path(), nil, &p); err != nil {
		return nil, fmt.Errorf("reading this pod %s/%s: %w", s.namespace, s.name, err)
	}
	return &p, nil
}

func (s *self) nodeName(ctx context.Context, api *apiClient) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.node != "" {
		return s.node, nil
	}
	p, err := s.pod(ctx, api)
	if err != nil {
		return "", err
	}
	if p.Spec.NodeName == "" {
		return "", fmt.Errorf("this pod %s/%s is not on a node yet", s.namespace, s.name)
	}
	s.node = p.Spec.NodeName
	return s.node, nil
}
