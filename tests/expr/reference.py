"""CPython reference for Ivory's transform expressions (docs/transforms.md).

eval() with an empty __builtins__ plus the allow-list and the date helpers defined below,
`value` and `row` as the only other names. tests/expr/difftest.py compares this with
`ivory expr --batch`.
"""
from datetime import datetime, timezone

_DIRECTIVES = set("YymdHMSfjz%")


def _utc(s):
    if not isinstance(s, str):
        raise TypeError("fromisoformat: argument must be str")
    d = datetime.fromisoformat(s)
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.astimezone(timezone.utc)


def parse_datetime(s):
    """ISO-8601 text -> the same instant as UTC ISO-8601 text ('...+00:00')."""
    return _utc(s).isoformat()


def parse_date(s):
    """ISO-8601 text -> its UTC calendar date, 'YYYY-MM-DD'."""
    return _utc(s).date().isoformat()


def to_epoch(s):
    """ISO-8601 text -> seconds since 1970-01-01T00:00:00Z as a float."""
    return _utc(s).timestamp()


def format_datetime(s, fmt):
    """ISO-8601 text (as UTC) formatted with strftime directives %Y %y %m %d %H %M %S %f %j %z %%."""
    if not isinstance(fmt, str):
        raise TypeError("format must be str")
    d = _utc(s)
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            if fmt[i + 1] not in _DIRECTIVES:
                raise ValueError("directive not supported")
            i += 2
        else:
            i += 1
    return d.strftime(fmt)


ALLOWED = {
    "str": str, "int": int, "float": float, "bool": bool, "len": len, "abs": abs,
    "round": round, "min": min, "max": max, "sum": sum, "sorted": sorted,
    "parse_datetime": parse_datetime, "parse_date": parse_date, "to_epoch": to_epoch,
    "format_datetime": format_datetime,
}


def evaluate(expr, value=None, row=None):
    env = {"__builtins__": {}}
    env.update(ALLOWED)
    return eval(expr, env, {"value": value, "row": row})


def typed(v):
    """The typed form `ivory expr --batch` prints (see src/transform/transform.h)."""
    if v is None:
        return ["N"]
    if isinstance(v, bool):
        return ["B", v]
    if isinstance(v, int):
        return ["I", str(v)]
    if isinstance(v, float):
        return ["F", repr(v)]
    if isinstance(v, str):
        return ["S", v]
    if isinstance(v, list):
        return ["L", [typed(x) for x in v]]
    if isinstance(v, tuple):
        return ["T", [typed(x) for x in v]]
    if isinstance(v, dict):
        return ["D", [[typed(k), typed(x)] for k, x in v.items()]]
    raise TypeError("result type %s is outside the language" % type(v).__name__)
