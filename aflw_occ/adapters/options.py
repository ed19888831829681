"""The ``key=value`` options of a model spec (``KIND:PATH,key=value,...``): each adapter declares its options as
:class:`Option` (name, help text, parser), and the registry parses every spec with them, so a bad value is one error
naming the option, the value and what it must be, whatever the adapter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import PredictionError


@dataclass(frozen=True)
class Option:
    """One ``key=value`` option of a model spec.

    Attributes:
        name: the key.
        help: what it sets, one sentence (the README table and ``--model`` help show it).
        parse: text → value; raises ``ValueError`` whose message says what the value must be ("a positive
            integer"). Default: the text itself.
        metavar: how the value is written in the help (``N``, ``DIR``, ...); from ``choices`` when they are given.
        choices: the allowed values (checked, lower-cased), if the option is a choice.
        default: the value used when the option is absent, as shown in the help (None: none or not fixed).
    """

    name: str
    help: str
    parse: Callable[[str], Any] = str
    metavar: str = "VALUE"
    choices: tuple[str, ...] = ()
    default: str | None = None

    @property
    def shown(self) -> str:
        """``name=METAVAR`` or ``name=a|b|c``."""
        return f"{self.name}={'|'.join(self.choices) if self.choices else self.metavar}"

    def convert(self, value: str) -> Any:
        """The parsed value; ``ValueError`` saying what the value must be."""
        if self.choices:
            v = value.strip().lower()
            if v not in self.choices:
                raise ValueError(f"one of {', '.join(self.choices)}")
            return self.parse(v)
        return self.parse(value)


def parse_options(text: str) -> dict[str, str]:
    """``"a=1,b=x"`` → ``{"a": "1", "b": "x"}`` (``-`` in a key read as ``_``); :class:`PredictionError` on an item
    that is not ``key=value``."""
    opts: dict[str, str] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        if "=" not in item:
            raise PredictionError(f"option '{item}' is not key=value")
        k, v = item.split("=", 1)
        opts[k.strip().replace("-", "_")] = v.strip()
    return opts


def convert_options(declared: tuple[Option, ...], given: dict[str, str], where: str) -> dict[str, Any]:
    """Check and parse ``given`` (from :func:`parse_options`) against the ``declared`` options.

    :class:`PredictionError` (prefixed by ``where``) for an unknown key (listing the known ones) or a bad value
    (naming the key, the value, what it must be and the option's help).
    """
    known = {o.name: o for o in declared}
    unknown = sorted(set(given) - set(known))
    if unknown:
        names = ", ".join(known) if known else "none"
        raise PredictionError(f"{where}: unknown option(s) {', '.join(unknown)} (options: {names})")
    out: dict[str, Any] = {}
    for key, text in given.items():
        opt = known[key]
        try:
            out[key] = opt.convert(text)
        except ValueError as exc:
            raise PredictionError(f"{where}: {key}={text} is invalid: {key} must be {exc} ({opt.help})") from None
    return out


# parsers ------------------------------------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    """``"120"`` → 120; ValueError for anything but a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError("a positive integer") from None
    if value <= 0:
        raise ValueError("a positive integer")
    return value


def floats(text: str) -> float | tuple[float, ...]:
    """``"127.5"`` → 127.5; ``"0.5/0.5/0.5"`` (or ``:``-separated) → a tuple, one value per channel."""
    parts = text.replace(":", "/").split("/")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError("a number or three numbers a/b/c") from None
    if len(values) not in (1, 3):
        raise ValueError("a number or three numbers a/b/c")
    return values[0] if len(values) == 1 else tuple(values)


def flag(text: str) -> bool:
    """``1``/``true``/``yes`` → True, ``0``/``false``/``no`` → False."""
    v = text.strip().lower()
    if v in ("1", "true", "yes"):
        return True
    if v in ("0", "false", "no"):
        return False
    raise ValueError("one of 1, true, yes, 0, false, no")
