"""Stickers as people get them: the PDF (read back, and its QR codes scanned where zbarimg is installed), the
CSV, `thorbot stickers` as a real subprocess against the fake Thor and a real Redis, and `/chargebox stickers`
through the real app uploading the PDF (admins only)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader
from redis.asyncio import Redis

from tests.helpers import THOR_KEY, AppRig
from thorbot.adapters.sticker_pdf import PER_PAGE, sticker_pdf
from thorbot.adapters.stickers import StickerCodes, StickerEpochs
from thorbot.domain.stickers import DRIVER_LINE, Label, code_for, read_code
from thorbot.sim.thor_server import FakeThor

STICKER_KEY = "sticker-key-for-tests-only-0123456789abcdef"
PUBLIC = "https://thorbot.example.com"
RIG_DEFAULTS = {"admins": "U0ALICE", "public_url": PUBLIC, "sticker_key": STICKER_KEY}


def labels(count: int, name: str = "Torino – Via Roma #1") -> list[Label]:
    return [Label(box_id=f"box-{n // 2}", box_name=name, connector=n % 2 + 1, connector_type="Type 2",
                  url=f"{PUBLIC}/r/{code_for(STICKER_KEY.encode(), f'box-{n // 2}', n % 2 + 1)}")
            for n in range(count)]


def pdf_text(data: bytes) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(data))
    return reader, [page.extract_text() for page in reader.pages]


@pytest.mark.parametrize(("paper", "size"), [("a4", (595, 842)), ("letter", (612, 792))])
def test_the_pdf_has_every_label_on_pages_of_the_paper_asked_for(paper: str, size: tuple[int, int]) -> None:
    made = labels(PER_PAGE + 3, name="Ünïcode 北京 <b>box</b>")
    reader, pages = pdf_text(sticker_pdf(made, paper))  # type: ignore[arg-type]
    assert len(pages) == 2
    assert all((round(float(p.mediabox.width)), round(float(p.mediabox.height))) == size for p in reader.pages)
    text = "".join(pages).replace("\n", "")
    for label in made:
        assert label.url in text  # the link written out (its code on a line of its own)
    assert pages[0].count(DRIVER_LINE.split("—")[0].strip()) == PER_PAGE
    assert pages[0].count("Connector 1") == PER_PAGE // 2 and "Type 2" in pages[0]
    assert "Ünïcode ?? <b>box</b>" in pages[0].replace("\n", " ")  # what the fonts cannot write: `?`, not a blank


def test_the_same_labels_make_the_same_pdf() -> None:
    assert sticker_pdf(labels(3)) == sticker_pdf(labels(3))


@pytest.mark.skipif(not (shutil.which("pdftoppm") and shutil.which("zbarimg")), reason="poppler-utils, zbar-tools")
def test_every_qr_code_scans_to_its_label_link(tmp_path: Path) -> None:
    made = labels(PER_PAGE, name="A box with a long name that wraps over several lines of its label")
    (tmp_path / "s.pdf").write_bytes(sticker_pdf(made, "letter"))
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(tmp_path / "s.pdf"), str(tmp_path / "page")], check=True,
                   timeout=60)
    scanned = subprocess.run(["zbarimg", "-q", "--raw", str(tmp_path / "page-1.png")], capture_output=True,
                             text=True, timeout=60).stdout.split()
    assert sorted(scanned) == sorted(label.url for label in made)


async def run_cli(fake_thor: FakeThor, redis_url: str, cwd: Path, *args: str, **extra: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THOR", "SLACK", "REDIS"))}
    env.update({"THOR_API_KEY": THOR_KEY, "THOR_API_URL": fake_thor.base_url, "THORBOT_THOR_RETRIES": "0",
                "REDIS_URL": redis_url, "THORBOT_PUBLIC_URL": PUBLIC + "/", "THORBOT_STICKER_KEY": STICKER_KEY,
                **extra})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "thorbot.cli.main", "stickers", *args, env=env,
                                                cwd=cwd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode()


async def test_cli_writes_every_connector_of_the_fleet_as_csv_and_pdf(fake_thor: FakeThor, redis_url: str,
                                                                      redis: Redis, tmp_path: Path) -> None:
    fleet = list(fake_thor.fleet.boxes.values())
    fleet[0].alias = "=HYPERLINK(\"http://evil\")"
    connectors = sum(len(box.connectors) for box in fleet)
    code, out, err = await run_cli(fake_thor, redis_url, tmp_path, "all", "--format", "csv", "--out", "-")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["box_id", "connector", "url"] and len(rows) == connectors + 1
    assert {(r[0], int(r[1])) for r in rows[1:]} == {(b.id, n) for b in fleet for n in range(1, len(b.connectors) + 1)}
    key = STICKER_KEY.encode()
    assert all(r[2] == f"{PUBLIC}/r/{code_for(key, r[0], int(r[1]))}" for r in rows[1:])
    assert f"{connectors} rows" in err

    code, _, err = await run_cli(fake_thor, redis_url, tmp_path, "--paper", "letter")  # all, PDF: the defaults
    assert code == 0, err
    _, pages = pdf_text((tmp_path / "thorbot-stickers-all.pdf").read_bytes())
    text = "".join(pages).replace("\n", "")
    assert len(pages) == -(-connectors // PER_PAGE)
    assert all(r[2] in text for r in rows[1:])


async def test_cli_revokes_one_box_and_writes_its_new_stickers(fake_thor: FakeThor, redis_url: str, redis: Redis,
                                                               tmp_path: Path) -> None:
    box = next(iter(fake_thor.fleet.boxes.values()))
    codes = StickerCodes((STICKER_KEY.encode(),), StickerEpochs(redis), PUBLIC, known=lambda: _ids(box.id))
    old = await codes.code_for(box.id, 1)
    code, _, err = await run_cli(fake_thor, redis_url, tmp_path, box.id, "--revoke", "--format", "csv")
    assert code == 0, err
    assert "revoked" in err
    rows = list(csv.reader(io.StringIO((tmp_path / f"thorbot-stickers-{box.id}.csv").read_text())))
    new = rows[1][2].rsplit("/", 1)[1]
    assert new != old and (read_code(new) or pytest.fail("not a code")).epoch == 1
    assert await codes.resolve(old) is None and await codes.resolve(new) == (box.id, 1)
    assert (await codes.locate(old) or pytest.fail("not located")).revoked


async def _ids(*ids: str) -> list[str]:
    return list(ids)


async def test_cli_refuses_without_the_public_url_or_the_key(fake_thor: FakeThor, redis_url: str,
                                                             tmp_path: Path) -> None:
    code, _, err = await run_cli(fake_thor, redis_url, tmp_path, "all", THORBOT_PUBLIC_URL="", THORBOT_STICKER_KEY="")
    assert code == 2
    assert "THORBOT_PUBLIC_URL: the public https:// address" in err and "THORBOT_STICKER_KEY: " in err
    assert not list(tmp_path.iterdir())
    code, _, err = await run_cli(fake_thor, redis_url, tmp_path, "all", THORBOT_PUBLIC_URL="http://bot.example")
    assert code == 2 and "THORBOT_PUBLIC_URL" in err and "https://" in err
    code, _, err = await run_cli(fake_thor, redis_url, tmp_path, "all", THORBOT_STICKER_KEY="short")
    assert code == 2 and "THORBOT_STICKER_KEY" in err and "short" not in err.replace("THORBOT_STICKER_KEY", "")


async def test_cli_says_when_no_box_or_several_match(fake_thor: FakeThor, redis_url: str, tmp_path: Path) -> None:
    code, _, err = await run_cli(fake_thor, redis_url, tmp_path, "no-such-box-anywhere")
    assert code == 3 and "no chargebox" in err
    code, _, err = await run_cli(fake_thor, redis_url, tmp_path, "all", "--revoke")
    assert code == 2 and "--revoke takes one box" in err


async def uploaded(rig: AppRig, timeout: float = 10.0) -> dict[str, object]:
    for _ in range(int(timeout / 0.02)):
        if rig.slack.files:
            return rig.slack.files[-1]
        await asyncio.sleep(0.02)
    raise AssertionError("no file was uploaded")


async def test_chargebox_stickers_uploads_the_box_pdf_to_the_channel(rig: AppRig) -> None:
    box = next(iter(rig.thor.fleet.boxes.values()))
    response, key = await rig.command(f"stickers {box.id} letter")
    assert response.status_code == 200
    reply = json.dumps(await rig.reply(key))
    assert "Stickers of" in reply and f"{len(box.connectors)} labels" in reply
    shared = await uploaded(rig)
    assert shared["channel"] == "C0ALERTS" and str(shared["title"]).startswith("Stickers:")
    data = shared["data"]
    assert isinstance(data, bytes) and data.startswith(b"%PDF-")
    reader, pages = pdf_text(data)
    assert round(float(reader.pages[0].mediabox.height)) == 792  # US Letter, as asked
    text = "".join(pages).replace("\n", "")
    assert rig.ctx.stickers is not None
    for n in range(1, len(box.connectors) + 1):
        assert await rig.ctx.stickers.url_for(box.id, n) in text


async def test_chargebox_stickers_is_refused_to_someone_not_an_admin(rig: AppRig) -> None:
    box = next(iter(rig.thor.fleet.boxes.values()))
    _, key = await rig.command(f"stickers {box.id}", user="U0BOB")
    assert "Only thorbot admins" in json.dumps(await rig.reply(key))
    assert rig.slack.files == []


@pytest.mark.parametrize("rig", [{"public_url": None}], indirect=True)
async def test_chargebox_stickers_without_the_public_url_says_what_to_set(rig: AppRig) -> None:
    box = next(iter(rig.thor.fleet.boxes.values()))
    _, key = await rig.command(f"stickers {box.id}")
    assert "THORBOT_PUBLIC_URL" in json.dumps(await rig.reply(key))
    assert rig.slack.files == []
