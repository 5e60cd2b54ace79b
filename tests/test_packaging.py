"""``pip install .`` puts models/ and protocols/ inside the package (sleep_brian.models,
sleep_brian.protocols), never at the top of site-packages where they would shadow a user's own."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_holds_models_and_protocols_inside_the_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT),
                    "-w", str(tmp_path)], check=True, cwd=tmp_path)  # fmt: skip
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"sleep_brian"}, tops
    for f in ("sleep_brian/models/__init__.py", "sleep_brian/models/paper.py", "sleep_brian/protocols/wake_sleep.py"):
        assert f in names


def test_models_import_under_the_package_name():
    import sleep_brian.models as models
    import sleep_brian.protocols.wake_sleep as ws

    assert Path(models.__file__).parent == ROOT / "models" or "site-packages" in models.__file__
    assert callable(ws.compare)
