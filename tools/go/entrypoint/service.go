package main

import (
	"context"
	"fmt"
	"net/url"
)

// serviceDependency is met when the Service has at least one ready endpoint. It reads the Service's
// EndpointSlices (the charts' Role grants list on endpointslices; core Endpoints are deprecated).
type serviceDependency struct {
	namespace, name string
}

func (d serviceDependency) String() string {
	return fmt.Sprintf("Service %s/%s", d.namespace, d.name)
}

func (d serviceDependency) check(ctx context.Context, api *apiClient) error {
	var slices endpointSliceList
	path := fmt.Sprintf("/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices", url.PathEscape(d.namespace))
	query := url.Values{"labelSelector": {"kubernetes.io/service-name=" + d.name}}
	if err := api.get(ctx, path, query, &slices); err != nil {
		return err
	}
	if len(slices.Items) == 0 {
		return fmt.Errorf("it has no EndpointSlice (no such Service, or one without a selector)")
	}
	notReady := 0
	for _, slice := range slices.Items {
		for _, ep := range slice.Endpoints {
			if len(ep.Addresses) == 0 {
				continue
			}
			// An unset ready condition means ready (the API's convention for a controller that does not know).
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				return nil
			}
			notReady++
		}
	}
	if notReady > 0 {
		return fmt.Errorf("none of its %d endpoints is ready", notReady)
	}
	return fmt.Errorf("it has no endpoints")
}
