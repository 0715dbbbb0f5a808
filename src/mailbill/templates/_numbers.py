"""Number patterns prepared once per locale, for the ``money``, ``number`` and ``percent`` filters.

``babel.numbers.format_currency`` parses its locale and pattern, and looks up
the locale's symbols, again on every call: most of its cost for an invoice
that formats twenty amounts. :class:`PreparedNumber` does that work once and
then runs the same steps as babel's ``NumberPattern.apply`` on each value, so
the text is identical (``tests/templates/test_numbers.py`` compares them over
random values, locales, currencies and patterns). Patterns whose output
depends on more than the digits (scientific notation, significant digits,
plural currency names, quoted text) are left to babel's ``apply`` itself.
"""

from __future__ import annotations

from decimal import Decimal

from babel import Locale
from babel.numbers import NumberPattern, get_currency_precision, get_decimal_quantum, parse_pattern

__all__ = ["NumberFormats", "PreparedNumber"]

_Number = int | float | Decimal


class PreparedNumber:
    """One number pattern for one locale (and currency), ready to format values.

    Args:
        pattern: The parsed babel pattern.
        locale: The locale whose symbols are used.
        currency: The upper-case currency code for money, ``None`` for plain numbers.
    """

    __slots__ = (
        "_currency",
        "_decimal",
        "_frac",
        "_group",
        "_grouping",
        "_infinity",
        "_int_min",
        "_locale",
        "_pattern",
        "_prefix",
        "_quantum",
        "_scale",
        "_suffix",
        "fast",
    )

    def __init__(self, pattern: NumberPattern, locale: Locale, currency: str | None) -> None:
        self._pattern = pattern
        self._locale = locale
        self._currency = currency
        self._scale = pattern.scale
        self._frac: tuple[int, int] = (
            (get_currency_precision(currency),) * 2 if currency else tuple(pattern.frac_prec)  # type: ignore[assignment]
        )
        self._quantum = get_decimal_quantum(self._frac[1])
        self._int_min: int = pattern.int_prec[0]
        self._grouping: tuple[int, int] = tuple(pattern.grouping)  # type: ignore[assignment]
        symbols = locale.number_symbols.get("latn")
        self._group = "" if symbols is None else symbols.get("group", ",")
        self._decimal = "" if symbols is None else symbols.get("decimal", ".")
        self._infinity = "" if symbols is None else symbols.get("infinity", "∞")
        self._prefix = tuple(self._affix(text) for text in pattern.prefix)
        self._suffix = tuple(self._affix(text) for text in pattern.suffix)
        # Anything babel would post-process over the whole text (quotes, the
        # currency sign, a value-dependent currency name) goes through babel.
        pieces = (self._group, self._decimal, self._infinity, *self._prefix, *self._suffix)
        self.fast = (
            symbols is not None
            and not pattern.exp_prec
            and "@" not in pattern.pattern
            and pattern.number_pattern != ""
            and not any("'" in piece or "¤" in piece for piece in pieces)
        )

    def _affix(self, text: str) -> str:
        if self._currency is None or "¤" not in text or "¤¤¤" in text:
            return text
        symbol = self._locale.currency_symbols.get(self._currency, self._currency)
        return text.replace("¤¤", self._currency).replace("¤", symbol)

    def format(self, number: _Number) -> str:
        """Format ``number`` exactly as babel's ``format_currency``/``format_decimal`` would."""
        if not self.fast:
            result: str = self._pattern.apply(number, self._locale, currency=self._currency)
            return result
        # The same Decimal steps as NumberPattern.apply, in the same (thread's) context.
        value = number if isinstance(number, Decimal) else Decimal(str(number))
        value = value.scaleb(self._scale)
        negative = int(value.is_signed())
        value = abs(value).normalize()
        if value.is_infinite():
            digits = self._infinity
        else:
            whole, _, frac = f"{value.quantize(self._quantum):f}".partition(".")
            if len(whole) < self._int_min:
                whole = "0" * (self._int_min - len(whole)) + whole
            size, grouped = self._grouping[0], ""
            while len(whole) > size:
                grouped = self._group + whole[-size:] + grouped
                whole = whole[:-size]
                size = self._grouping[1]
            digits = whole + grouped + self._fraction(frac or "0")
        return self._prefix[negative] + digits + self._suffix[negative]

    def _fraction(self, value: str) -> str:
        low, high = self._frac
        if len(value) < low:
            value += "0" * (low - len(value))
        if high == 0 or (low == 0 and int(value) == 0):
            return ""
        while len(value) > low and value[-1] == "0":
            value = value[:-1]
        return self._decimal + value


class NumberFormats:
    """The prepared patterns of one locale, made on first use (a bounded cache).

    Args:
        locale: The locale.
        limit: The most patterns kept; further ones are prepared for each use.
    """

    __slots__ = ("_cache", "_limit", "locale")

    def __init__(self, locale: Locale, *, limit: int = 256) -> None:
        self.locale = locale
        self._cache: dict[tuple[str, str | None, str | None], PreparedNumber] = {}
        self._limit = limit

    def get(self, kind: str, currency: str | None, format: str | None) -> PreparedNumber | None:
        """The prepared pattern for ``kind`` (``"money"``, ``"number"``, ``"percent"``), if known."""
        return self._cache.get((kind, currency, format))

    def get_or_prepare(self, kind: str, currency: str | None, format: str | None) -> PreparedNumber:
        """The prepared pattern, prepared now if it is not known yet."""
        return self._cache.get((kind, currency, format)) or self.prepare(kind, currency, format)

    def prepare(self, kind: str, currency: str | None, format: str | None) -> PreparedNumber:
        """Parse and prepare the pattern (the locale's own for ``kind`` when ``format`` is empty)."""
        if format:
            pattern = parse_pattern(format)
        elif kind == "money":
            pattern = self.locale.currency_formats["standard"]
        elif kind == "percent":
            pattern = self.locale.percent_formats[None]
        else:
            pattern = self.locale.decimal_formats[None]
        prepared = PreparedNumber(pattern, self.locale, currency)
        # Dict operations are atomic, so threads rendering at once at worst prepare twice.
        if len(self._cache) < self._limit:
            self._cache[(kind, currency, format)] = prepared
        return prepared
