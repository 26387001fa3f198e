package main

import (
	"context"
	"fmt"
	"net/url"
)

// daemonSetDependency is met when the DaemonSet's pod on this pod's node is running and ready. A DaemonSet with
// no pod on this node is met too, as upstream's: one whose node selector leaves this node out would otherwise
// block the pod for ever.
type daemonSetDependency struct {
	namespace, name string
	self            *self
}

func (d daemonSetDependency) String() string {
	return fmt.Sprintf("DaemonSet %s/%s", d.namespace, d.name)
}

func (d daemonSetDependency) check(ctx context.Context, api *apiClient) error {
	var ds daemonSetObject
	ns := url.PathEscape(d.namespace)
	if err := api.get(ctx, fmt.Sprintf("/apis/apps/v1/namespaces/%s/daemonsets/%s", ns, url.PathEscape(d.name)),
		nil, &ds); err != nil {
		if isNotFound(err) {
			return fmt.Errorf("it does not exist")
		}
		return err
	}
	selector, err := selectorString(ds.Spec.Selector)
	if err != nil {
		return err
	}
	node, err := d.self.nodeName(ctx, api)
	if err != nil {
		return err
	}
	var pods podList
	if err := api.get(ctx, fmt.Sprintf("/api/v1/namespaces/%s/pods", ns), url.Values{"labelSelector": {selector}},
		&pods); err != nil {
		return err
	}
	var notReady []string
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName != node || !ownedBy(p, ds.Metadata.UID) {
			continue
		}
		if p.ready() {
			return nil
		}
		notReady = append(notReady, p.Metadata.Name)
	}
	if len(notReady) > 0 {
		return fmt.Errorf("its pod on node %s is not ready: %v", node, notReady)
	}
	return metAnyway{fmt.Sprintf("it has no pod on node %s, nothing to wait for", node)}
}

// ownedBy: the pod's controller is the object with this uid (a selector may match pods of others too). Pods
// without owner references pass, so that a pod the API returns without them still counts.
func ownedBy(p *podObject, uid string) bool {
	if uid == "" || len(p.Metadata.OwnerReferences) == 0 {
		return true
	}
	for _, ref := range p.Metadata.OwnerReferences {
		if ref.Controller && ref.UID == uid {
			return true
		}
	}
	return false
}
