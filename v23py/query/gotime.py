"""Go's reference-time layouts (``Mon Jan 2 15:04:05 -0700 MST 2006``) for syncQL's
``Time()`` (parse) and ``Str()`` (format) functions, and Go's LoadLocation.

Parsing follows Go's rules where they do not depend on the machine: a numeric
offset wins; a zone abbreviation without an offset is UTC for ``UTC``/``GMT``
and otherwise a zone of that name with offset 0 (what Go does when the
abbreviation is not the local zone's).
"""
from __future__ import annotations

import datetime as _dt

from v23py.query.values import GoTime

DEFAULT_LAYOUT = "Mon Jan 2 15:04:05 -0700 MST 2006"
_NS = 1_000_000_000
LONG_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
LONG_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December"]

# layout elements, longest first where one is a prefix of another
_ELEMS = ["January", "Jan", "Monday", "Mon", "MST", "2006", "Z07:00:00", "Z070000", "Z07:00",
          "Z0700", "Z07", "-07:00:00", "-070000", "-07:00", "-0700", "-07", "__2", "002",
          "_2", "01", "02", "03", "04", "05", "06", "15", "PM", "pm", "1", "2", "3", "4", "5"]


def _tokens(layout: str):
    out, lit, i = [], [], 0
    while i < len(layout):
        if layout[i] in ".," and i + 1 < len(layout) and layout[i + 1] in "09":
            j = i + 1
            while j < len(layout) and layout[j] == layout[i + 1]:
                j += 1
            if not (j < len(layout) and layout[j].isdigit()):
                if lit:
                    out.append(("lit", "".join(lit)))
                    lit = []
                out.append(("frac" + layout[i + 1], layout[i:j]))
                i = j
                continue
        for e in _ELEMS:
            if layout.startswith(e, i):
                if e == "Jan" and layout.startswith("January", i):
                    continue
                if e == "Mon" and layout.startswith("Monday", i):
                    continue
                if lit:
                    out.append(("lit", "".join(lit)))
                    lit = []
                out.append(("el", e))
                i += len(e)
                break
        else:
            lit.append(layout[i])
            i += 1
    if lit:
        out.append(("lit", "".join(lit)))
    return out


def _offset_text(off, elem):
    if elem.startswith("Z") and off == 0:
        return "Z"
    sign = "-" if off < 0 else "+"
    off = abs(off)
    h, m, s = off // 3600, off // 60 % 60, off % 60
    e = elem.lstrip("Z-")
    if e == "07":
        return f"{sign}{h:02d}"
    if e == "0700":
        return f"{sign}{h:02d}{m:02d}"
    if e == "07:00":
        return f"{sign}{h:02d}:{m:02d}"
    if e == "070000":
        return f"{sign}{h:02d}{m:02d}{s:02d}"
    return f"{sign}{h:02d}:{m:02d}:{s:02d}"


def format_time(t: GoTime, layout: str) -> str:
    try:
        dt, ns = t.fields()
    except OverflowError:
        return "<time out of range>"
    out = []
    for kind, e in _tokens(layout):
        if kind == "lit":
            out.append(e)
        elif kind.startswith("frac"):
            digits = len(e) - 1
            frac = f"{ns:09d}"[:digits]
            if kind == "frac9":
                frac = frac.rstrip("0")
                out.append(e[0] + frac if frac else "")
            else:
                out.append(e[0] + frac)
        elif e == "January":
            out.append(LONG_MONTHS[dt.month - 1])
        elif e == "Jan":
            out.append(LONG_MONTHS[dt.month - 1][:3])
        elif e == "Monday":
            out.append(LONG_DAYS[(dt.weekday() + 1) % 7])
        elif e == "Mon":
            out.append(LONG_DAYS[(dt.weekday() + 1) % 7][:3])
        elif e == "MST":
            out.append(t.zone if t.zone else _offset_text(t.offset, "-0700"))
        elif e == "2006":
            out.append(f"{dt.year:04d}")
        elif e == "06":
            out.append(f"{dt.year % 100:02d}")
        elif e == "1":
            out.append(str(dt.month))
        elif e == "01":
            out.append(f"{dt.month:02d}")
        elif e == "2":
            out.append(str(dt.day))
        elif e == "_2":
            out.append(f"{dt.day:2d}")
        elif e == "02":
            out.append(f"{dt.day:02d}")
        elif e == "__2":
            out.append(f"{dt.timetuple().tm_yday:3d}")
        elif e == "002":
            out.append(f"{dt.timetuple().tm_yday:03d}")
        elif e == "15":
            out.append(f"{dt.hour:02d}")
        elif e in ("3", "03"):
            h = dt.hour % 12 or 12
            out.append(str(h) if e == "3" else f"{h:02d}")
        elif e in ("4", "04"):
            out.append(str(dt.minute) if e == "4" else f"{dt.minute:02d}")
        elif e in ("5", "05"):
            out.append(str(dt.second) if e == "5" else f"{dt.second:02d}")
        elif e in ("PM", "pm"):
            pm = dt.hour >= 12
            out.append(("PM" if pm else "AM") if e == "PM" else ("pm" if pm else "am"))
        else:
            out.append(_offset_text(t.offset, e))
    return "".join(out)


class TimeParseError(ValueError):
    pass


def _num(s, i, minw, maxw):
    j = i
    while j < len(s) and j - i < maxw and s[j].isascii() and s[j].isdigit():
        j += 1
    if j - i < minw:
        raise ValueError
    return int(s[i:j]), j


def parse_time(layout: str, value: str) -> GoTime:
    def fail(rest, elem):
        raise TimeParseError(f'parsing time "{value}" as "{layout}": cannot parse '
                             f'"{rest}" as "{elem}"')
    year, month, day, hour, minute, sec, ns = 1, 1, 1, 0, 0, 0, 0
    pm = None
    off = None
    zone = None
    i = 0
    for kind, e in _tokens(layout):
        rest = value[i:]
        try:
            if kind == "lit":
                if not value.startswith(e, i):
                    fail(rest, e)
                i += len(e)
            elif kind.startswith("frac"):
                if kind == "frac9" and not value.startswith(e[0], i):
                    continue
                if not value.startswith(e[0], i):
                    fail(rest, e)
                j = i + 1
                while j < len(value) and value[j].isdigit():
                    j += 1
                digits = value[i + 1:j]
                if kind == "frac0" and len(digits) != len(e) - 1:
                    fail(rest, e)
                ns = int((digits + "000000000")[:9]) if digits else 0
                i = j
            elif e in ("January", "Jan"):
                names = LONG_MONTHS if e == "January" else [m[:3] for m in LONG_MONTHS]
                for k, nm in enumerate(names):
                    if value[i:i + len(nm)].lower() == nm.lower():
                        month, i = k + 1, i + len(nm)
                        break
                else:
                    fail(rest, e)
            elif e in ("Monday", "Mon"):
                names = LONG_DAYS if e == "Monday" else [d[:3] for d in LONG_DAYS]
                for nm in names:
                    if value[i:i + len(nm)].lower() == nm.lower():
                        i += len(nm)
                        break
                else:
                    fail(rest, e)
            elif e == "2006":
                year, i = _num(value, i, 4, 4)
            elif e == "06":
                yy, i = _num(value, i, 2, 2)
                year = yy + (1900 if yy >= 69 else 2000)
            elif e in ("1", "01"):
                month, i = _num(value, i, 1 if e == "1" else 2, 2)
            elif e in ("2", "02", "_2"):
                if e == "_2" and value[i:i + 1] == " ":
                    i += 1
                day, i = _num(value, i, 1 if e != "02" else 2, 2)
            elif e in ("__2", "002"):
                while e == "__2" and value[i:i + 1] == " ":
                    i += 1
                _, i = _num(value, i, 1, 3)
            elif e == "15":
                hour, i = _num(value, i, 1, 2)
            elif e in ("3", "03"):
                hour, i = _num(value, i, 1 if e == "3" else 2, 2)
                if hour > 12:
                    fail(rest, e)
            elif e in ("4", "04"):
                minute, i = _num(value, i, 1 if e == "4" else 2, 2)
            elif e in ("5", "05"):
                sec, i = _num(value, i, 1 if e == "5" else 2, 2)
                if value[i:i + 1] == "." and i + 1 < len(value) and value[i + 1].isdigit():
                    j = i + 1
                    while j < len(value) and value[j].isdigit():
                        j += 1
                    ns = int((value[i + 1:j] + "000000000")[:9])
                    i = j
            elif e in ("PM", "pm"):
                w = value[i:i + 2].upper()
                if w not in ("AM", "PM"):
                    fail(rest, e)
                pm = w == "PM"
                i += 2
            elif e == "MST":
                if value.startswith("UTC", i):
                    zone, i = "UTC", i + 3
                else:
                    j = i
                    while j < len(value) and value[j].isascii() and value[j].isupper():
                        j += 1
                    if j - i < 3:
                        fail(rest, e)
                    zone, i = value[i:j], j
            else:
                if e.startswith("Z") and value[i:i + 1] == "Z":
                    off, i = 0, i + 1
                    continue
                sign = value[i:i + 1]
                if sign not in ("+", "-"):
                    fail(rest, e)
                body = e.lstrip("Z-")
                j = i + 1
                h, j = _num(value, j, 2, 2)
                m = s2 = 0
                if body in ("07:00", "07:00:00"):
                    if value[j:j + 1] != ":":
                        fail(rest, e)
                    m, j = _num(value, j + 1, 2, 2)
                elif body in ("0700", "070000"):
                    m, j = _num(value, j, 2, 2)
                if body == "07:00:00":
                    if value[j:j + 1] != ":":
                        fail(rest, e)
                    s2, j = _num(value, j + 1, 2, 2)
                elif body == "070000":
                    s2, j = _num(value, j, 2, 2)
                off = (h * 3600 + m * 60 + s2) * (-1 if sign == "-" else 1)
                i = j
        except ValueError as ex:
            if isinstance(ex, TimeParseError):
                raise
            fail(rest, e)
    if i != len(value):
        raise TimeParseError(f'parsing time "{value}": extra text: "{value[i:]}"')
    if pm is not None:
        if pm and hour < 12:
            hour += 12
        elif not pm and hour == 12:
            hour = 0
    try:
        base = _dt.datetime(year, month, day, hour, minute, sec)
    except ValueError:
        raise TimeParseError(f'parsing time "{value}": day out of range') from None
    wall = int((base - _dt.datetime(1970, 1, 1)).total_seconds())
    if off is None:
        off = 0
        zone = zone or "UTC"
        if zone == "GMT":
            zone = "GMT"
    elif zone is None:
        zone = ""
    return GoTime((wall - off) * _NS + ns, off, zone)


def load_location(name: str):
    """(tzinfo, name) as Go's time.LoadLocation; raises ValueError('unknown time zone X')."""
    if name in ("", "UTC"):
        return _dt.timezone.utc, "UTC"
    if name == "Local":
        return _dt.timezone.utc, "Local"
    try:
        import zoneinfo
        return zoneinfo.ZoneInfo(name), name
    except Exception:
        raise ValueError(f"unknown time zone {name}") from None
