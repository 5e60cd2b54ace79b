"""The README is the front page: keep what it claims true.

It names the default model (which must be the one the code and the CLI use), links into docs/
and notebooks/ (every link must point at a file of the repository), stays short, and gives the
test command that CI runs. The docs pages are held to the same links rule.
"""

import re
from pathlib import Path

import pytest

from sleep_brian.cli import build_parser
from sleep_brian.models import DEFAULT_MODEL, MODELS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def _prose(path: Path) -> str:
    """The Markdown of ``path`` without its fenced code blocks and inline code."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return re.sub(r"`[^`\n]*`", "", text)


def _relative_links(path: Path) -> list[str]:
    return [t for t in _LINK.findall(_prose(path)) if not _SCHEME.match(t) and not t.startswith("#")]


def _defaults_named(path: Path) -> set[str]:
    """The models that ``path`` calls the default: "the default model, `x`" and a models table's
    "`x` (default)" (other tables mark their own defaults the same way; only model names count)."""
    text = path.read_text(encoding="utf-8")
    found = set(re.findall(r"default model,? `([\w.-]+)`", text))
    found |= {name for name in re.findall(r"`([\w.-]+)` \(default\)", text) if name in MODELS or name.startswith("paper")}
    return found


def test_readme_names_the_code_default_model():
    names = _defaults_named(README)
    assert names, "README no longer says which model is the default"
    assert names == {DEFAULT_MODEL}, f"README calls {sorted(names)} the default; the code's is {DEFAULT_MODEL!r}"
    assert DEFAULT_MODEL in MODELS


def test_cli_default_model_is_the_code_default():
    assert build_parser().parse_args(["run"]).model == DEFAULT_MODEL
    assert build_parser().parse_args(["sweep", "--out", "results"]).variants == [DEFAULT_MODEL]


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_docs_call_the_same_model_the_default(page):
    named = _defaults_named(page)
    assert named <= {DEFAULT_MODEL}, f"{page.name} calls {sorted(named)} the default model"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_relative_links_exist(page):
    missing = []
    for target in _relative_links(page):
        file = target.split("#", 1)[0]
        if file and not (page.parent / file).exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(ROOT)} links to files that do not exist: {missing}"


def test_readme_links_into_the_docs_and_notebooks():
    links = _relative_links(README)
    assert any(t.startswith("docs/") and t.endswith(".md") for t in links)
    assert any(t.startswith("notebooks/") for t in links)
    assert any(t.startswith("docs/figures/") and t.endswith(".png") for t in links)


def test_readme_is_a_front_page():
    size = len(README.read_bytes())
    assert size < 12_000, f"README.md is {size} bytes; move detail into docs/ (limit 12,000)"


def test_readme_names_no_file_users_lack():
    text = README.read_text(encoding="utf-8")
    for name in ("PAPER.md", "DEVICES.md", "benchmarks/README.md"):
        assert name not in text
    assert not re.search(r"\bissues? #?\d+|(?<![\w/])#\d+\b", text), "README names a numbered tracker issue"


def test_readme_test_command_is_what_ci_runs():
    text = README.read_text(encoding="utf-8")
    commands = [line.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)
                for line in block.splitlines() if "pytest" in line]
    assert commands == ["python -m pip install -q -e '.[test]' && python -m pytest -q -rs -n auto --dist loadfile --durations=15"]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert commands[0] in ci, ".ci/run must run the README's test command verbatim"


def test_the_readme_model_example_runs_from_its_file(tmp_path, capsys):
    """The README's "Declare your own model" block, saved as my_model.py, runs with the command
    the README gives (here on numpy with a tiny schedule)."""
    from sleep_brian.cli import main

    text = README.read_text(encoding="utf-8")
    section = text.split("## Declare your own model", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "def build" in code and "--model my_model.py:build" in section
    (tmp_path / "my_model.py").write_text(code)
    argv = ["run", "--model", str(tmp_path / "my_model.py") + ":build", "--device", "numpy", "--n-train", "20",
            "--n-test", "10", "--presentation", "50ms", "--wake-block", "1s", "--quiet", "--out", str(tmp_path / "runs")]
    assert main(argv) == 0
    assert "untrained" in capsys.readouterr().out
