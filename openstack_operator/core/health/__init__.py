"""Workload health: what each Deployment, StatefulSet, DaemonSet and Job says, per application and component."""
