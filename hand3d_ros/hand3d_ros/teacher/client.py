"""Run the teacher worker (MediaPipe Hands in its own venv) as a subprocess.

The package's environment never imports mediapipe: :class:`TeacherProcess` starts
``TEACHER_PYTHON hand3d_ros/teacher/worker.py`` and talks to it over pipes with the
frames of :mod:`hand3d_ros.teacher.worker`. The teacher's Python is found by
:func:`find_teacher_python`: an explicit path, ``$HAND3D_TEACHER_PYTHON``, or the
repository's ``.venv-teacher`` made by ``make teacher``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from hand3d_ros.teacher import worker as protocol

#: Environment variable naming the teacher venv's python.
TEACHER_ENV = "HAND3D_TEACHER_PYTHON"
#: The venv ``make teacher`` creates, relative to the repository root.
DEFAULT_TEACHER_VENV = ".venv-teacher"
#: Worker settings of ``hand3d label`` (see ``worker.py --help``): up to 2 hands per photo,
#: the full landmark model, MediaPipe's default detection and presence thresholds (0-1).
DEFAULT_SETTINGS = {"max_side": protocol.DEFAULT_MAX_SIDE, "max_hands": 2, "complexity": 1,
                    "min_detection": 0.5, "min_presence": 0.5}
SETUP_HINT = "run `make teacher` in the repository (or pass --teacher-python / set HAND3D_TEACHER_PYTHON)"


class TeacherError(RuntimeError):
    """The teacher is missing, broken or died (one readable line)."""


def repository_root() -> Path:
    """The checkout holding this package (``<root>/hand3d_ros/hand3d_ros/teacher``)."""
    return Path(__file__).resolve().parents[3]


def find_teacher_python(explicit=None) -> Path:
    """Path of the teacher venv's python, or :class:`TeacherError` saying how to make it."""
    candidates = [explicit] if explicit else []
    if not explicit and os.environ.get(TEACHER_ENV):
        candidates.append(os.environ[TEACHER_ENV])
    if not candidates:
        candidates.append(repository_root() / DEFAULT_TEACHER_VENV / "bin" / "python")
    path = Path(candidates[0])
    if not path.is_file() or not os.access(path, os.X_OK):
        raise TeacherError(f"the MediaPipe teacher is not installed ({path} missing): {SETUP_HINT}")
    return path


def teacher_version(python) -> dict:
    """``{"name", "version"}`` of the installed teacher (runs the worker once)."""
    cmd = [str(python), str(Path(protocol.__file__)), "--version"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_worker_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TeacherError(f"cannot run the teacher {python}: {exc}") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise TeacherError(f"the teacher in {python} does not start ({last}): {SETUP_HINT}")
    return json.loads(lines[-1])


def _worker_env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the teacher venv must not see this environment's packages
    env.setdefault("GLOG_minloglevel", "2")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["OMP_NUM_THREADS"] = "1"
    return env


class TeacherProcess:
    """One teacher worker subprocess; :meth:`label_path` / :meth:`label_frame` give its reply.

    Args:
        python: the teacher venv's python (:func:`find_teacher_python`).
        log_path: where the worker's stderr goes (MediaPipe's log lines); None: discarded.
        settings: worker options (``max_side``, ``max_hands``, ``complexity``,
            ``min_detection``, ``min_presence``).
    """

    def __init__(self, python, log_path=None, **settings):
        args = [str(python), str(Path(protocol.__file__))]
        for key, value in settings.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        self.log_path = log_path
        self._log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                         env=_worker_env())
        except OSError as exc:
            raise TeacherError(f"cannot start the teacher {python}: {exc}") from None
        self._next_id = 0

    def _ask(self, header: dict, body: bytes = b"") -> dict:
        self._next_id += 1
        header = dict(header, id=self._next_id)
        try:
            protocol.write_frame(self.proc.stdin, header, body)
            reply, _ = protocol.read_frame(self.proc.stdout)
        except (OSError, EOFError, ValueError) as exc:
            code = self.proc.poll()
            where = f"; its log: {self.log_path}" if self.log_path else ""
            raise TeacherError(f"the teacher worker died (exit code {code}, {exc}){where}") from None
        if reply.get("id") != self._next_id:
            raise TeacherError(f"teacher reply out of order ({reply.get('id')} != {self._next_id})")
        return reply

    def label_path(self, path) -> dict:
        """Teacher reply for an image file (the worker decodes it)."""
        return self._ask({"path": str(Path(path).resolve())})

    def label_frame(self, rgb: np.ndarray) -> dict:
        """Teacher reply for an (H, W, 3) uint8 RGB frame."""
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        return self._ask({"shape": list(rgb.shape)}, rgb.tobytes())

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                protocol.write_frame(self.proc.stdin, {"quit": True})
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if self._log is not subprocess.DEVNULL:
            self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


if __name__ == "__main__":  # python -m hand3d_ros.teacher.client [PYTHON]: print the version
    print(teacher_version(find_teacher_python(sys.argv[1] if len(sys.argv) > 1 else None)))
