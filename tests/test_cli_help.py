"""`thorbot <command> --help` says what the command does and which settings it needs."""

from __future__ import annotations

import pytest

from thorbot.cli.main import HELP, main
from thorbot.settings import NEEDS


@pytest.mark.parametrize("command", sorted(HELP))
def test_each_command_explains_itself_and_its_settings(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert HELP[command][1].split()[0] in out
    for setting in NEEDS.get(command, ()):
        assert setting in out, f"`thorbot {command} --help` does not name {setting}"
