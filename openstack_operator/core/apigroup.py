"""The operator's API group and version: the one fact every layer needs about its custom resources."""

GROUP = "openstack.osop.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
