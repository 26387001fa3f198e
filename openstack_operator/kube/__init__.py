"""The only code that talks to the cluster and to Helm. Decisions come from openstack_operator.core."""
