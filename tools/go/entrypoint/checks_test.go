package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const slicesPath = "/apis/discovery.k8s.io/v1/namespaces/openstack/endpointslices"

func TestService(t *testing.T) {
	f := newFakeAPI(t)
	api := f.client()
	d := serviceDependency{namespace: "openstack", name: "mariadb"}
	key := slicesPath + "?labelSelector=kubernetes.io/service-name=mariadb"
	ctx := context.Background()

	f.set(key, list())
	mustContain(t, d.check(ctx, api), "no EndpointSlice")

	f.set(key, `{"items": [{"endpoints": []}]}`)
	mustContain(t, d.check(ctx, api), "has no endpoints")

	f.set(key, `{"items": [{"endpoints": [{"addresses": ["10.0.0.5"], "conditions": {"ready": false}}]}]}`)
	mustContain(t, d.check(ctx, api), "none of its 1 endpoints is ready")

	f.set(key, `{"items": [{"endpoints": [{"addresses": ["10.0.0.5"], "conditions": {"ready": false}}]},
	                       {"endpoints": [{"addresses": ["10.0.0.6"], "conditions": {"ready": true}}]}]}`)
	if err := d.check(ctx, api); err != nil {
		t.Fatalf("a ready endpoint in the second slice: %v", err)
	}

	// No ready condition at all counts as ready (the API's convention).
	f.set(key, `{"items": [{"endpoints": [{"addresses": ["10.0.0.5"], "conditions": {}}]}]}`)
	if err := d.check(ctx, api); err != nil {
		t.Fatalf("unknown readiness: %v", err)
	}

	f.fail(key, 403, `endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:openstack:x" cannot list`)
	mustContain(t, d.check(ctx, api), "403: endpointslices.discovery.k8s.io is forbidden")
}

func TestJobByName(t *testing.T) {
	f := newFakeAPI(t)
	api := f.client()
	ctx := context.Background()
	d := jobDependency{namespace: "openstack", name: "keystone-db-sync"}
	key := "/apis/batch/v1/namespaces/openstack/jobs/keystone-db-sync"

	mustContain(t, d.check(ctx, api), "does not exist")

	f.set(key, `{"metadata": {"name": "keystone-db-sync"}, "status": {"active": 1}}`)
	mustContain(t, d.check(ctx, api), "not succeeded yet (1 active, 0 failed pods)")

	f.set(key, `{"status": {"failed": 6, "conditions": [{"type": "Failed", "status": "True",
	             "message": "Job has reached the specified backoff limit"}]}}`)
	mustContain(t, d.check(ctx, api), "it failed: Job has reached the specified backoff limit")

	f.set(key, `{"status": {"succeeded": 1, "failed": 2}}`)
	if err := d.check(ctx, api); err != nil {
		t.Fatalf("succeeded job: %v", err)
	}
}

func TestJobByLabels(t *testing.T) {
	f := newFakeAPI(t)
	api := f.client()
	ctx := context.Background()
	d := jobDependency{namespace: "openstack", labels: map[string]string{"initializes": "neutron", "app": "x"}}
	key := "/apis/batch/v1/namespaces/openstack/jobs?labelSelector=app=x,initializes=neutron"

	mustContain(t, d.check(ctx, api), "404") // the fake has no such list at all
	f.set(key, list())
	mustContain(t, d.check(ctx, api), "no job has these labels")

	f.set(key, `{"items": [{"metadata": {"name": "a"}, "status": {"succeeded": 1}},
	                       {"metadata": {"name": "b"}, "status": {"active": 1}}]}`)
	mustContain(t, d.check(ctx, api), "job b: not succeeded yet")

	f.set(key, `{"items": [{"metadata": {"name": "a"}, "status": {"succeeded": 1}},
	                       {"metadata": {"name": "b"}, "status": {"succeeded": 1}}]}`)
	if err := d.check(ctx, api); err != nil {
		t.Fatalf("all succeeded: %v", err)
	}
}

func TestDaemonSet(t *testing.T) {
	f := newFakeAPI(t)
	api := f.client()
	ctx := context.Background()
	me := &self{namespace: "openstack", name: "nova-compute-x"}
	d := daemonSetDependency{namespace: "openstack", name: "ovs", self: me}
	dsKey := "/apis/apps/v1/namespaces/openstack/daemonsets/ovs"
	podsKey := "/api/v1/namespaces/openstack/pods?labelSelector=app=ovs,tier notin (test,x)"

	mustContain(t, d.check(ctx, api), "does not exist")

	f.set(dsKey, `{"metadata": {"uid": "ds-uid"}, "spec": {"selector": {"matchLabels": {"app": "ovs"},
	   "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x", "test"]}]}}}`)
	mustContain(t, d.check(ctx, api), "reading this pod openstack/nova-compute-x")

	f.set(me.path(), podJSON("nova-compute-x", "node-a", false, ""))
	f.set(podsKey, list(
		podJSON("ovs-1", "node-b", true, "ds-uid"),
		podJSON("ovs-2", "node-a", false, "ds-uid"),
		podJSON("intruder", "node-a", true, "other-uid"), // same labels, another owner: not the daemonset's
	))
	mustContain(t, d.check(ctx, api), "its pod on node node-a is not ready: [ovs-2]")

	f.set(podsKey, list(podJSON("ovs-1", "node-b", true, "ds-uid"), podJSON("ovs-2", "node-a", true, "ds-uid")))
	if err := d.check(ctx, api); err != nil {
		t.Fatalf("ready pod on this node: %v", err)
	}

	// None on this node: met, as upstream's, but said so.
	f.set(podsKey, list(podJSON("ovs-1", "node-b", false, "ds-uid")))
	err := d.check(ctx, api)
	if !isMet(err) || err == nil {
		t.Fatalf("no pod on this node: %v, want met with a note", err)
	}
	mustContain(t, err, "no pod on node node-a")
}

func TestPod(t *testing.T) {
	f := newFakeAPI(t)
	api := f.client()
	ctx := context.Background()
	me := &self{namespace: "openstack", name: "me"}
	f.set(me.path(), podJSON("me", "node-a", false, ""))
	key := "/api/v1/namespaces/infra/pods?labelSelector=application=mariadb"
	anywhere := podDependency{namespace: "infra", labels: map[string]string{"application": "mariadb"}, self: me}
	sameNode := anywhere
	sameNode.requireSameNode = true

	f.set(key, list())
	mustContain(t, anywhere.check(ctx, api), "no such pod")

	f.set(key, list(podJSON("db-0", "node-b", true, "")))
	if err := anywhere.check(ctx, api); err != nil {
		t.Fatalf("ready pod anywhere: %v", err)
	}
	mustContain(t, sameNode.check(ctx, api), "no such pod on node node-a")

	f.set(key, list(podJSON("db-0", "node-b", true, ""), podJSON("db-1", "node-a", false, "")))
	mustContain(t, sameNode.check(ctx, api), "1 such pods, none ready")

	f.set(key, list(podJSON("db-1", "node-a", true, "")))
	if err := sameNode.check(ctx, api); err != nil {
		t.Fatalf("ready pod on this node: %v", err)
	}
}

func TestContainer(t *testing.T) {
	f := newFakeAPI(t)
	api := f.client()
	ctx := context.Background()
	me := &self{namespace: "openstack", name: "me"}
	d := containerDependency{name: "libvirt", self: me}

	mustContain(t, d.check(ctx, api), "reading this pod openstack/me")
	f.set(me.path(), `{"status": {"containerStatuses": [{"name": "other", "ready": true}]}}`)
	mustContain(t, d.check(ctx, api), "it has no status")
	f.set(me.path(), `{"status": {"containerStatuses": [{"name": "libvirt", "ready": false}]}}`)
	mustContain(t, d.check(ctx, api), "it is not ready")
	f.set(me.path(), `{"status": {"containerStatuses": [{"name": "libvirt", "ready": true}]}}`)
	if err := d.check(ctx, api); err != nil {
		t.Fatalf("ready container: %v", err)
	}
}

func TestCustomResource(t *testing.T) {
	f := newFakeAPI(t)
	api := f.client()
	ctx := context.Background()
	d := &customResourceDependency{group: "argoproj.io", version: "v1alpha1", kind: "Workflow",
		namespace: "openstack", name: "wf", fields: []fieldMatch{{Key: "status.phase", Value: "Succeeded"},
			{Key: "spec.suspend", Value: "false"}}, conditions: []conditionMatch{{Type: "Completed"}}}
	discovery := "/apis/argoproj.io/v1alpha1"
	object := "/apis/argoproj.io/v1alpha1/namespaces/openstack/workflows/wf"

	mustContain(t, d.check(ctx, api), "does not serve argoproj.io/v1alpha1")
	f.set(discovery, `{"resources": [{"name": "workflows/status", "kind": "Workflow", "namespaced": true}]}`)
	mustContain(t, d.check(ctx, api), "has no kind Workflow")
	f.set(discovery, `{"resources": [{"name": "workflows/status", "kind": "Workflow", "namespaced": true},
	                                 {"name": "workflows", "kind": "Workflow", "namespaced": true}]}`)
	mustContain(t, d.check(ctx, api), "it does not exist")

	f.set(object, `{"spec": {"suspend": false}, "status": {"phase": "Running"}}`)
	mustContain(t, d.check(ctx, api), `status.phase is "Running", waiting for "Succeeded"`)
	f.set(object, `{"spec": {}, "status": {"phase": "Succeeded"}}`)
	mustContain(t, d.check(ctx, api), "it has no field spec.suspend")
	f.set(object, `{"spec": {"suspend": false}, "status": {"phase": "Succeeded"}}`)
	mustContain(t, d.check(ctx, api), "it has no Completed condition yet")
	f.set(object, `{"spec": {"suspend": false}, "status": {"phase": "Succeeded",
	                "conditions": [{"type": "Completed", "status": "False"}]}}`)
	mustContain(t, d.check(ctx, api), "condition Completed is False, waiting for True")
	f.set(object, `{"spec": {"suspend": false}, "status": {"phase": "Succeeded",
	                "conditions": [{"type": "Completed", "status": "True"}]}}`)
	if err := d.check(ctx, api); err != nil {
		t.Fatalf("every field and condition as wanted: %v", err)
	}

	// A resource named in the dependency needs no discovery (nor the rights to it).
	g := newFakeAPI(t)
	named := &customResourceDependency{group: "example.com", version: "v1", kind: "Foo", namespace: "ns",
		name: "x", resource: "foos", namespaced: true}
	g.set("/apis/example.com/v1/namespaces/ns/foos/x", `{"spec": {}}`)
	if err := named.check(ctx, g.client()); err != nil {
		t.Fatalf("named resource: %v", err)
	}
	if g.requested("/apis/example.com/v1") {
		t.Fatal("discovery was asked although the resource was given")
	}
}

func TestSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ovs.sock")
	d := socketDependency{path: path}
	mustContain(t, d.check(context.Background(), nil), "does not exist yet")
	listener, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	if err := d.check(context.Background(), nil); err != nil {
		t.Fatalf("socket present: %v", err)
	}
	if os.Geteuid() != 0 { // root reads anything
		if err := os.Chmod(path, 0); err != nil {
			t.Fatal(err)
		}
		mustContain(t, d.check(context.Background(), nil), "not readable")
	}
}

func TestWrongTokenIsRefused(t *testing.T) {
	f := newFakeAPI(t)
	api := f.client()
	if err := os.WriteFile(filepath.Join(f.saDir, "token"), []byte("rotated-but-wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := serviceDependency{namespace: "openstack", name: "mariadb"}
	err := d.check(context.Background(), api)
	mustContain(t, err, "401")
	if err != nil && (strings.Contains(err.Error(), "rotated-but-wrong") || strings.Contains(err.Error(), fakeToken)) {
		t.Fatalf("the error shows the token: %v", err)
	}
}

func TestSelectorString(t *testing.T) {
	got, err := selectorString(&labelSelector{MatchLabels: map[string]string{"b": "2", "a": "1"},
		MatchExpressions: []labelSelectorRequirement{{Key: "c", Operator: "In", Values: []string{"y", "x"}},
			{Key: "d", Operator: "Exists"}, {Key: "e", Operator: "DoesNotExist"}}})
	if err != nil || got != "a=1,b=2,c in (x,y),d,!e" {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, bad := range []*labelSelector{nil, {}, {MatchExpressions: []labelSelectorRequirement{{Key: "a", Operator: "Gt"}}}} {
		if _, err := selectorString(bad); err == nil {
			t.Fatalf("selector %+v accepted", bad)
		}
	}
}
