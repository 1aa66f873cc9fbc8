"""tools/prepare_real_sources.py: the real-photo recipe lays out the same photos every time,
names its sources as the split table expects (held-out people stay held out), and writes
``--sources`` files that ``hand3d label`` reads to those names."""
import argparse
import importlib.util
from pathlib import Path

import pytest

from hand3d_ros.commands.label import _sources
from hand3d_ros.evaluation.real_split import split_of

PACKAGE_DIR = Path(__file__).resolve().parents[2]
SCRIPT = PACKAGE_DIR.parent / "tools" / "prepare_real_sources.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("prepare_real_sources", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _touch(path: Path, text: str = "x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_every_source_has_its_intended_split(tool):
    """The recipe's sources and the split table agree: the classroom's test people, linto and
    the living rooms are test; one classroom person, subhih's test folder and bathrooms val."""
    names = {name for entries in tool.RECIPE.values() for name, *_ in entries}
    split = {name: split_of(name) for name in names}
    assert {n for n, s in split.items() if s == "test"} == {"linto", "classroom/tongam", "classroom/viany", "neg_test"}
    assert {n for n, s in split.items() if s == "val"} == {"classroom/thomas", "subhih/test", "neg_val"}
    people = [n for n in names if n.startswith("classroom/")]
    assert len(people) == 10 and sum(split[p] == "train" for p in people) == 7


def test_select_takes_evenly_spaced_photos_and_one_roboflow_copy(tool, tmp_path):
    for i in range(10):
        _touch(tmp_path / "imgs" / f"p{i:02d}.jpg")
    _touch(tmp_path / "imgs" / "notes.txt")
    picked = tool.select(tmp_path, ["imgs/*"], 4, "all")
    assert [p.name for p in picked] == ["p00.jpg", "p02.jpg", "p05.jpg", "p07.jpg"]
    assert tool.select(tmp_path, ["imgs/*"], 4, "all") == picked  # deterministic
    for copy in ("a1b2", "c3d4", "e5f6"):
        _touch(tmp_path / "rf" / f"A12_jpg.rf.{copy}.jpg")
    _touch(tmp_path / "rf" / "B3_jpeg.rf.0aa1.jpg")
    kept = tool.select(tmp_path, ["rf/*"], None, "one_per_original")
    assert [p.name for p in kept] == ["A12_jpg.rf.a1b2.jpg", "B3_jpeg.rf.0aa1.jpg"]


def test_layout_and_sources_file_name_the_people(tool, tmp_path, capsys):
    raw = tmp_path / "raw"
    for person in tool.CLASSROOM_PEOPLE:
        for i in range(3):
            _touch(raw / "anthoniusadi+Hand-dataset" / "hand" / person / f"{person}{i}.jpg", person)
    out = tmp_path / "sel"
    assert tool.main(["--raw", str(raw), "--out", str(out), "--only", "classroom"]) == 0
    command = capsys.readouterr().out.strip()
    assert command.startswith("hand3d label ") and "--out data/real/classroom" in command
    folders = sorted((out / "classroom").iterdir())
    assert len(folders) == 10 and all(len(list(f.iterdir())) == 3 for f in folders)
    # hand3d label reads the sources file to the names the split table knows.
    args = argparse.Namespace(sources=str(out / "classroom.sources.yaml"), source=None, licence="unknown",
                              inputs=[str(f) for f in folders])
    names = [s.name for s in _sources(args)]
    assert names == [f"classroom/{p}" for p in tool.CLASSROOM_PEOPLE]
    first = next((out / "classroom" / "classroom__viany").iterdir())
    assert first.read_text() == "viany"


def test_a_missing_repository_is_one_readable_line(tool, tmp_path, capsys):
    assert tool.main(["--raw", str(tmp_path), "--out", str(tmp_path / "sel"), "--only", "linto"]) == 2
    assert "fetch linto-ai/multi-hand-gesture-dataset" in capsys.readouterr().err
    assert tool.main(["--raw", str(tmp_path), "--out", str(tmp_path / "sel"), "--only", "nope"]) == 2
