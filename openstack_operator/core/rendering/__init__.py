"""Rendering: the values of every release, layer by layer, and the merge rules between layers."""
