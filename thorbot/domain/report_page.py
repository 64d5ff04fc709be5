"""The driver's report page behind a sticker's QR code: its words (every language in one place) and its HTML.
Pure: no I/O; every value from Thor or from a driver is HTML-escaped here.

The page works without JavaScript on a 360-pixel-wide phone: one form, native controls, labels tied to their
fields for screen readers, a honeypot field people never see (bots fill it in), and Post/Redirect/Get so a
reload never sends twice.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta

from thorbot.domain.driver_reports import MAX_CONTACT, MAX_DETAILS, Problem

HONEYPOT = "website"  # a field no person sees or fills in

# Every word the page says, per language (English first: the fallback for any key a translation lacks).
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Report a problem",
        "intro": "Not working? Tell us in 30 seconds — no app, no account.",
        "connector": "Connector #{n}",
        "what": "What is wrong?",
        Problem.WONT_START: "It won't start charging",
        Problem.PAYMENT: "Payment or card refused",
        Problem.SCREEN: "Screen or buttons dead",
        Problem.DAMAGED: "Cable or connector damaged",
        Problem.SLOW: "Charging very slowly",
        Problem.BLOCKED: "Bay blocked",
        Problem.OTHER: "Something else",
        "details": "Details (optional)",
        "details_hint": "Up to 500 characters.",
        "contact": "Your phone or email (optional)",
        "contact_hint": "Only if you want us to get back to you. Seen only by the operator's on-call team.",
        "send": "Send report",
        "honeypot": "Leave this field empty",
        "pick": "Choose what is wrong.",
        "too_long": "That is too long.",
        "thanks": "Thank you — the on-call engineer has been told.",
        "next": "They see your report now. You do not need to do anything else; if you left a contact, they may "
                "get back to you. Try another connector meanwhile if one is free.",
        "reported": "A problem here was reported {ago}; it is being looked at.",
        "fixed": "Fixed at {time}.",
        "minutes": "{n} minutes ago",
        "minute": "a minute ago",
        "hours": "{n} hours ago",
        "invalid": "This sticker is not valid.",
        "revoked": "This sticker is no longer valid.",
        "call": "Please call {phone}.",
        "call_operator": "Please call the number on the charger.",
        "limited": "Too many reports from here just now. Please try again in a few minutes.",
        "lang": "en",
    },
    "de": {
        "title": "Problem melden",
        "intro": "Funktioniert nicht? Sag es uns in 30 Sekunden — ohne App, ohne Konto.",
        "connector": "Anschluss #{n}",
        "what": "Was ist los?",
        Problem.WONT_START: "Der Ladevorgang startet nicht",
        Problem.PAYMENT: "Zahlung oder Karte abgelehnt",
        Problem.SCREEN: "Bildschirm oder Tasten tot",
        Problem.DAMAGED: "Kabel oder Stecker beschädigt",
        Problem.SLOW: "Lädt sehr langsam",
        Problem.BLOCKED: "Stellplatz blockiert",
        Problem.OTHER: "Etwas anderes",
        "details": "Details (freiwillig)",
        "details_hint": "Bis zu 500 Zeichen.",
        "contact": "Telefon oder E-Mail (freiwillig)",
        "contact_hint": "Nur wenn wir uns melden sollen. Nur das Bereitschaftsteam des Betreibers sieht sie.",
        "send": "Meldung senden",
        "honeypot": "Dieses Feld leer lassen",
        "pick": "Bitte wähle, was los ist.",
        "too_long": "Das ist zu lang.",
        "thanks": "Danke — der Bereitschaftsdienst ist informiert.",
        "next": "Deine Meldung ist angekommen. Du musst nichts weiter tun; wenn du einen Kontakt angegeben hast, "
                "melden wir uns vielleicht. Versuche solange einen anderen freien Anschluss.",
        "reported": "Ein Problem hier wurde {ago} gemeldet; es wird bearbeitet.",
        "fixed": "Behoben um {time}.",
        "minutes": "vor {n} Minuten",
        "minute": "vor einer Minute",
        "hours": "vor {n} Stunden",
        "invalid": "Dieser Aufkleber ist ungültig.",
        "revoked": "Dieser Aufkleber ist nicht mehr gültig.",
        "call": "Bitte ruf {phone} an.",
        "call_operator": "Bitte ruf die Nummer an der Ladesäule an.",
        "limited": "Gerade zu viele Meldungen von hier. Bitte versuche es in ein paar Minuten noch einmal.",
        "lang": "de",
    },
}


def language(accept_language: str) -> str:
    """The browser's most preferred language thorbot has (RFC 9110 q-values), English otherwise."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower().split("-")[0]))
    for quality, _, tag in sorted(ranked):
        if quality < 0 and tag in WORDS:
            return tag
    return "en"


def words(lang: str) -> dict[str, str]:
    return {**WORDS["en"], **WORDS.get(lang, {})}


@dataclass(frozen=True)
class Place:
    """What the page shows of where the driver stands (from thorbot's last seen state: no Thor call)."""

    box_name: str
    connector: int


@dataclass(frozen=True)
class Status:
    """The connector's report state: reported (open) since, or fixed at."""

    reported: datetime | None = None
    fixed: datetime | None = None


def status_line(status: Status, now: datetime, lang: str, fixed_shown: str | None) -> str | None:
    w = words(lang)
    if status.reported is not None:
        minutes = max(0, int((now - status.reported).total_seconds() // 60))
        ago = w["minute"] if minutes <= 1 else w["minutes"].format(n=minutes) if minutes < 120 else \
            w["hours"].format(n=minutes // 60)
        return w["reported"].format(ago=ago)
    if status.fixed is not None and fixed_shown and now - status.fixed < timedelta(days=7):
        return w["fixed"].format(time=fixed_shown)
    return None


_STYLE = """
body{font:17px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#111}
main{max-width:34rem;margin:0 auto;padding:1rem}
h1{font-size:1.35rem;margin:.2rem 0 .4rem}
.where{font-weight:600;margin:0 0 .8rem}
.note{background:#fff7d6;border-left:4px solid #e0b000;padding:.6rem .8rem;margin:.8rem 0}
.ok{background:#e6f6ea;border-left:4px solid #2e8b57;padding:.6rem .8rem;margin:.8rem 0}
fieldset{border:0;padding:0;margin:0 0 1rem}
legend,label.block{font-weight:600;display:block;margin:.6rem 0 .3rem}
.choice{display:flex;align-items:center;gap:.6rem;background:#fff;border:1px solid #ccd;border-radius:.5rem;
padding:.7rem .8rem;margin:.35rem 0}
.choice input{width:1.3rem;height:1.3rem;margin:0}
textarea,input[type=text]{box-sizing:border-box;width:100%;font:inherit;padding:.6rem;border:1px solid #aab;
border-radius:.5rem;background:#fff}
textarea{min-height:6rem}
.hint{font-size:.9rem;color:#444;margin:.2rem 0 0}
.error{color:#a00000;font-weight:600}
button{width:100%;font:inherit;font-weight:700;padding:.9rem;margin-top:1rem;border:0;border-radius:.5rem;
background:#1d4ed8;color:#fff}
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
"""


def _page(lang: str, title: str, body: str) -> str:
    return ("<!doctype html>\n"
            f'<html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="robots" content="noindex">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def render_form(lang: str, place: Place, *, status: str | None = None, errors: dict[str, str] | None = None,
                values: dict[str, str] | None = None, action: str = "") -> str:
    w, errors, values = words(lang), errors or {}, values or {}
    chosen = values.get("problem", "")
    options = "".join(
        f'<label class="choice"><input type="radio" name="problem" value="{p.value}"'
        f'{" checked" if chosen == p.value else ""} required> {html.escape(w[p])}</label>' for p in Problem)

    def error(key: str) -> str:
        return f'<p class="error" id="{key}-error" role="alert">{html.escape(errors[key])}</p>' if key in errors else ""

    note = f'<p class="note" role="status">{html.escape(status)}</p>' if status else ""
    body = (f"<h1>{html.escape(w['title'])}</h1>"
            f'<p class="where">{html.escape(place.box_name)} · {html.escape(w["connector"].format(n=place.connector))}'
            f"</p><p>{html.escape(w['intro'])}</p>{note}"
            f'<form method="post" action="{html.escape(action)}" accept-charset="utf-8">'
            f'<fieldset><legend>{html.escape(w["what"])}</legend>{error("problem")}{options}</fieldset>'
            f'<label class="block" for="details">{html.escape(w["details"])}</label>{error("details")}'
            f'<textarea id="details" name="details" maxlength="{MAX_DETAILS}" aria-describedby="details-hint">'
            f'{html.escape(values.get("details", ""))}</textarea>'
            f'<p class="hint" id="details-hint">{html.escape(w["details_hint"])}</p>'
            f'<label class="block" for="contact">{html.escape(w["contact"])}</label>{error("contact")}'
            f'<input type="text" id="contact" name="contact" maxlength="{MAX_CONTACT}" autocomplete="tel email" '
            f'value="{html.escape(values.get("contact", ""))}" aria-describedby="contact-hint">'
            f'<p class="hint" id="contact-hint">{html.escape(w["contact_hint"])}</p>'
            f'<div class="hp" aria-hidden="true"><label for="{HONEYPOT}">{html.escape(w["honeypot"])}</label>'
            f'<input type="text" id="{HONEYPOT}" name="{HONEYPOT}" tabindex="-1" autocomplete="off"></div>'
            f'<button type="submit">{html.escape(w["send"])}</button></form>')
    return _page(lang, w["title"], body)


def render_thanks(lang: str, place: Place) -> str:
    w = words(lang)
    body = (f"<h1>{html.escape(w['title'])}</h1>"
            f'<p class="where">{html.escape(place.box_name)} · {html.escape(w["connector"].format(n=place.connector))}'
            f'</p><p class="ok" role="status">{html.escape(w["thanks"])}</p><p>{html.escape(w["next"])}</p>')
    return _page(lang, w["thanks"], body)


def render_notice(lang: str, key: str, phone: str | None = None) -> str:
    """A page that only explains: an invalid or revoked sticker, or too many reports."""
    w = words(lang)
    call = w["call"].format(phone=phone) if phone else w["call_operator"]
    extra = f"<p>{html.escape(call)}</p>" if key in ("invalid", "revoked") else ""
    body = f"<h1>{html.escape(w['title'])}</h1><p class=\"note\" role=\"alert\">{html.escape(w[key])}</p>{extra}"
    return _page(lang, w[key], body)


def read_form(fields: dict[str, str], lang: str) -> tuple[dict[str, str], dict[str, str]]:
    """The values a driver sent (trimmed) and the errors to show, in their language."""
    w = words(lang)
    values = {"problem": fields.get("problem", "").strip(),
              "details": _clean(fields.get("details", "")),
              "contact": _clean(fields.get("contact", ""))}
    errors: dict[str, str] = {}
    if values["problem"] not in {p.value for p in Problem}:
        errors["problem"] = w["pick"]
    if len(values["details"]) > MAX_DETAILS:
        errors["details"] = w["too_long"]
    if len(values["contact"]) > MAX_CONTACT:
        errors["contact"] = w["too_long"]
    return values, errors


def _clean(text: str) -> str:
    """Printable text only (newlines become spaces): what reaches Slack is one quoted paragraph."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())
