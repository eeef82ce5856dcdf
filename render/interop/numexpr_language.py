"""Deforum's numexpr values translated to this renderer's expression language; never evaluated as Python.

Deforum hands a schedule's value to ``numexpr.evaluate`` with ``t`` (the frame), ``max_f`` (the last frame) and ``s``
(the seed) in scope. The text is parsed with :mod:`ast` (numexpr's syntax is Python's), each node is mapped to one
of ``transforms.expressions``'s whitelist (``arcsin`` -> ``asin``, ``&`` -> ``and``, ``log1p(x)`` -> ``log(1 + x)``),
``s`` becomes the seed's number, and the result is checked by that module's parser. Anything else (an unknown name or
function, strings, bit shifts) is an error naming the key.
"""
from __future__ import annotations

import ast

from transforms.expressions import ExpressionError, parse_expression
from transforms.keyframes import VALUE_NAMES

RENAMED = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2"}
SAME = frozenset({"sin", "cos", "tan", "sinh", "cosh", "tanh", "sqrt", "abs", "exp", "log", "log10", "where", "floor",
                  "ceil"})
REWRITTEN = {  # numexpr functions this language lacks, as formulas of x
    "log1p": "log(1 + ({x}))",
    "expm1": "(exp({x}) - 1)",
    "arcsinh": "log(({x}) + sqrt(({x})**2 + 1))",
    "arccosh": "log(({x}) + sqrt(({x})**2 - 1))",
    "arctanh": "(0.5*log((1 + ({x}))/(1 - ({x}))))",
}
LOGICAL = {ast.BitAnd: ast.And, ast.BitOr: ast.Or}
DEFORUM_NAMES = ("t", "max_f", "s")


class TranslationError(ValueError):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def translate(text: str, seed: int | None, *, frame: int | None = None) -> str:
    """``text`` (a numexpr expression of ``t``, ``max_f`` and ``s``) in this renderer's language; ``frame`` replaces
    ``t`` by that number (the value a key has at its own frame). Raises :class:`TranslationError`."""
    try:
        tree = ast.parse(str(text).strip(), mode="eval")
    except SyntaxError as exc:
        raise TranslationError(f"syntax error in {text!r} ({exc.msg})") from None
    out = ast.unparse(_Translate(seed, frame).visit(tree.body))
    try:
        parse_expression(out, VALUE_NAMES)
    except ExpressionError as exc:
        raise TranslationError(f"{text!r} has no equivalent here ({exc.reason})") from None
    return out


def uses_frame(text: str) -> bool:
    """Whether a (translated) expression depends on ``t``."""
    return any(isinstance(n, ast.Name) and n.id == "t" for n in ast.walk(ast.parse(text, mode="eval")))


class _Translate(ast.NodeTransformer):
    def __init__(self, seed: int | None, frame: int | None):
        self.seed, self.frame = seed, frame

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == "s":
            if self.seed is None:
                raise TranslationError("uses s (the seed) and the seed is random (-1): give the file a seed, or seed=N "
                                       "on the command line")
            return ast.Constant(self.seed)
        if node.id == "t" and self.frame is not None:
            return ast.Constant(self.frame)
        if node.id in ("t", "max_f"):
            return node
        raise TranslationError(f"unknown name {node.id!r} (Deforum's schedules know {', '.join(DEFORUM_NAMES)})")

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise TranslationError(f"{node.value!r} is not a number")
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if node.keywords or name is None:
            raise TranslationError("only plain calls of numexpr's functions can be translated")
        args = [self.visit(a) for a in node.args]
        if name in REWRITTEN:
            if len(args) != 1:
                raise TranslationError(f"{name}() takes 1 argument, got {len(args)}")
            return ast.parse(REWRITTEN[name].format(x=ast.unparse(args[0])), mode="eval").body
        if name not in SAME and name not in RENAMED:
            known = ", ".join(sorted(SAME | RENAMED.keys() | REWRITTEN.keys()))
            raise TranslationError(f"unknown function {name!r} (numexpr functions that translate: {known})")
        return ast.Call(func=ast.Name(RENAMED.get(name, name), ast.Load()), args=args, keywords=[])

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        left, right = self.visit(node.left), self.visit(node.right)
        if type(node.op) in LOGICAL:
            return ast.BoolOp(op=LOGICAL[type(node.op)](), values=[left, right])
        if isinstance(node.op, (ast.LShift, ast.RShift, ast.BitXor, ast.MatMult)):
            raise TranslationError(f"operator {type(node.op).__name__} has no equivalent here")
        return ast.BinOp(left=left, op=node.op, right=right)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        operand = self.visit(node.operand)
        op = ast.Not() if isinstance(node.op, ast.Invert) else node.op
        return ast.UnaryOp(op=op, operand=operand)
