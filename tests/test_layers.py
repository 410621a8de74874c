"""engine/ reads top-down: each stage package imports only from the stages before it, the
constraint compiler does not call into the simulator, and the engine below the interfaces never
imports a web framework. Checked by import-linter against the contracts in pyproject.toml."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_hold():
    r = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in r.stdout


def test_no_module_of_engine_is_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "engine").rglob("*.py") if (n := len(p.read_text().splitlines())) > 600}
    assert long == {}
