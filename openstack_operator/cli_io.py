"""The CLI's input and output, where every failure is one line (an OperatorError) instead of a traceback: reading a
manifest (a file or stdin; one osdpl among any documents), the namespace it is for, standard output and the files
of --output-dir."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from openstack_operator.core.errors import OperatorError
from openstack_operator.core.schema.manifest import DEFAULT_NAMESPACE, parse_documents, select_osdpl
from openstack_operator.core.schema.metadata import dns_label_problems, quoted

MAX_INPUT_BYTES = 64 * 1024 * 1024  # far above what the API server takes (3 MiB a request): a manifest stream


def source_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def read_osdpl(path: str) -> Any:
    """The one OpenStackDeployment document of the file (`-`: stdin), as kubectl would read it."""
    source = source_name(path)
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise OperatorError(f"{source}: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise OperatorError(f"{source}: more than {MAX_INPUT_BYTES // (1024 * 1024)} MiB; a manifest is far smaller "
                            "(the API server takes 3 MiB a request)")
    return select_osdpl(parse_documents(data, source), source)


def namespace_of(doc: Any, flag: str | None, source: str) -> tuple[Any, str, bool]:
    """The manifest with the namespace it is for (as kubectl: metadata.namespace, else -n/--namespace, which must
    agree when both are given; else DEFAULT_NAMESPACE), the namespace, and whether it was assumed."""
    if flag is not None:
        problems = dns_label_problems(flag)
        if problems:
            raise OperatorError(f"--namespace: Invalid value: {quoted(flag)}: {problems[0]}")
    metadata = doc.get("metadata") if isinstance(doc, dict) else None
    if not isinstance(metadata, dict):
        return doc, flag or DEFAULT_NAMESPACE, flag is None
    written = metadata.get("namespace")
    if written and flag and written != flag:
        raise OperatorError(f"{source}: the namespace from the provided object {quoted(str(written))} does not match "
                            f"the namespace {quoted(flag)}: pass --namespace={written}, or none")
    if written:
        return doc, str(written), False
    doc = {**doc, "metadata": {**copy.copy(metadata), "namespace": flag or DEFAULT_NAMESPACE}}
    return doc, flag or DEFAULT_NAMESPACE, flag is None


class Output:
    """Standard output that turns a write failure into one line (a full disk: `> /dev/full`); a closed pipe
    (`| head`) propagates as BrokenPipeError, for main to end quietly as other command line tools do."""

    def write(self, text: str) -> None:
        try:
            sys.stdout.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OperatorError(f"cannot write standard output: {exc.strerror or exc}") from None

    def flush(self) -> None:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OperatorError(f"cannot write standard output: {exc.strerror or exc}") from None


def output_dir(path: str) -> Path:
    """--output-dir, created with its parents (as mkdir -p); an existing file there is an error."""
    directory = Path(path)
    if directory.exists() and not directory.is_dir():
        raise OperatorError(f"--output-dir {path}: not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = exc.filename if isinstance(exc.filename, str) else path
        raise OperatorError(f"--output-dir {path}: cannot create {where}: {exc.strerror or exc}") from None
    return directory


def write_file(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OperatorError(f"{path}: cannot write: {exc.strerror or exc}") from None
