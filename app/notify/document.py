"""A message as a small document of plain-string blocks, and its two layouts: plain text here,
HTML through a Jinja2 template (`templates/email.html`) with autoescape on, so every value is
escaped by the engine and no message builder (app/notify/messages.py) can forget. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Facts:
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Link:
    label: str
    url: str


Block = Para | Facts | Link


@dataclass(frozen=True)
class Doc:
    subject: str
    greeting: str
    blocks: tuple[Block, ...]
    footer: str


def render_text(doc: Doc) -> str:
    parts = [doc.greeting]
    for block in doc.blocks:
        match block:
            case Para(text):
                parts.append(text)
            case Facts(rows):
                width = max(len(label) for label, _ in rows) + 2
                lines = []
                for label, value in rows:
                    first, *rest = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
                    lines.append(f"{label + ':':<{width}}{first}")
                    lines += [" " * width + line for line in rest]
                parts.append("\n".join(lines))
            case Link(label, url):
                parts.append(f"{label}: {url}")
    parts.append(f"-- \n{doc.footer}")
    return "\n\n".join(parts) + "\n"


def _with_line_breaks(value: str) -> Markup:
    """Escaped, with each line break kept as `<br>`."""
    lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return Markup("<br>\n").join(escape(line) for line in lines)


# Jinja2 with autoescape on: the engine escapes every value that reaches the markup.
_TEMPLATES = Environment(
    loader=PackageLoader("app.notify", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_TEMPLATES.filters["lines"] = _with_line_breaks
_TEMPLATES.tests.update(
    para=lambda block: isinstance(block, Para),
    facts=lambda block: isinstance(block, Facts),
    link=lambda block: isinstance(block, Link),
)


def render_html(doc: Doc, subject: str, locale: str) -> str:
    """`subject` one line already; `locale` (BCP 47) is the document's `lang`."""
    return _TEMPLATES.get_template("email.html").render(doc=doc, subject=subject, lang=locale)
