"""Nodes: the inventory of each deployment's nodes, maintenance requests, removal and the Jobs that act on OpenStack."""
