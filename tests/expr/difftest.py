#!/usr/bin/python3
"""Differential test: Ivory's transform language against CPython.

Generates (expression, value, row) cases over the whole documented subset from a seed,
evaluates each with Debian's python3 (reference.py: eval with an empty __builtins__ plus
the allow-list) and with `ivory expr --batch`, and requires identical results: the same
type and value, or both an error. Prints the mismatches and exits 1 if there is any.

    tests/expr/difftest.py --ivory ./ivory --seed 1 --count 5000      (CI)
    make expr-diff-random                                              (larger, random seed)
"""
import argparse
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402

# Cases the issue names explicitly: always part of the corpus.
FIXED = [
    "round(2.5)", "round(3.5)", "round(-2.5)", "round(0.5)", "-7 // 2", "-7 % 2", "7 // -2",
    "7 % -2", "-7.5 // 2", "-7.5 % 2", "'İ'.lower()", "'ß'.upper()", "'abc'[-10:10]",
    "'abc'[5:]", "'abc'[::-1]", "str(0.1 + 0.2)", "10**20", "2**100", "-2**63", "1/3",
    "round(2.675, 2)", "round(1234.5678, -2)", "round(-0.4)", "round(0.5, 0)", "1e16", "1e-5",
    "0.0001", "123456789012345678.0", "float('inf')", "-float('inf')", "float('nan') == "
    "float('nan')", "f'{3.14159:.2f}'", "f'{1234567:,}'", "f'{value!r}'", "f'{0.1:.20f}'",
    "f'{1e100:g}'", "f'{255:#x}'", "f'{-42:08d}'", "f'{\"ab\":*^7}'", "'ǅ'.lower()",
    "'ǆ'.title()", "'ﬁ'.upper()", "'ΑΣ'.lower()", "'straße'.title()", "\"they're\".title()",
    "10**20 / 3", "(10**30 + 1) / 7", "2**1000 // 3**200", "int(-3.9)", "int('0x1f', 16)",
    "int('0b101', 0)", "float('  1_000.5 ')", "1 < 2 < 3", "1 < 3 < 2", "not None",
    "None or 0 or '' or 'x'", "1 and [] and 3", "abs(-0.0)", "min([])", "max('abc')",
    "sum([0.1] * 10)", "sorted('hello')", "len('😀ab')", "'😀ab'[0]", "'a😀b'[::-1]",
    "'x' in 'xyz'", "1 in [1.0]", "True + True", "{1: 'a', True: 'b'}", "(1,)", "()",
    "value.strip().lower()", "row.get('missing', 'dflt')", "row['a'] * 2", "row['nope']",
    "parse_datetime('2024-02-29T23:59:59.5-01:30')", "to_epoch('1970-01-01T00:00:01Z')",
    "parse_date('2024-01-01T00:30:00+01:00')", "format_datetime('2024-03-05T06:07:08Z', "
    "'%Y/%m/%d %H:%M:%S %j')", "parse_datetime('2024-02-30')",
]

INTS = [0, 1, -1, 2, 3, 7, -7, 10, 42, -42, 100, 255, 1000, 12345, -99999, 2**31, 2**53 + 1,
        2**63, -2**63, 10**20, -10**18, 123456789012345678901234567890, 2**63 - 1, -2**63 - 1,
        2**31 - 1, -2**31, 3037000500, -3037000499, 2**62]

# Ints at the edges of the evaluator's int64 fast paths (and of int32, and of exact doubles):
# every operator and conversion on them, fixed, so an overflow slip cannot hide in the random
# draw.
EDGES = [2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**62, 2**31 - 1, 2**31, -2**31, -2**31 - 1,
         2**53, 2**53 + 1, -2**53 - 1, 3037000499, 3037000500, -3037000500, 2**64, 257, -6]
EDGE_RHS = ["-1", "1", "2", "-3", "7", "0", "2**63 - 1", "-2**63", "2**31", "0.5",
            "9.223372036854775807e18", "-9.223372036854776e18", "2.0**53", "1e19"]
EDGE_UNARY = ["-{a}", "~{a}", "+{a}", "abs({a})", "round({a})", "round({a}, -2)", "int({a})",
              "float({a})", "str({a})", "int(str({a}))", "int(float({a}))", "f'{{{a}:d}}'",
              "f'{{{a}:,}}'", "f'{{{a}:x}}'", "f'{{{a}:#b}}'", "f'{{{a}:+025_d}}'",
              "f'{{{a}:.3e}}'", "f'{{{a}!r:>30}}'", "{a} == float({a})", "{a} < float({a})",
              "{a} > float({a})", "round({a} / 10)", "value + {a}", "value * {a}",
              "row['n'] - {a}", "[{a}, -{a}]", "{{{a}: 1}}.get({a})", "{a} in [{a} + 0.0]"]


def edge_cases():
    out = []
    for a in EDGES:
        x = "(%d)" % a
        for b in EDGE_RHS:
            for op in ["+", "-", "*", "//", "%", "/", "&", "|", "^", "<", "==", ">=", "<<",
                       ">>", "**"]:
                if op in ("<<", "**") and b not in ("-1", "1", "2", "-3", "7", "0"):
                    continue   # 2**63 << 2**63: MemoryError in CPython, LimitError here
                out.append(("%s %s (%s)" % (x, op, b), 7))
        out += [(u.format(a=x), v) for u in EDGE_UNARY for v in (7, 2**63 - 1)]
    return out
FLOATS = [0.0, -0.0, 0.1, 0.2, 0.5, 1.5, 2.5, -2.5, 3.14159, 2.675, 1e16, 1e-7, 1e100,
          -1e-300, 123.456, 1 / 3, 100.0, 9.995, 0.125, 5e-324, 1.7976931348623157e308]
STRS = ["", "a", "abc", "Hello World", "  padded  ", "a,b,,c", "MiXeD CaSe", "straße", "İ",
        "ß", "ǅ", "ΑΣ", "ΟΔΥΣΣΕΥΣ", "ﬁnance", "😀 smile", "they're here", "x1y2z3",
        "\ttab\n", "42", " -17 ", "3.5", "1e3", "0x1F", "nan", "inf", "1_000", "ĳssel",
        "élan vital", "ÀÉÎÕÜ", "abcabcabc", "2024-01-02", "2024-01-02T03:04:05Z",
        "2024-06-30T23:59:59.999999+05:30", "2024-13-01", "not a date", "ABC_def-ghi"]
DATES = ["2024-01-02", "2024-01-02T03:04:05Z", "2024-01-02 03:04", "1999-12-31T23:59:59-08:00",
         "2024-02-29T12:00:00.25+01:00", "2000-01-01T00:00:00.000001", "2024-13-01",
         "2024-02-30", "garbage", "2024-01-02T25:00:00", "2024-06-30T23:59:59.999999+05:30",
         "2024-01-02T03", "1970-01-01T00:00:00+00:00"]
FORMATS = ["%Y-%m-%d", "%d/%m/%y", "%H:%M:%S.%f", "%j", "%Y%m%dT%H%M%S%z", "100%%", "%A"]
SPECS = ["", ">8", "<8", "^9", "*^9", "=+8", "+", " ", "08", ".2f", ".0f", ",.2f", "_", ",",
         ".3e", ".2E", ".3g", ".10g", "g", "%", ".1%", "x", "#x", "X", "#o", "b", "#b", "d",
         "08.3f", ".3", ".1", "s", ">4s", ".2s", "c", "10,", "z.1f", "-^10.3", "_x", "e",
         "#.0f", "#g", "012,", "+.2e", "n"]
KEYS = ["a", "b", "name", "n", "x", "missing"]


class Gen:
    def __init__(self, rnd):
        self.r = rnd

    def choice(self, xs):
        return self.r.choice(xs)

    def lit_int(self):
        return repr(self.choice(INTS))

    def lit_float(self):
        f = self.choice(FLOATS + [round(self.r.uniform(-1000, 1000), self.r.randint(0, 4))])
        return repr(f) if f == f and abs(f) != float("inf") else "float('inf')"

    def lit_str(self):
        return repr(self.choice(STRS))

    def small(self):
        return str(self.r.randint(-12, 12))

    def num(self, d):
        k = self.r.randint(0, 9 if d > 0 else 4)
        if k <= 1:
            return self.lit_int()
        if k == 2:
            return self.lit_float()
        if k == 3:
            return self.choice(["value", "row['n']", "row['x']", "True", "False"])
        if k == 4:
            return self.small()
        if k == 5:
            op = self.choice(["+", "-", "*", "/", "//", "%"])
            return "(%s %s %s)" % (self.num(d - 1), op, self.num(d - 1))
        if k == 6:
            return "(%s ** %s)" % (self.choice([self.lit_int(), self.lit_float(), self.small()]),
                                   self.choice(["0", "1", "2", "3", "-1", "-2", "0.5", "10",
                                                "40", "self"]).replace("self", self.small()))
        if k == 7:
            f = self.choice(["abs(%s)", "round(%s)", "round(%s, %s)", "int(%s)", "float(%s)",
                             "-%s", "+%s", "~%s", "len(%s)"])
            if f == "len(%s)":
                return f % self.string(d - 1)
            if "%s, %s" in f:
                return f % (self.num(d - 1), self.choice(["0", "1", "2", "3", "-1", "-2",
                                                          "None", "10"]))
            if f in ("int(%s)", "float(%s)") and self.r.random() < 0.4:
                return f % self.lit_str()
            return f % self.num(d - 1)
        if k == 8:
            f = self.choice(["min(%s, %s)", "max(%s, %s)", "sum([%s, %s])",
                             "(%s & %s)", "(%s | %s)", "(%s ^ %s)", "(%s << 3)" ,
                             "(%s >> 2)"])
            if f.count("%s") == 1:
                return f % self.num(d - 1)
            return f % (self.num(d - 1), self.num(d - 1))
        return "(%s if %s else %s)" % (self.num(d - 1), self.boolean(d - 1), self.num(d - 1))

    def string(self, d):
        k = self.r.randint(0, 10 if d > 0 else 2)
        if k == 0:
            return self.lit_str()
        if k == 1:
            return self.choice(["value", "row['name']", "row['a']"])
        if k == 2:
            return "str(%s)" % self.choice([self.lit_int(), self.lit_float(), "None", "True",
                                            "[1, 'a']", "(1,)", "{'k': 0.5}"])
        if k == 3:
            m = self.choice(["strip", "lstrip", "rstrip", "lower", "upper", "title",
                             "capitalize"])
            arg = ""
            if m.endswith("strip") and self.r.random() < 0.4:
                arg = repr(self.choice([" ", "ab", "x-", "ß"]))
            return "%s.%s(%s)" % (self.string(d - 1), m, arg)
        if k == 4:
            args = [repr(self.choice(["a", "b", "", "ab", "ß", " "])), repr(self.choice(
                ["", "X", "--", "ẞ"]))]
            if self.r.random() < 0.3:
                args.append(self.small())
            return "%s.replace(%s)" % (self.string(d - 1), ", ".join(args))
        if k == 5:
            return "%s.zfill(%s)" % (self.string(d - 1), self.small())
        if k == 6:
            return "(%s + %s)" % (self.string(d - 1), self.string(d - 1))
        if k == 7:
            return "(%s * %s)" % (self.string(d - 1), self.choice(["0", "1", "2", "3", "-1",
                                                                   "True"]))
        if k == 8:
            return "%s%s" % (self.string(d - 1), self.index())
        if k == 9:
            return self.fstring(d - 1)
        return "%s.join(%s)" % (repr(self.choice(["", ",", " - "])), self.choice(
            ["%s.split()" % self.string(d - 1), "%s.split(',')" % self.string(d - 1),
             "['a', 'b']", "sorted(%s)" % self.string(d - 1), "[1, 2]"]))

    def index(self):
        k = self.r.randint(0, 3)
        s = lambda: self.choice(["", "", self.small(), "-1", "100", "-100", "None"])  # noqa
        if k == 0:
            return "[%s]" % self.choice([self.small(), "0", "-1", "True"])
        if k == 1:
            return "[%s:%s]" % (s(), s())
        return "[%s:%s:%s]" % (s(), s(), self.choice(["", "1", "2", "-1", "-2", "3", "0"]))

    def fstring(self, d):
        parts = []
        for _ in range(self.r.randint(1, 3)):
            if self.r.random() < 0.3:
                parts.append(self.choice(["a", " ", "x=", "{{", "}}", "é"]))
                continue
            x = self.choice([self.num(d), self.string(d), "None", "[1, 2]", "value"])
            conv = self.choice(["", "", "", "!r", "!s", "!a"])
            spec = self.choice(SPECS)
            if spec == "" or self.r.random() < 0.2:
                parts.append("{%s%s}" % (x, conv))
            else:
                parts.append("{%s%s:%s}" % (x, conv, spec))
        body = "".join(parts)
        q = '"' if "'" in body and '"' not in body else "'"
        if q in body:
            return repr("nested quotes")
        return "f" + q + body + q

    def boolean(self, d):
        k = self.r.randint(0, 7 if d > 0 else 1)
        if k == 0:
            return self.choice(["True", "False", "None", "value", "row.get('x')"])
        if k == 1:
            ops = ["<", "<=", ">", ">=", "==", "!="]
            return "(%s %s %s)" % (self.num(0), self.choice(ops), self.num(0))
        if k == 2:
            ops = ["<", "<=", ">", ">=", "==", "!="]
            return "(%s %s %s %s %s)" % (self.num(d - 1), self.choice(ops), self.num(d - 1),
                                         self.choice(ops), self.num(d - 1))
        if k == 3:
            return "(%s %s %s)" % (self.any(d - 1), self.choice(["and", "or"]), self.any(d - 1))
        if k == 4:
            return "(not %s)" % self.any(d - 1)
        if k == 5:
            return "(%s %s %s)" % (self.choice([self.string(0), self.num(0)]),
                                   self.choice(["in", "not in"]),
                                   self.choice([self.string(d - 1), "[1, 2.0, 'a']",
                                                "row", "(None, 'x')"]))
        if k == 6:
            m = self.choice(["startswith", "endswith"])
            arg = self.choice(["'a'", "''", "('x', 'H')", "'ß'", "'e'", "1"])
            extra = self.choice(["", ", 1", ", -3", ", 0, 2"])
            return "%s.%s(%s%s)" % (self.string(d - 1), m, arg, extra)
        return "(%s %s %s)" % (self.string(d - 1), self.choice(["<", "==", ">="]),
                               self.string(d - 1))

    def container(self, d):
        k = self.r.randint(0, 8)
        if k == 0:
            return "[%s]" % ", ".join(self.any(d - 1) for _ in range(self.r.randint(0, 3)))
        if k == 1:
            return "(%s,)" % self.any(d - 1)
        if k == 2:
            return "{%s}" % ", ".join("%s: %s" % (self.choice(["'a'", "1", "1.0", "True", "None",
                                                               "(1, 2)", "'b'"]), self.any(d - 1))
                                      for _ in range(self.r.randint(0, 3)))
        if k == 3:
            return "sorted(%s%s)" % (self.choice(["[3, 1, 2.5, -1]", "['b', 'a', 'B']", "value",
                                                  "row", "[1, 'a']", "(2, True, 0.5)",
                                                  "'hello'", "[[2, 1], [1, 2], [1]]"]),
                                     self.choice(["", ", reverse=True"]))
        if k == 4:
            return "%s.split(%s)" % (self.string(d - 1), self.choice(
                ["", "','", "' '", "None, 1", "maxsplit=1", "'b'", "''", "'ab', 2"]))
        if k == 5:
            return "%s%s" % (self.choice(["[1, 2, 3, 4, 5]", "(1, 2, 3)", "row['l']"]),
                             self.index())
        if k == 6:
            return "(%s + %s)" % (self.choice(["[1]", "(1,)", "[]"]), self.choice(
                ["[2]", "(2,)", "'x'"]))
        if k == 7:
            return "row.get(%s%s)" % (repr(self.choice(KEYS)), self.choice(["", ", 0", ", []"]))
        return "%s.find(%s%s)" % (self.string(d - 1), self.choice(["'a'", "''", "'ß'", "'b'"]),
                                  self.choice(["", ", 1", ", -2", ", 0, 3"]))

    def date(self, d):
        s = repr(self.choice(DATES)) if self.r.random() < 0.8 else self.string(d - 1)
        f = self.choice(["parse_datetime", "parse_date", "to_epoch", "format_datetime"])
        if f == "format_datetime":
            return "format_datetime(%s, %s)" % (s, repr(self.choice(FORMATS)))
        return "%s(%s)" % (f, s)

    def any(self, d):
        k = self.r.randint(0, 9)
        if k <= 2:
            return self.num(d)
        if k <= 5:
            return self.string(d)
        if k == 6:
            return self.boolean(d)
        if k == 7:
            return self.container(d)
        if k == 8:
            return self.date(d)
        return self.fstring(d)

    def case(self):
        value = self.r.choice([None, True, 3, -7, 2.5, 0.1, 10**18, "Hello Wörld", "  x  ",
                               "ß", [1, 2, 3], {"k": 1}, ""])
        row = {"a": self.r.choice(["abc", 1, 2.5]), "name": self.r.choice(["Ann Lee", "İlk",
               "ǅemal", ""]), "n": self.r.choice([0, 5, -3, 2**40]), "x": self.r.choice(
               [0.5, -1.25, 3.0, None]), "l": [1, "b", 2.5, None]}
        return {"expr": self.any(3), "value": value, "row": row}


def python_result(case):
    try:
        return {"ok": reference.typed(reference.evaluate(case["expr"], case.get("value"),
                                                         case.get("row")))}
    except Exception as e:  # any Python exception is an expected error
        return {"error": type(e).__name__}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ivory", default="./ivory")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--show", type=int, default=20)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    g = Gen(rnd)
    cases = [{"expr": e, "value": "  Hi ", "row": {"a": 2, "n": 5}} for e in FIXED]
    cases += [{"expr": e, "value": v, "row": {"n": v}} for e, v in edge_cases()]
    fixed = len(cases)
    while len(cases) < fixed + a.count:
        cases.append(g.case())
    stdin = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)
    p = subprocess.run([a.ivory, "expr", "--batch"], input=stdin.encode(), capture_output=True,
                       timeout=300)
    if p.returncode != 0:
        print("ivory expr --batch failed:", p.stderr.decode(errors="replace"))
        return 1
    outs = p.stdout.decode().splitlines()
    if len(outs) != len(cases):
        print("ivory printed %d lines for %d cases" % (len(outs), len(cases)))
        return 1
    bad = 0
    errors = 0
    for c, line in zip(cases, outs):
        mine = json.loads(line)
        ref = python_result(c)
        errors += "error" in ref
        same = ("error" in ref and "error" in mine) or ("ok" in ref and mine.get("ok") == ref["ok"])
        if not same:
            bad += 1
            if bad <= a.show:
                print("MISMATCH %s\n  value=%r row=%r\n  python: %s\n  ivory:  %s" % (
                    c["expr"], c.get("value"), c.get("row"), ref, mine))
    print("%d cases (%d fixed, seed %d): %d agree, %d mismatches (%d expected errors)" % (
        len(cases), fixed, a.seed, len(cases) - bad, bad, errors))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
