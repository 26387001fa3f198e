"""openstack-operator: deploys and runs OpenStack on Kubernetes from one OpenStackDeployment."""
