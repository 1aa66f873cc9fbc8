#!/usr/bin/env python3
"""Register an editable (``pip install -e``) ament_python package in an ament prefix.

``pip install -e`` puts the console scripts in ``<prefix>/bin`` and skips ``data_files``,
so ``get_package_share_directory()`` and ``ros2 run``-style lookups would not find the
package. This links what colcon would install, so edits to launch/config files are live:

- ``share/ament_index/resource_index/packages/<name>`` (the package marker);
- ``share/<name>/package.xml`` and ``share/<name>/{launch,config,rviz}/<file>``: real
  folders holding one link per file, as ``colcon build --symlink-install`` does.
  ``ros2 launch PACKAGE FILE`` finds FILE by ``os.walk`` over the share folder, which
  does not descend into linked folders: a link to the whole ``launch`` folder would
  hide every launch file. A file added later needs this script run again (``make setup``);
- ``lib/<name>/<executable>`` for each console script of the package.

Usage: register_ament.py PACKAGE_DIR PREFIX
"""
import re
import sys
from pathlib import Path

#: Package folders installed under share/<name>/ (as setup.py's data_files).
DATA_FOLDERS = ("launch", "config", "rviz")


def link(target: Path, link_path: Path) -> None:
    link_path.parent.mkdir(parents=True, exist_ok=True)
    if link_path.is_symlink() or link_path.exists():
        link_path.unlink()
    link_path.symlink_to(target)


def link_files(source_dir: Path, target_dir: Path) -> None:
    """Make ``target_dir`` a real folder with a link to every file under ``source_dir``
    (sub-folders as real folders too); links to files that are gone are removed."""
    if target_dir.is_symlink() or target_dir.is_file():  # a folder link from an older registration
        target_dir.unlink()
    target_dir.mkdir(parents=True, exist_ok=True)
    for stale in [p for p in target_dir.rglob("*") if p.is_symlink() and not p.exists()]:
        stale.unlink()
    for path in sorted(source_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            link(path, target_dir / path.relative_to(source_dir))


def console_scripts(package_dir: Path) -> list:
    """Names of the console scripts declared in setup.py (``name = module:func``)."""
    text = (package_dir / "setup.py").read_text()
    return re.findall(r"[\"']\s*([A-Za-z0-9_\-]+)\s*=\s*[A-Za-z0-9_.]+:[A-Za-z0-9_]+\s*[\"']", text)


def main(argv) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: register_ament.py PACKAGE_DIR PREFIX\n")
        return 2
    package_dir, prefix = Path(argv[1]).resolve(), Path(argv[2]).resolve()
    name = re.search(r"<name>([^<]+)</name>", (package_dir / "package.xml").read_text()).group(1)
    share = prefix / "share" / name
    share.mkdir(parents=True, exist_ok=True)
    link(package_dir / "resource" / name, prefix / "share/ament_index/resource_index/packages" / name)
    link(package_dir / "package.xml", share / "package.xml")
    for sub in DATA_FOLDERS:
        if (package_dir / sub).is_dir():
            link_files(package_dir / sub, share / sub)
    for script in console_scripts(package_dir):
        source = prefix / "bin" / script
        if source.exists():
            link(source, prefix / "lib" / name / script)
    print(f"[setup] registered {name} in {prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
