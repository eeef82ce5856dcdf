"""Safe, vectorised arithmetic expressions for schedules.

An expression such as ``1 + 0.05*sin(2*pi*t/24)`` is parsed with :mod:`ast` into a tree whose every node is checked
against a whitelist, then evaluated with NumPy for all frames at once. Nothing is ever passed to Python's ``eval``:
names are looked up in a fixed table, calls go to a fixed set of NumPy functions, and attribute access, subscripts,
lambdas, comprehensions, strings and keyword arguments are rejected before anything runs.

Errors carry the frame at which they happen (``division by zero`` at frame 12), so a caller can name it.
"""
from __future__ import annotations

import ast
import math
import warnings
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

MAX_EXPRESSION_LENGTH = 4000
MAX_DEPTH = 60

CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}


class ExpressionError(ValueError):
    """An expression that cannot be parsed or evaluated.

    ``position`` is a 0-based character offset into the expression text (or None); ``frame`` is the first frame at
    which evaluation failed (or None when the failure does not depend on the frame).
    """

    def __init__(self, reason: str, *, position: int | None = None, frame: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.position = position
        self.frame = frame


def _smoothstep(e0, e1, x):
    u = np.clip((x - e0) / np.where(e1 == e0, 1.0, e1 - e0), 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _domain(name: str, ok: Callable[[np.ndarray], np.ndarray], what: str):
    """Wrap a unary function with a domain check so that e.g. log(0) is an error with its frame."""
    fn = getattr(np, name) if isinstance(name, str) else name

    def checked(x):
        bad = ~ok(x)
        if np.any(bad):
            raise _DomainError(f"{what}", int(np.argmax(bad)))
        return fn(x)

    return checked


class _DomainError(Exception):
    def __init__(self, reason: str, index: int):
        self.reason, self.index = reason, index


def _variadic(reducer):
    def fn(*args):
        out = args[0]
        for a in args[1:]:
            out = reducer(out, a)
        return out

    return fn


# name -> (function, min args, max args)
FUNCTIONS: dict[str, tuple[Callable, int, int]] = {
    "sin": (np.sin, 1, 1),
    "cos": (np.cos, 1, 1),
    "tan": (np.tan, 1, 1),
    "asin": (_domain("arcsin", lambda x: np.abs(x) <= 1, "asin of a value outside [-1, 1]"), 1, 1),
    "acos": (_domain("arccos", lambda x: np.abs(x) <= 1, "acos of a value outside [-1, 1]"), 1, 1),
    "atan": (np.arctan, 1, 1),
    "atan2": (np.arctan2, 2, 2),
    "sinh": (np.sinh, 1, 1),
    "cosh": (np.cosh, 1, 1),
    "tanh": (np.tanh, 1, 1),
    "abs": (np.abs, 1, 1),
    "sign": (np.sign, 1, 1),
    "floor": (np.floor, 1, 1),
    "ceil": (np.ceil, 1, 1),
    "round": (np.round, 1, 1),
    "frac": (lambda x: x - np.floor(x), 1, 1),
    "sqrt": (_domain("sqrt", lambda x: x >= 0, "sqrt of a negative number"), 1, 1),
    "exp": (np.exp, 1, 1),
    "log": (_domain("log", lambda x: x > 0, "log of a non-positive number"), 1, 1),
    "log2": (_domain("log2", lambda x: x > 0, "log2 of a non-positive number"), 1, 1),
    "log10": (_domain("log10", lambda x: x > 0, "log10 of a non-positive number"), 1, 1),
    "min": (_variadic(np.minimum), 2, 32),
    "max": (_variadic(np.maximum), 2, 32),
    "clamp": (lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), 3, 3),
    "clip": (lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), 3, 3),
    "lerp": (lambda a, b, w: a + (b - a) * w, 3, 3),
    "smoothstep": (_smoothstep, 3, 3),
    "pow": (None, 2, 2),  # evaluated as the ** operator, with its checks
    "where": (None, 3, 3),  # lazy: only the chosen branch is evaluated per frame
}

_BINOPS = {
    ast.Add: ("+", np.add),
    ast.Sub: ("-", np.subtract),
    ast.Mult: ("*", np.multiply),
    ast.Div: ("/", np.divide),
    ast.FloorDiv: ("//", np.floor_divide),
    ast.Mod: ("%", np.mod),
    ast.Pow: ("**", np.power),
}
_CMPOPS = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}
_REJECTED = {
    ast.Attribute: "attribute access (.name) is not allowed",
    ast.Subscript: "subscripts ([...]) are not allowed",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.NamedExpr: "assignments are not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Slice: "slices are not allowed",
}


@dataclass(frozen=True)
class Expression:
    """A parsed, checked expression. Call :meth:`evaluate` with per-frame variables."""

    text: str
    tree: ast.Expression
    names: frozenset[str]
    lead: int = 0  # leading whitespace stripped before parsing; node offsets are relative to it

    def evaluate(self, variables: Mapping[str, np.ndarray | float], frames: np.ndarray) -> np.ndarray:
        """Evaluate for every entry of ``frames`` (the frame numbers, used in error messages).

        ``variables`` maps names to arrays of the same length as ``frames`` or to scalars. The result is a float64
        array of that length; a non-finite value anywhere is an :class:`ExpressionError` naming its frame.
        """
        frames = np.asarray(frames)
        ctx = _Context(variables, frames, self.lead)
        with np.errstate(all="ignore"):
            out = ctx.eval(self.tree.body, np.arange(len(frames)))
        out = np.broadcast_to(np.asarray(out, dtype=np.float64), frames.shape).copy()
        bad = ~np.isfinite(out)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise ExpressionError(f"result is {out[i]}", frame=int(frames[i]), position=0)
        return out


def parse_expression(text: str, allowed_names: set[str] | frozenset[str]) -> Expression:
    """Parse ``text`` and check it against the whitelist. Raises :class:`ExpressionError`."""
    if not isinstance(text, str):
        raise ExpressionError(f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    stripped = text.strip()
    if not stripped:
        raise ExpressionError("empty expression", position=0)
    lead = len(text) - len(text.lstrip())
    try:
        with warnings.catch_warnings():  # e.g. SyntaxWarning for "1if t else 2"; the whitelist decides, not Python
            warnings.simplefilter("ignore")
            tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        pos = lead + max((exc.offset or 1) - 1, 0)
        raise ExpressionError(f"syntax error ({exc.msg})", position=pos) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        raise ExpressionError(f"cannot parse expression ({type(exc).__name__})", position=0) from None
    names: set[str] = set()
    _check(tree.body, allowed_names, names, lead, depth=0)
    return Expression(text=text, tree=tree, names=frozenset(names), lead=lead)


def _check(node: ast.AST, allowed: set[str] | frozenset[str], names: set[str], lead: int, depth: int) -> None:
    pos = lead + getattr(node, "col_offset", 0)
    if depth > MAX_DEPTH:
        raise ExpressionError("expression is nested too deeply", position=pos)
    for bad_type, what in _REJECTED.items():
        if isinstance(node, bad_type):
            raise ExpressionError(what, position=pos)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"only numbers are allowed as constants, not {node.value!r}", position=pos)
        try:
            finite = math.isfinite(float(node.value))
        except OverflowError:
            finite = False
        if not finite:
            raise ExpressionError("number is too large", position=pos)
        return
    if isinstance(node, ast.Name):
        if node.id not in allowed and node.id not in CONSTANTS:
            known = ", ".join(sorted(set(allowed) | set(CONSTANTS)))
            raise ExpressionError(f"unknown name {node.id!r} (known: {known})", position=pos)
        names.add(node.id)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            _check(node.func, allowed, names, lead, depth + 1)
            raise ExpressionError("only the listed functions can be called", position=pos)
        if node.keywords:
            raise ExpressionError("keyword arguments are not allowed", position=pos)
        for arg in node.args:
            _check(arg, allowed, names, lead, depth + 1)
        if node.func.id not in FUNCTIONS:
            raise ExpressionError(
                f"unknown function {node.func.id!r} (known: {', '.join(sorted(FUNCTIONS))})", position=pos
            )
        _, lo, hi = FUNCTIONS[node.func.id]
        if not lo <= len(node.args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise ExpressionError(f"{node.func.id}() takes {want} arguments, got {len(node.args)}", position=pos)
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed", position=pos)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.UAdd, ast.USub, ast.Not)):
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed", position=pos)
    elif isinstance(node, ast.Compare):
        if any(type(op) not in _CMPOPS for op in node.ops):
            raise ExpressionError("only <, <=, >, >=, ==, != comparisons are allowed", position=pos)
    elif not isinstance(node, (ast.BoolOp, ast.IfExp)):
        raise ExpressionError(f"{type(node).__name__} is not allowed in an expression", position=pos)
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.operator, ast.unaryop, ast.cmpop, ast.boolop)):
            continue
        _check(child, allowed, names, lead, depth + 1)


class _Context:
    """Evaluates a checked tree over a subset of frames (``idx`` indexes into the full frame vector)."""

    def __init__(self, variables: Mapping[str, np.ndarray | float], frames: np.ndarray, lead: int):
        self.frames = frames
        self.lead = lead
        self.vars = {k: np.asarray(v, dtype=np.float64) for k, v in variables.items()}

    def fail(self, node: ast.AST, reason: str, idx: np.ndarray, mask: np.ndarray | None = None):
        """Raise for the first frame where ``mask`` is set (a scalar mask means every frame)."""
        i = int(np.argmax(mask)) if mask is not None and np.ndim(mask) else 0
        frame = int(self.frames[idx[i]]) if len(idx) else None
        raise ExpressionError(reason, position=self.lead + getattr(node, "col_offset", 0), frame=frame)

    def eval(self, node: ast.AST, idx: np.ndarray):
        method = getattr(self, "_" + type(node).__name__)
        return method(node, idx)

    def _Constant(self, node, idx):
        return np.float64(node.value)

    def _Name(self, node, idx):
        if node.id in CONSTANTS:
            return np.float64(CONSTANTS[node.id])
        value = self.vars[node.id]
        return value if value.ndim == 0 else value[idx]

    def _UnaryOp(self, node, idx):
        x = self.eval(node.operand, idx)
        if isinstance(node.op, ast.USub):
            return -x
        if isinstance(node.op, ast.Not):
            return np.where(x == 0, 1.0, 0.0)
        return +x

    def _BinOp(self, node, idx):
        a, b = self.eval(node.left, idx), self.eval(node.right, idx)
        return self.binop(node, type(node.op), a, b, idx)

    def binop(self, node, op, a, b, idx):
        symbol, fn = _BINOPS[op]
        if op in (ast.Div, ast.FloorDiv, ast.Mod):
            zero = np.broadcast_to(b == 0, np.broadcast(a, b).shape)
            if np.any(zero):
                self.fail(node, "division by zero" if op is not ast.Mod else "modulo by zero", idx, zero.ravel())
        out = fn(a, b)
        bad = np.broadcast_to(~np.isfinite(out), np.shape(out))
        if np.any(bad):
            ok_in = np.broadcast_to(np.isfinite(a) & np.isfinite(b), np.shape(out))
            if np.any(bad & ok_in):
                what = "overflow" if np.any(np.isinf(out)) else "invalid power (negative base, fractional exponent)"
                self.fail(node, f"{what} in '{symbol}'", idx, (bad & ok_in).ravel())
        return out

    def _Compare(self, node, idx):
        left = self.eval(node.left, idx)
        result = np.float64(1.0)
        for op, comp in zip(node.ops, node.comparators):
            right = self.eval(comp, idx)
            result = result * np.where(_CMPOPS[type(op)](left, right), 1.0, 0.0)
            left = right
        return result

    def _BoolOp(self, node, idx):
        values = [self.eval(v, idx) != 0 for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        out = values[0]
        for v in values[1:]:
            out = combine(out, v)
        return np.where(out, 1.0, 0.0)

    def _IfExp(self, node, idx):
        return self.select(node.test, node.body, node.orelse, idx)

    def select(self, test, body, orelse, idx):
        cond = np.broadcast_to(self.eval(test, idx) != 0, idx.shape)
        out = np.empty(idx.shape, dtype=np.float64)
        if np.any(cond):
            out[cond] = np.broadcast_to(self.eval(body, idx[cond]), (int(cond.sum()),))
        if not np.all(cond):
            out[~cond] = np.broadcast_to(self.eval(orelse, idx[~cond]), (int((~cond).sum()),))
        return out

    def _Call(self, node, idx):
        name = node.func.id
        if name == "where":
            return self.select(*node.args, idx)
        args = [self.eval(a, idx) for a in node.args]
        if name == "pow":
            return self.binop(node, ast.Pow, args[0], args[1], idx)
        fn = FUNCTIONS[name][0]
        try:
            out = fn(*args)
        except _DomainError as exc:
            self.fail(node, exc.reason, idx, np.arange(max(len(idx), 1)) == exc.index)
        bad = np.broadcast_to(~np.isfinite(out), np.shape(out))
        if np.any(bad):
            self.fail(node, f"{name}() gives a non-finite value (overflow)", idx, bad.ravel())
        return out
