"""The terminal's rendering of Slack messages (`thorbot status`, `thorbot demo`)."""

from __future__ import annotations

import re
from pathlib import Path

from thorbot.adapters.terminal import EMOJI, mrkdwn_to_plain

ROOT = Path(__file__).resolve().parents[2] / "thorbot"
# A shortcode as thorbot writes one in a string: `:label:` after a quote or a space, not a key like `a:b:c`.
SHORTCODE = re.compile(r"""(?:^|(?<=[\s"'(]))(:[a-z][a-z0-9_]*[a-z0-9]:)(?=[\s"'),.]|$)""")


def shortcodes_in_thorbot() -> set[str]:
    found: set[str] = set()
    for room in ("domain", "serve", "services", "worker", "demo", "cli"):
        for path in (ROOT / room).rglob("*.py"):
            found.update(SHORTCODE.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_emoji_thorbot_writes_is_a_character_in_the_terminal() -> None:
    codes = shortcodes_in_thorbot()
    assert {":label:", ":clock9:", ":pager:", ":warning:"} <= codes  # the scan sees them
    missing = sorted(c for c in codes if c not in EMOJI)
    assert missing == [], f"add these to terminal.EMOJI: {missing}"
    shown = mrkdwn_to_plain(":label: cause · :clock9: hours")
    assert ":" not in shown and "🏷" in shown and "🕘" in shown
