"""Stickers on paper: a printable PDF of labels (domain/stickers.py's `Label`), A4 or US Letter, eight a page
(two columns, four rows; cut along the grey lines), each with the driver's line, the box's name, the
connector's number and type, a QR code of the link (segno) and the link written out.

The PDF is drawn with reportlab's standard fonts (nothing to embed, the same on every machine). They write
Western European text; any other character in a name Thor gives (a CJK name, an emoji) is printed as `?`, and the
box id is printed on the label too, so a sticker still tells which box it belongs on. The QR code is drawn
as vector squares (sharp at any printer resolution) with its quiet zone, at error correction level M (15 %
of it may be scratched or dirty).
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import segno
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from thorbot.domain.stickers import DRIVER_LINE, Label

Paper = Literal["a4", "letter"]
PAPERS: dict[str, tuple[float, float]] = {"a4": A4, "letter": LETTER}
COLUMNS, ROWS = 2, 4
PER_PAGE = COLUMNS * ROWS
MARGIN_X, MARGIN_Y = 10 * mm, 12 * mm  # inside every office printer's unprintable edge
PAD = 4 * mm
MAX_QR = 42 * mm  # with its quiet zone; as large as the label leaves room for (A4: 40 mm, Letter: 36 mm)
AROUND_QR = 28 * mm  # the label's height that is not the QR code: the driver's line, the link, the padding
QUIET = 4  # modules of white around the code (the QR standard's quiet zone)
BOLD, REGULAR, MONO = "Helvetica-Bold", "Helvetica", "Courier"


@dataclass(frozen=True)
class Box:
    x: float
    y: float  # the bottom edge (PDF's y grows upwards)
    w: float
    h: float


def printable(text: str) -> str:
    """`text` in what the standard fonts write (Windows-1252): other characters become `?`, control ones go."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        if unicodedata.category(ch)[0] == "C":
            continue
        try:
            ch.encode("cp1252")
        except UnicodeEncodeError:
            ch = "?"
        out.append(ch)
    return "".join(out)


def _wrap(text: str, font: str, size: float, width: float, max_lines: int, *, anywhere: bool = False) -> list[str]:
    """Lines of at most `width` points: broken at spaces (or, `anywhere`, at any character, for a URL); the last
    line shortened with an ellipsis when the text does not fit in `max_lines`."""
    lines: list[str] = []
    words = list(text) if anywhere else text.split(" ")
    joiner = "" if anywhere else " "
    line = ""
    for word in words:
        candidate = f"{line}{joiner}{word}" if line else word
        if stringWidth(candidate, font, size) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while stringWidth(line, font, size) > width and len(line) > 1:  # one word wider than the line
            cut = len(line)
            while cut > 1 and stringWidth(line[:cut], font, size) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and stringWidth(last + "\u2026", font, size) > width:
            last = last[:-1]
        lines = lines[:max_lines - 1] + [last + "\u2026"]
    return lines


def _qr(canvas: Canvas, url: str, x: float, y: float, size: float) -> None:
    qr = segno.make(url, error="m", micro=False, boost_error=False)
    matrix = qr.matrix
    modules = len(matrix) + 2 * QUIET
    unit = size / modules
    canvas.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(matrix):
        top = y + size - (r + QUIET + 1) * unit
        c = 0
        while c < len(row):  # one rectangle per run of dark modules: a smaller file, no hairlines between them
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            canvas.rect(x + (start + QUIET) * unit, top, (c - start) * unit, unit, stroke=0, fill=1)


def _label(canvas: Canvas, label: Label, box: Box) -> None:
    canvas.setStrokeColorRGB(0.75, 0.75, 0.75)  # the cutting guide
    canvas.setLineWidth(0.4)
    canvas.setDash(3, 3)
    canvas.rect(box.x, box.y, box.w, box.h, stroke=1, fill=0)
    canvas.setDash()
    inner_w = box.w - 2 * PAD
    top = box.y + box.h - PAD
    canvas.setFillColorRGB(0, 0, 0)
    y = top
    for line in _wrap(DRIVER_LINE, BOLD, 11, inner_w, 2):
        y -= 13
        canvas.setFont(BOLD, 11)
        canvas.drawString(box.x + PAD, y, line)
    qr_top = y - 1 * mm
    qr_size = min(MAX_QR, box.h - AROUND_QR)
    _qr(canvas, label.url, box.x + PAD - 1.5 * mm, qr_top - qr_size, qr_size)  # its quiet zone overlaps the pad
    text_x = box.x + PAD + qr_size
    text_w = box.x + box.w - PAD - text_x
    y = qr_top - 2 * mm
    for line in _wrap(printable(label.box_name), BOLD, 12, text_w, 3):
        y -= 14
        canvas.setFont(BOLD, 12)
        canvas.drawString(text_x, y, line)
    y -= 6
    for text, font, size in ((f"Connector {label.connector}", BOLD, 16),
                             (printable(label.connector_type), REGULAR, 11)):
        for line in _wrap(text, font, size, text_w, 1):
            y -= size + 3
            canvas.setFont(font, size)
            canvas.drawString(text_x, y, line)
    if label.box_name != label.box_id:
        for line in _wrap("Box " + printable(label.box_id), REGULAR, 7, text_w, 2, anywhere=True):
            y -= 10
            canvas.setFont(REGULAR, 7)
            canvas.setFillColorRGB(0.35, 0.35, 0.35)
            canvas.drawString(text_x, y, line)
        canvas.setFillColorRGB(0, 0, 0)
    # The link written out, for a phone that cannot scan: the code on a line of its own when it does not fit.
    base, sep, code = label.url.rpartition("/r/")
    parts = [label.url] if stringWidth(label.url, MONO, 9) <= inner_w or not sep else [base + sep, code]
    url_lines = [line for part in parts for line in _wrap(part, MONO, 9, inner_w, 2, anywhere=True)]
    y = box.y + PAD + 11 * (len(url_lines) - 1)
    for line in url_lines:
        canvas.setFont(MONO, 9)
        canvas.drawString(box.x + PAD, y, line)
        y -= 11


def sticker_pdf(labels: Sequence[Label], paper: Paper = "a4", *, title: str = "thorbot stickers") -> bytes:
    """The PDF of `labels`, PER_PAGE a page, in order; an empty list is one empty page."""
    width, height = PAPERS[paper]
    out = io.BytesIO()
    # invariant=True: no creation date or random id, so the same labels make the same bytes.
    canvas = Canvas(out, pagesize=(width, height), invariant=True, pageCompression=1)
    canvas.setTitle(printable(title))
    canvas.setCreator("thorbot")
    cell_w = (width - 2 * MARGIN_X) / COLUMNS
    cell_h = (height - 2 * MARGIN_Y) / ROWS
    for start in range(0, max(len(labels), 1), PER_PAGE):
        for k, label in enumerate(labels[start:start + PER_PAGE]):
            row, col = divmod(k, COLUMNS)
            _label(canvas, label, Box(MARGIN_X + col * cell_w, height - MARGIN_Y - (row + 1) * cell_h,
                                      cell_w, cell_h))
        canvas.showPage()
    canvas.save()
    return out.getvalue()
