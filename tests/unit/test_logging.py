"""OSOP_LOG_FORMAT=json: one JSON object per log line, with the traceback when there is one."""

from __future__ import annotations

import json
import logging

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
