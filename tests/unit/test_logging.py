"""OSOP_LOG_FORMAT=json: one JSON object per log line, with the traceback when there is one."""

from __future__ import annotations

import json
import logging

import pytest

from openstack_operator.kube.process import JsonFormatter


def test_a_json_log_line_holds_time_level_logger_message_and_traceback() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("osop.osdpl", logging.WARNING, __file__, 1, "osdpl %s/%s: %s", ("ns", "cloud", "x\ny"),
                               None)
    entry = json.loads(formatter.format(record))
    assert entry["level"] == "WARNING" and entry["logger"] == "osop.osdpl" and entry["message"] == "osdpl ns/cloud: x\ny"
    assert entry["time"][:2] == "20" and "exception" not in entry
    try:
        raise ValueError("bad")
    except ValueError:
        import sys
        record = logging.LogRecord("osop", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = formatter.format(record)
    assert "\n" not in line and "ValueError: bad" in json.loads(line)["exception"]


def test_at_debug_the_cel_library_traces_nothing_and_the_operators_own_lines_are_kept(
        capsys: pytest.CaptureFixture[str]) -> None:
    from openstack_operator.core.schema.validation import validate
    from openstack_operator.core.settings import Settings
    from openstack_operator.kube.process import _configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        root.handlers = []
        _configure_logging(Settings(log_level="DEBUG"))
        logging.getLogger("osop.test").debug("own line")
        validate({"type": "string", "x-kubernetes-validations": [{"rule": "self == 'a'"}]}, "b", "spec.x")
        err = capsys.readouterr().err
        assert "own line" in err and "celpy" not in err
    finally:
        root.handlers, level = saved
        root.setLevel(level)
        logging.getLogger("celpy").setLevel(logging.NOTSET)
