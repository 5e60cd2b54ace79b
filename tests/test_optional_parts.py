"""Every test that needs a part the test extra does not install skips, with its reason, where
that part is absent: a test whose code names the part must carry its marker (tests/_optional.py).
"""

import ast
import re
from pathlib import Path

from _optional import OPTIONAL

HERE = Path(__file__).parent


def _tests_naming(pattern: str):
    """(file, test, decorators' source) of every test function whose code matches ``pattern``."""
    for f in sorted(HERE.glob("test_*.py")):
        if f.name == Path(__file__).name:
            continue
        tree = ast.parse(f.read_text())
        source = f.read_text()
        helpers = {n.name: ast.get_source_segment(source, n) for n in tree.body if isinstance(n, ast.FunctionDef)}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                body = ast.get_source_segment(source, node)
                # a helper the test calls counts as its code (one level deep)
                called = {c.func.id for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
                body += "".join(helpers.get(name, "") or "" for name in called)
                if re.search(pattern, body):
                    decorators = " ".join(ast.get_source_segment(source, d) for d in node.decorator_list)
                    yield f.name, node.name, decorators


def test_tests_that_need_an_optional_part_carry_its_skip_marker():
    missing = [f"{f}::{t} loads {part} without a skip that names it (e.g. @needs_fashion_mnist)"
               for part, pattern in OPTIONAL.items() for f, t, deco in _tests_naming(pattern) if part not in deco.lower()]  # fmt: skip
    assert not missing, "\n".join(missing)


def test_the_check_finds_the_tests_it_should():
    """The scan sees the known Fashion-MNIST tests (so an empty result above means something)."""
    found = {(f, t) for f, t, _ in _tests_naming(OPTIONAL["fashion"])}
    assert ("test_sweep.py", "test_run_many_reuses_one_build_and_matches_single_runs") in found
