"""Typed models of what the processes exchange, and of the resource's spec."""
