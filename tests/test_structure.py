"""The house rules that keep the package navigable (issue 15), checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

PROXY = Path(__file__).resolve().parent.parent / "proxy"
MAX_COROUTINE_LINES = 75
MAX_ROOT_MODULES = 20


def modules(under: Path) -> list[Path]:
    return sorted(p for p in under.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_coroutine_outside_the_emulator_is_a_god_function() -> None:
    long = []
    for path in modules(PROXY):
        if "emulator" in path.relative_to(PROXY).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_COROUTINE_LINES:
                    long.append(f"{path.relative_to(PROXY)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def test_the_http_server_knows_nothing_of_api_shapes() -> None:
    """The inbound server frames what the app's refusal renderer gives it; shapes are the app's."""
    offenders = []
    for path in modules(PROXY / "inbound"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = {a.name for a in node.names}
                if (node.module or "").endswith("routing") or names & {"Shape", "render", "error_body",
                                                                       "refusal", "shape_for_path"}:
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_the_root_holds_only_the_wiring_the_pipeline_entry_and_the_cli() -> None:
    root = [p.name for p in PROXY.glob("*.py")]
    assert len(root) <= MAX_ROOT_MODULES, sorted(root)


def test_every_module_says_its_job() -> None:
    missing = [str(p.relative_to(PROXY)) for p in modules(PROXY)
               if p.stat().st_size and ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None
               and p.name not in ("__main__.py",)]
    assert missing == []


def _logger_name_ok(arg: ast.expr | None) -> bool:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value == "lava_sidecar" or arg.value.startswith("lava_sidecar.")
    # logs.py itself: ``ROOT + ".access"`` and its loop over the configured roots.
    return isinstance(arg, ast.BinOp | ast.Name) and ast.unparse(arg) in ("ROOT + '.access'", "name")


def test_every_logger_is_under_the_one_configured_root() -> None:
    """``logs.configure`` installs its redacting handler on ``lava_sidecar`` only: a logger named
    otherwise (``__name__`` is ``proxy.…``) would print unformatted and unredacted."""
    stray = []
    for path in modules(PROXY):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "getLogger" \
                    and not _logger_name_ok(node.args[0] if node.args else None):
                stray.append(f"{path.relative_to(PROXY)}:{node.lineno}")
    assert stray == []
