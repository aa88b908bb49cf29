"""The sweep's progress line: live on a terminal; into a log or a pipe, whole plain lines."""
from __future__ import annotations

import io

from adaptact.experiments.runner import _Display


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_into_a_pipe_every_line_is_whole_throttled_and_the_last_is_written_at_the_end():
    out = _Pipe()
    d = _Display(3, 2, True, "digits (quick)", stream=out)
    assert d.live is None
    d.update(started=2)
    d.update(finished={"status": "ok", "wall_time": 60.0})  # first finished run: a line
    d.update(finished={"status": "failed", "wall_time": 60.0})  # within LOG_EVERY seconds: none
    d.update(started=1)
    d.update(finished={"status": "ok", "wall_time": 60.0})
    d.close()  # the final count always
    lines = out.getvalue().splitlines()
    assert out.getvalue().endswith("\n") and len(lines) == 2
    assert lines[0].startswith("digits (quick): 1 done, 1 running, 0 failed, 2 to do of 3 | ")
    assert lines[-1].startswith("digits (quick): 2 done, 0 running, 1 failed, 0 to do of 3 | ")
    assert lines[-1].endswith("~0.0 min left") and len(lines[-1]) > 80  # not wrapped at a console width


def test_quiet_writes_nothing():
    out = _Pipe()
    d = _Display(1, 1, False, "x", stream=out)
    d.update(started=1)
    d.update(finished={"status": "ok", "wall_time": 1.0})
    d.close()
    assert out.getvalue() == ""
