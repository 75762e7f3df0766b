"""Explanations of detections in French and English, with numbers and units."""

from __future__ import annotations

import math
from dataclasses import dataclass

WEEKDAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class Subject:
    """What a sentence talks about: the sensor's name and its kind's titles and unit."""

    name: str
    title_fr: str
    title_en: str
    unit: str


def number_fr(value: float, digits: int = 1) -> str:
    """A number the French way: decimal comma, narrow no-break space between thousands.

    Examples
    --------
    >>> number_fr(1234.56)
    '1\u202f234,6'
    >>> number_fr(-3.0)
    '-3'
    """
    return _number(value, digits).replace(",", "\u202f").replace(".", ",")


def number_en(value: float, digits: int = 1) -> str:
    """A number the English way.

    Examples
    --------
    >>> number_en(1234.56)
    '1,234.6'
    """
    return _number(value, digits)


def _number(value: float, digits: int) -> str:
    if not math.isfinite(value):
        return str(value)
    text = f"{value:,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def duration_fr(seconds: float) -> str:
    """A duration in words, French.

    Examples
    --------
    >>> duration_fr(5400)
    '1 h 30 min'
    >>> duration_fr(172800)
    '2 j'
    """
    return _duration(seconds, "j", "h", "min")


def duration_en(seconds: float) -> str:
    """A duration in words, English.

    Examples
    --------
    >>> duration_en(5400)
    '1 h 30 min'
    >>> duration_en(90000)
    '1 d 1 h'
    """
    return _duration(seconds, "d", "h", "min")


def _duration(seconds: float, day: str, hour: str, minute: str) -> str:
    total_min = int(round(seconds / 60))
    days, rest = divmod(total_min, 1440)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} {day}")
    if hours:
        parts.append(f"{hours} {hour}")
    if minutes and not days:
        parts.append(f"{minutes} {minute}")
    return " ".join(parts) or f"0 {minute}"


def slot_label(slot: int, slot_s: int) -> tuple[str, str]:
    """The weekday and time a profile slot starts at (slot 0 = Monday 00:00).

    Examples
    --------
    >>> slot_label(27, 3600)
    ('mardi 03:00', 'Tuesday 03:00')
    """
    start_s = slot * slot_s
    day, rest = divmod(start_s, 86400)
    hhmm = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}"
    return f"{WEEKDAYS_FR[day % 7]} {hhmm}", f"{WEEKDAYS_EN[day % 7]} {hhmm}"


def _lower_first(text: str) -> str:
    """Lower-case the first letter, unless the text starts with an acronym (NO2, PM10, WHO)."""
    return text if text[:2].isupper() else text[:1].lower() + text[1:]


def threshold(
    subject: Subject,
    *,
    value: float,
    limit: float,
    direction: str,
    averaging_s: int,
    held_s: float,
    label_fr: str,
    label_en: str,
) -> tuple[str, str]:
    """Examples
    --------
    >>> fr, en = threshold(Subject("no2-1", "Dioxyde d'azote (NO2)", "Nitrogen dioxide (NO2)", "µg/m³"),
    ...     value=412.0, limit=400, direction="above", averaging_s=3600, held_s=10800,
    ...     label_fr="Seuil d'alerte NO2", label_en="NO2 alert threshold")
    >>> en
    'Nitrogen dioxide (NO2) at no2-1: 1 h mean 412 µg/m³, above the NO2 alert threshold (400 µg/m³) for 3 h'
    """
    u = subject.unit
    mean_fr = f"moyenne sur {duration_fr(averaging_s)} " if averaging_s else ""
    mean_en = f"{duration_en(averaging_s)} mean " if averaging_s else ""
    side_fr = "au-dessus du" if direction == "above" else "en dessous du"
    side_en = "above the" if direction == "above" else "below the"
    fr = (
        f"{subject.title_fr} à {subject.name} : {mean_fr}{number_fr(value)} {u}, {side_fr} "
        f"{_lower_first(label_fr)} ({number_fr(limit)} {u}) depuis {duration_fr(held_s)}"
    )
    en = (
        f"{subject.title_en} at {subject.name}: {mean_en}{number_en(value)} {u}, {side_en} "
        f"{_lower_first(label_en)} ({number_en(limit)} {u}) for {duration_en(held_s)}"
    )
    return fr, en


def rate(subject: Subject, *, previous: float, value: float, dt_s: float, typical: float) -> tuple[str, str]:
    """Examples
    --------
    >>> rate(Subject("T1", "Niveau de réservoir", "Tank level", "m"), previous=3.2, value=0.4, dt_s=300,
    ...      typical=0.05)[1]
    'Tank level at T1 jumped from 3.2 to 0.4 m in 5 min (change -2.8 m; typical change ±0.05 m)'
    """
    u = subject.unit
    change = value - previous
    fr = (
        f"{subject.title_fr} à {subject.name} : saut de {number_fr(previous)} à {number_fr(value)} {u} "
        f"en {duration_fr(dt_s)} (variation {number_fr(change, 2)} {u} ; "
        f"variation habituelle ±{number_fr(typical, 2)} {u})"
    )
    en = (
        f"{subject.title_en} at {subject.name} jumped from {number_en(previous)} to {number_en(value)} {u} "
        f"in {duration_en(dt_s)} (change {number_en(change, 2)} {u}; typical change ±{number_en(typical, 2)} {u})"
    )
    return fr, en


def flatline(subject: Subject, *, value: float, held_s: float, expected_interval_s: int) -> tuple[str, str]:
    """Examples
    --------
    >>> flatline(Subject("p227", "Débit d'eau", "Water flow", "m³/h"), value=88.1, held_s=7200,
    ...          expected_interval_s=300)[0]
    "Débit d'eau à p227 : même valeur 88,1 m³/h depuis 2 h (25 relevés identiques) ; capteur bloqué ?"
    """
    count = int(held_s // expected_interval_s) + 1
    fr = (
        f"{subject.title_fr} à {subject.name} : même valeur {number_fr(value)} {subject.unit} depuis "
        f"{duration_fr(held_s)} ({count} relevés identiques) ; capteur bloqué ?"
    )
    en = (
        f"{subject.title_en} at {subject.name}: same value {number_en(value)} {subject.unit} for "
        f"{duration_en(held_s)} ({count} identical readings); stuck sensor?"
    )
    return fr, en


def gap(subject: Subject, *, silent_s: float, expected_interval_s: int, ongoing: bool) -> tuple[str, str]:
    """Examples
    --------
    >>> gap(Subject("T1", "Niveau de réservoir", "Tank level", "m"), silent_s=3600, expected_interval_s=300,
    ...     ongoing=True)[1]
    'Tank level at T1: no reading for 1 h (one expected every 5 min)'
    """
    verb_fr = "aucun relevé depuis" if ongoing else "aucun relevé pendant"
    verb_en = "no reading for"
    fr = (
        f"{subject.title_fr} à {subject.name} : {verb_fr} {duration_fr(silent_s)} "
        f"(un attendu toutes les {duration_fr(expected_interval_s)})"
    )
    en = (
        f"{subject.title_en} at {subject.name}: {verb_en} {duration_en(silent_s)} "
        f"(one expected every {duration_en(expected_interval_s)})"
    )
    return fr, en


def anomaly(
    subject: Subject,
    *,
    value: float,
    expected: float,
    z: float,
    slot: int,
    slot_s: int,
    window_s: int,
) -> tuple[str, str]:
    """Examples
    --------
    >>> fr, en = anomaly(Subject("p227", "Débit d'eau", "Water flow", "m³/h"), value=41.4, expected=30.0,
    ...                  z=5.2, slot=27, slot_s=3600, window_s=3600)
    >>> fr
    "débit d'eau à p227 38 % au-dessus de son profil du mardi 03:00 (moyenne sur 1 h 41,4 m³/h, attendu 30 m³/h, écart robuste 5,2)"
    >>> en
    'water flow at p227 38% above its Tuesday 03:00 profile (1 h mean 41.4 m³/h, expected 30 m³/h, robust z 5.2)'
    """
    u = subject.unit
    when_fr, when_en = slot_label(slot, slot_s)
    if abs(expected) > 1e-9:
        pct = round(abs(value - expected) / abs(expected) * 100)
        side_fr = "au-dessus de" if value >= expected else "en dessous de"
        side_en = "above" if value >= expected else "below"
        head_fr = f"{pct} % {side_fr}"
        head_en = f"{pct}% {side_en}"
    else:
        head_fr = "au-dessus de" if value >= expected else "en dessous de"
        head_en = "above" if value >= expected else "below"
    fr = (
        f"{_lower_first(subject.title_fr)} à {subject.name} {head_fr} son profil du {when_fr} "
        f"(moyenne sur {duration_fr(window_s)} {number_fr(value)} {u}, attendu {number_fr(expected)} {u}, "
        f"écart robuste {number_fr(z)})"
    )
    en = (
        f"{_lower_first(subject.title_en)} at {subject.name} {head_en} its {when_en} profile "
        f"({duration_en(window_s)} mean {number_en(value)} {u}, expected {number_en(expected)} {u}, "
        f"robust z {number_en(z)})"
    )
    return fr, en
