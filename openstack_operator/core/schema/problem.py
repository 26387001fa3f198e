"""One thing wrong with a manifest: the field path and what is wrong there. Apart from validation.py so that what
needs only this (the post-renderer, which Helm starts once per release) does not load the CEL interpreter."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"
