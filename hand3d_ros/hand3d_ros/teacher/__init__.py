"""The teacher: MediaPipe Hands 0.10.14 in its own venv, run as a subprocess.

- :mod:`.worker` runs inside the teacher venv (``make teacher``) and answers requests
  on stdin/stdout; only its stdlib framing helpers are imported here.
- :mod:`.client` finds the teacher venv and drives worker subprocesses.
- :mod:`.merge` turns a reply (the photo and its mirror) into hands with anatomical
  sides and per-keypoint confidence (numpy only).
"""
