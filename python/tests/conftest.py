"""Shared helpers: the repository's fixtures and the CLI binary whose
``--format json`` output every Python result is compared with.

The binary is ``$MTL_INSPECT_BIN``, else ``$CARGO_TARGET_DIR/debug/mtl-inspect``,
else ``target/debug/mtl-inspect``; build it first (``cargo build``).
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
CELEBA = sorted(str(p.relative_to(ROOT)) for p in (FIXTURES / "celeba40").glob("run*.safetensors"))
SHAPES_TSSBN = sorted(
    str(p.relative_to(ROOT)) for p in (FIXTURES / "shapes").glob("shapes_tssbn_seed*.safetensors")
)


def cli_binary() -> Path:
    if os.environ.get("MTL_INSPECT_BIN"):
        return Path(os.environ["MTL_INSPECT_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "mtl-inspect"


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    # Paths are given relative to the repo root, as a user would type them,
    # so the CLI's and Python's "file" fields are the same strings.
    monkeypatch.chdir(ROOT)


class Cli:
    def __init__(self, binary: Path):
        self.binary = binary

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.binary), *map(str, args)], cwd=ROOT, capture_output=True, text=True
        )

    def json(self, *args: str) -> dict:
        p = self.run(*args, "--format", "json")
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    def error(self, *args: str):
        """(exit code, message after 'error: ') of a failing command."""
        p = self.run(*args)
        assert p.returncode != 0, f"expected {args} to fail"
        # The message may span lines (a regex error draws a caret); it runs
        # from "error: " to the end of stderr.
        at = p.stderr.find("error: ")
        assert at == 0 or (at > 0 and p.stderr[at - 1] == "\n"), p.stderr
        return p.returncode, p.stderr[at + len("error: "):].rstrip("\n")


@pytest.fixture(scope="session")
def cli() -> Cli:
    b = cli_binary()
    if not b.exists():
        pytest.fail(f"{b} not found: build the CLI first (cargo build), or set MTL_INSPECT_BIN")
    return Cli(b)


def without_provenance(v: dict) -> dict:
    """The CLI's JSON minus the keys it adds about the checkpoints."""
    return {k: x for k, x in v.items() if k not in ("checkpoint", "checkpoints")}
