"""Progress bars draw on a terminal and stay out of logs."""

from __future__ import annotations

import io
import os

import pytest

from ews.runtime.progress import progress_bar, watched


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_a_bar_writes_nothing_and_its_callers_run_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar(total=3, desc="digits-C") as bar:
        bar.update(2)
        bar.set_postfix_str("fog 1")
    assert list(progress_bar(range(3))) == [0, 1, 2]
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(("enabled", "draws"), [(True, True), (False, False)])
def test_on_a_terminal_a_bar_draws_when_enabled(monkeypatch: pytest.MonkeyPatch, enabled: bool, draws: bool) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert list(progress_bar(range(3), enabled=enabled, desc="epoch 1/1")) == [0, 1, 2]
    assert ("epoch 1/1" in terminal.getvalue()) is draws


def test_a_closed_or_plain_stream_is_not_watched() -> None:
    closed = open(os.devnull, "w")
    closed.close()  # isatty() now raises ValueError
    assert not watched(closed) and not watched(io.StringIO()) and watched(Terminal())
