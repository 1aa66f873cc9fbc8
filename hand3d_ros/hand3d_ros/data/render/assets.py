"""Where the WebXR hand meshes live (fetched at setup time by tools/fetch_hand_assets.sh)."""
from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the asset directory.
ASSET_ENV = "HAND3D_ASSET_DIR"
#: The asset directory relative to the repository root (used from a source checkout).
REPO_ASSET_SUBDIR = Path("cache") / "assets" / "webxr-hand"
#: Files the renderer needs in the asset directory.
ASSET_FILES = ("left.glb", "right.glb")


class AssetMissingError(FileNotFoundError):
    """The hand meshes are not where the renderer looked (one readable line)."""


def repo_root() -> Path:
    """The repository root of this source tree (three levels above the package)."""
    return Path(__file__).resolve().parents[4]


def default_asset_dir() -> Path:
    """``$HAND3D_ASSET_DIR`` if set, else ``<repo>/cache/assets/webxr-hand``."""
    env = os.environ.get(ASSET_ENV)
    if env:
        return Path(env)
    return repo_root() / REPO_ASSET_SUBDIR


def resolve_asset_dir(asset_dir=None) -> Path:
    """The asset directory: ``asset_dir`` if given, else :func:`default_asset_dir`.

    Raises :class:`AssetMissingError` with one line saying how to fetch the meshes
    when ``left.glb``/``right.glb`` are missing.
    """
    path = Path(asset_dir) if asset_dir else default_asset_dir()
    missing = [name for name in ASSET_FILES if not (path / name).is_file()]
    if missing:
        raise AssetMissingError(
            f"hand meshes not found in {path} (missing {', '.join(missing)}): "
            f"run tools/fetch_hand_assets.sh [DIR] (and pass --asset-dir DIR or set {ASSET_ENV})"
        )
    return path


def assets_available(asset_dir=None) -> bool:
    """True if :func:`resolve_asset_dir` would succeed."""
    try:
        resolve_asset_dir(asset_dir)
    except AssetMissingError:
        return False
    return True
