#!/usr/bin/env python3
"""Register an editable (``pip install -e``) ament_python package in an ament prefix.

``pip install -e`` puts the console scripts in ``<prefix>/bin`` and skips ``data_files``,
so ``get_package_share_directory()`` and ``ros2 run``-style lookups would not find the
package. This links what colcon would install, so edits to launch/config files are live:

- ``share/ament_index/resource_index/packages/<name>`` (the package marker);
- ``share/<name>/{package.xml,launch,config,rviz}``;
- ``lib/<name>/<executable>`` for each console script of the package.

Usage: register_ament.py PACKAGE_DIR PREFIX
"""
import re
import sys
from pathlib import Path


def link(target: Path, link_path: Path) -> None:
    link_path.parent.mkdir(parents=True, exist_ok=True)
    if link_path.is_symlink() or link_path.exists():
        link_path.unlink()
    link_path.symlink_to(target)


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
    for sub in ("launch", "config", "rviz"):
        if (package_dir / sub).is_dir():
            link(package_dir / sub, share / sub)
    for script in console_scripts(package_dir):
        source = prefix / "bin" / script
        if source.exists():
            link(source, prefix / "lib" / name / script)
    print(f"[setup] registered {name} in {prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
