package main

// The few fields of API objects the checks read. Everything else in the answers is ignored.

type objectMeta struct {
	Name            string           `json:"name"`
	Namespace       string           `json:"namespace"`
	UID             string           `json:"uid"`
	OwnerReferences []ownerReference `json:"ownerReferences"`
}

type ownerReference struct {
	UID        string `json:"uid"`
	Controller bool   `json:"controller"`
}

type condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

type podObject struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		NodeName string `json:"nodeName"`
	} `json:"spec"`
	Status struct {
		Phase             string            `json:"phase"`
		Conditions        []condition       `json:"conditions"`
		ContainerStatuses []containerStatus `json:"containerStatuses"`
	} `json:"status"`
}

type containerStatus struct {
	Name  string `json:"name"`
	Ready bool   `json:"ready"`
}

type podList struct {
	Items []podObject `json:"items"`
}

// ready: running and its Ready condition true (what the kubelet reports once every readiness probe passes).
func (p *podObject) ready() bool {
	if p.Status.Phase != "Running" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

type labelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values"`
}

type labelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels"`
	MatchExpressions []labelSelectorRequirement `json:"matchExpressions"`
}

type daemonSetObject struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		Selector *labelSelector `json:"selector"`
	} `json:"spec"`
}

type jobObject struct {
	Metadata objectMeta `json:"metadata"`
	Status   struct {
		Active     int         `json:"active"`
		Succeeded  int         `json:"succeeded"`
		Failed     int         `json:"failed"`
		Conditions []condition `json:"conditions"`
	} `json:"status"`
}

type jobList struct {
	Items []jobObject `json:"items"`
}

type endpointSliceList struct {
	Items []struct {
		Endpoints []struct {
			Addresses  []string `json:"addresses"`
			Conditions struct {
				Ready *bool `json:"ready"`
			} `json:"conditions"`
		} `json:"endpoints"`
	} `json:"items"`
}

type apiResourceList struct {
	Resources []struct {
		Name       string `json:"name"`
		Namespaced bool   `json:"namespaced"`
		Kind       string `json:"kind"`
	} `json:"resources"`
}
