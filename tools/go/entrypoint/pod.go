package main

import (
	"context"
	"fmt"
	"net/url"
)

// podDependency is met when a pod with the labels is running and ready: anywhere, or on this pod's node with
// requireSameNode.
type podDependency struct {
	namespace       string
	labels          map[string]string
	requireSameNode bool
	self            *self
}

func (d podDependency) String() string {
	where := ""
	if d.requireSameNode {
		where = " on this node"
	}
	return fmt.Sprintf("Pod in %s with labels %s%s", d.namespace, matchLabelsSelector(d.labels), where)
}

func (d podDependency) check(ctx context.Context, api *apiClient) error {
	node := ""
	if d.requireSameNode {
		var err error
		if node, err = d.self.nodeName(ctx, api); err != nil {
			return err
		}
	}
	var pods podList
	path := fmt.Sprintf("/api/v1/namespaces/%s/pods", url.PathEscape(d.namespace))
	if err := api.get(ctx, path, url.Values{"labelSelector": {matchLabelsSelector(d.labels)}}, &pods); err != nil {
		return err
	}
	candidates := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if node != "" && p.Spec.NodeName != node {
			continue
		}
		if p.ready() {
			return nil
		}
		candidates++
	}
	if candidates == 0 {
		if node != "" {
			return fmt.Errorf("no such pod on node %s", node)
		}
		return fmt.Errorf("no such pod")
	}
	return fmt.Errorf("%d such pods, none ready", candidates)
}
