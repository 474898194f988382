"""The model manifest, and installing and verifying model files into the models directory."""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

MANIFEST = Path(__file__).with_name("manifest.toml")
CHUNK = 4 * 1024 * 1024
STAMP = ".installed.json"


def default_models_dir() -> Path:
    env = os.environ.get("FRONTDESK_MODELS")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "frontdesk" / "models"


@dataclass
class ModelFile:
    name: str
    sources: list[str]
    size: int
    sha256: str


@dataclass
class Model:
    name: str
    role: str
    format: str
    dir: str
    entry: str
    packages: list[str]
    license: str
    provenance: str
    files: list[ModelFile]
    why: str = ""  # why this model is the default (or installed at all): what was measured

    def path(self, models_dir: Path) -> Path:
        """What the engine loads: a file, or the model's directory when entry is "."."""
        return (models_dir / self.dir / self.entry).resolve() if self.entry != "." else models_dir / self.dir


def load_manifest(path: Path = MANIFEST) -> list[Model]:
    data = tomllib.loads(path.read_text())
    out = []
    for m in data["model"]:
        files = [ModelFile(f["name"], list(f["from"]), int(f["size"]), f["sha256"]) for f in m["file"]]
        out.append(Model(m["name"], m["role"], m["format"], m["dir"], m["entry"], list(m["packages"]),
                         m["license"], m["provenance"], files, m.get("why", "")))
    return out


def model_for_role(role: str) -> Model:
    """The default model for a role: the first in the manifest (others are alternatives)."""
    return next(m for m in load_manifest() if m.role == role)


def _source_path(spec: str) -> Path:
    module, _, rel = spec.partition(":")
    try:
        root = resources.files(module)
    except ModuleNotFoundError as exc:
        raise FileNotFoundError(f"package module {module!r} is not installed (pip install the model packages)") from exc
    return Path(str(root.joinpath(rel)))


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            if progress:
                progress(len(chunk))
    return h.hexdigest()


def _read_stamp(base: Path) -> dict:
    try:
        return json.loads((base / STAMP).read_text())
    except (OSError, ValueError):
        return {}


def _stamp_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def install(models_dir: Path | None = None, progress_factory=None) -> list[str]:
    """Assemble every manifest file into the models directory; returns what was written.

    Idempotent: a file whose size and mtime match the last verified install is not re-read.
    Raises ValueError naming the file when an assembled file does not match its sha256.
    """
    models_dir = models_dir or default_models_dir()
    written = []
    for model in load_manifest():
        base = models_dir / model.dir
        base.mkdir(parents=True, exist_ok=True)
        stamp = _read_stamp(base)
        for f in model.files:
            dest = base / f.name
            if dest.exists() and stamp.get(f.name) == _stamp_key(dest) + [f.sha256]:
                continue
            tmp = dest.with_name(dest.name + ".part")
            h = hashlib.sha256()
            bar = progress_factory(f.size, f"{model.name}/{f.name}") if progress_factory else None
            try:
                with open(tmp, "wb") as out:
                    for spec in f.sources:
                        with open(_source_path(spec), "rb") as src:
                            while chunk := src.read(CHUNK):
                                h.update(chunk)
                                out.write(chunk)
                                if bar:
                                    bar.update(len(chunk))
            finally:
                if bar:
                    bar.close()
            if h.hexdigest() != f.sha256:
                tmp.unlink(missing_ok=True)
                raise ValueError(f"{model.name}/{f.name}: sha256 {h.hexdigest()} does not match the manifest's {f.sha256}")
            os.replace(tmp, dest)
            stamp[f.name] = _stamp_key(dest) + [f.sha256]
            (base / STAMP).write_text(json.dumps(stamp))
            written.append(str(dest))
    return written


def verify(models_dir: Path | None = None) -> list[str]:
    """Hash every file; return one problem line per missing or mismatched file."""
    models_dir = models_dir or default_models_dir()
    problems = []
    for model in load_manifest():
        for f in model.files:
            path = models_dir / model.dir / f.name
            if not path.exists():
                problems.append(f"missing: {path}")
                continue
            if path.stat().st_size != f.size:
                problems.append(f"size mismatch: {path} is {path.stat().st_size} bytes, expected {f.size}")
                continue
            digest = sha256_file(path)
            if digest != f.sha256:
                problems.append(f"sha256 mismatch: {path} is {digest}, expected {f.sha256}")
    return problems
