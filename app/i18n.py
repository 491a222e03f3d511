"""Languages and time zones: which locales we speak, and how a message reads for one recipient.

Messages are written in English in the code (`lang.gettext("New lead from {company}", ...)`);
every other language is a gettext catalogue, `app/locales/<ll_CC>/LC_MESSAGES/messages.po`.
The supported locales are English plus the catalogue folders found, so adding a language is
adding a catalogue (README, "Languages and time zones"). Catalogues are compiled in memory when
first used: no `.mo` file is built, committed or left stale.

Dates, numbers and money are formatted by Babel (CLDR) for the recipient's locale, dates in the
recipient's IANA time zone.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime as babel_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
# The language the code's messages are written in: it needs no catalogue.
SOURCE_LOCALE = "en"
DEFAULT_LOCALE = SOURCE_LOCALE
DEFAULT_TIME_ZONE = "UTC"


def bcp47(locale: Locale) -> str:
    """`pt_BR` -> `pt-BR`: the tag clients send and we store."""
    return "-".join(p for p in (locale.language, locale.script, locale.territory) if p)


@cache
def _catalogue_files() -> dict[str, Path]:
    """BCP 47 tag -> its catalogue, for every folder under app/locales with one."""
    found: dict[str, Path] = {}
    if LOCALES_DIR.is_dir():
        for folder in sorted(LOCALES_DIR.iterdir()):
            po = folder / "LC_MESSAGES" / f"{DOMAIN}.po"
            if not po.is_file():
                continue
            try:
                found[bcp47(Locale.parse(folder.name))] = po
            except (ValueError, UnknownLocaleError):
                continue  # not a locale folder
    return found


def supported_locales() -> tuple[str, ...]:
    """English first, then every catalogue's locale, as BCP 47 tags."""
    return (SOURCE_LOCALE, *sorted(t for t in _catalogue_files() if t != SOURCE_LOCALE))


def normalise_locale(raw: str | None) -> str | None:
    """The supported BCP 47 tag `raw` names, or None. Case and `_`/`-` do not matter (`pt_BR`,
    `pt-br` -> `pt-BR`); a region we have no catalogue for falls back to its bare language when
    we speak that (`en-US` -> `en`), and a bare language to its one supported region (`pt` ->
    `pt-BR`). Another region of a language we speak is not guessed (`pt-PT` -> None)."""
    if raw is None:
        return None
    value = raw.strip().replace("_", "-")
    if not value or len(value) > 35:
        return None
    known = {tag.lower(): tag for tag in supported_locales()}
    if value.lower() in known:
        return known[value.lower()]
    language, _, rest = value.lower().partition("-")
    if rest and language in known:
        return known[language]
    if not rest:
        regional = [tag for low, tag in known.items() if low.split("-")[0] == language]
        if len(regional) == 1:
            return regional[0]
    return None


@cache
def _zones() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def normalise_time_zone(raw: str | None) -> str | None:
    """The IANA time zone `raw` names, in its canonical spelling (`america/sao_paulo` ->
    `America/Sao_Paulo`), or None."""
    if raw is None:
        return None
    return _zones().get(raw.strip().lower())


@cache
def translations(locale: str) -> NullTranslations:
    """The catalogue of a supported BCP 47 tag, compiled in memory; English (the source) and
    unknown tags get the messages as written."""
    po = _catalogue_files().get(locale)
    if po is None or locale == SOURCE_LOCALE:
        return NullTranslations()
    with po.open("rb") as file:
        catalog = read_po(file, locale=Locale.parse(locale, sep="-"), domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out: they read as English
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


class Language:
    """How one recipient reads: their locale's words, numbers and money, and dates in their
    time zone. Unknown or unsupported values fall back to English and UTC: a stored preference
    was checked when it was saved, and a message is better sent in English than not at all."""

    def __init__(self, locale: str | None = None, time_zone: str | None = None) -> None:
        self.locale = normalise_locale(locale) or DEFAULT_LOCALE
        self.time_zone = normalise_time_zone(time_zone) or DEFAULT_TIME_ZONE
        self.babel = Locale.parse(self.locale, sep="-")
        self.zone: tzinfo = ZoneInfo(self.time_zone)
        self._catalogue = translations(self.locale)

    def gettext(self, message: str, /, **values: object) -> str:
        """`message` in this language, with `{name}` placeholders filled from `values`."""
        text = self._catalogue.gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        """The form of the message for `n` (this language's plural rule); `{n}` is `n` as this
        locale writes numbers."""
        text = self._catalogue.ngettext(singular, plural, n)
        return text.format(n=self.number(n), **values)

    def pgettext(self, context: str, message: str, /) -> str:
        return self._catalogue.pgettext(context, message)

    def date_time(self, value: datetime) -> str:
        """In the recipient's zone, as the catalogue's pattern says (`28 Nov 2026 14:00 UTC`;
        pt-BR: `28 de nov. de 2026, 11:00 BRT`). Naive datetimes are taken to be UTC."""
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        # Translators: a CLDR date pattern (https://cldr.unicode.org, "Date Field Symbol
        # Table"); keep a time zone field (zzz) so readers know which zone it is.
        pattern = self.pgettext("datetime pattern", "d MMM y HH:mm zzz")
        return babel_datetime(moment, pattern, tzinfo=self.zone, locale=self.babel)

    def number(self, value: int | float | Decimal) -> str:
        return format_decimal(value, locale=self.babel)

    def money(self, amount: Decimal | int | float, currency: str) -> str:
        """`R$ 1.234,56` / `US$ 1.234,56` in pt-BR, `$1,234.56` in English."""
        return format_currency(amount, currency, locale=self.babel)


ENGLISH = Language()


def forget_catalogues() -> None:
    """Read app/locales afresh on next use (a catalogue added or changed while running)."""
    _catalogue_files.cache_clear()
    translations.cache_clear()


def N_(message: str) -> str:
    """Marks a message id for `pybabel extract` where it is defined; `Language.gettext`
    translates it where it is used."""
    return message
