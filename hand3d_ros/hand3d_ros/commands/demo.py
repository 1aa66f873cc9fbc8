"""`hand3d demo`: a rendered camera stream and a real clip through the ROS graph, and what a robot sees.

1. renders (once, cached) a short stream with ground truth: a left hand, a right hand and
   two hands moving, with depth;
2. plays it through the replay camera, the hand3d node (shipped weights, best backend)
   and a recorder, three nodes in one process;
3. writes to ``--out``: ``demo.gif`` (the node's debug image beside a 3D view of the
   metric hands in the camera frame, ground truth in grey), ``demo.png`` (four frames of
   it), ``poses.jsonl`` (every published HandPose3DArray), ``summary.json``, and prints
   the summary: frames in/out, dropped, latency p50/p99, detection rate, 2D and 3D errors;
4. plays the committed real clip (``hand3d_ros/demo_clip``: webcam frames of one person,
   no depth) through a fresh graph the same way into ``--out``/real, scored against the
   MediaPipe teacher's 2D keypoints and side (``--no-real-clip`` skips it).
"""
from hand3d_ros.cli import CommandError


def configure(parser):
    parser.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    parser.add_argument("--weights", default=None, help="weights folder (default: the shipped weights)")
    parser.add_argument("--config", default="lite", choices=("lite", "paper"), help="network configuration")
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime", "tensorrt"))
    parser.add_argument("--fps", type=float, default=10.0, help="rate the camera plays at (frames per second)")
    parser.add_argument("--frames", type=int, default=30, help="frames per rendered sequence (3 sequences)")
    parser.add_argument("--seed", type=int, default=2017, help="render seed of the stream")
    parser.add_argument("--cache", default=None, help="where the rendered stream is kept "
                        "(default: <repo>/cache/demo or ~/.cache/hand3d_ros/demo)")
    parser.add_argument("--asset-dir", default=None, help="folder with the hand meshes (left.glb, right.glb)")
    parser.add_argument("--no-real-clip", action="store_true",
                        help="skip the real clip (played after the rendered stream by default)")


def _cache_dir(arg):
    from pathlib import Path

    if arg:
        return Path(arg)
    from hand3d_ros.data.render.assets import repo_root

    root = repo_root()
    return root / "cache" / "demo" if (root / "Makefile").is_file() else Path.home() / ".cache" / "hand3d_ros" / "demo"


def run(args) -> int:
    import sys
    from pathlib import Path

    from tqdm import tqdm

    if args.fps <= 0 or args.frames < 2:
        raise CommandError("--fps must be > 0 and --frames >= 2")
    from hand3d_ros.data.demo import DemoSequenceConfig, make_demo_sequence
    from hand3d_ros.data.render.assets import AssetMissingError
    from hand3d_ros.inference.model_set import resolve_model_set

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    node_parameters = {"model_config": args.config, "backend": args.backend, "max_hands": 2}
    if args.weights:
        node_parameters["weights_dir"] = str(Path(args.weights).resolve())
    try:
        resolve_model_set(args.weights, args.config)
    except FileNotFoundError as err:
        print(f"hand3d demo: {err}\nhand3d demo: NO TRAINED WEIGHTS: running the whole graph with random weights; "
              "the poses below are meaningless", file=sys.stderr)
        node_parameters["allow_random_weights"] = True

    config = DemoSequenceConfig(seed=args.seed, frames_per_sequence=args.frames)
    npz = _cache_dir(args.cache) / f"stream-{args.seed}-{args.frames}.npz"
    bar = tqdm(total=3 * args.frames, desc="render stream", unit="frame", disable=None)
    try:
        make_demo_sequence(npz, config, asset_dir=args.asset_dir,
                           progress=lambda done, total: bar.update(done - bar.n))
    except AssetMissingError as err:
        raise CommandError(str(err)) from None
    finally:
        bar.close()

    random_weights = node_parameters.get("allow_random_weights", False)
    summary = _play(npz, out, "play through ROS", args.fps, node_parameters, random_weights)
    if not args.no_real_clip:
        from hand3d_ros.data.demo import make_real_clip_sequence

        try:
            clip = make_real_clip_sequence(npz.parent / "real-clip.npz", fps=args.fps)
        except (FileNotFoundError, ValueError) as err:
            raise CommandError(str(err)) from None
        summary["real_clip"] = _play(clip, out / "real", "real clip through ROS", args.fps, node_parameters,
                                     random_weights)
    import json

    (out / "demo_summary.json").write_text(json.dumps(summary, indent=2))
    _print_summary(summary, out)
    if "real_clip" in summary:
        print("real clip (webcam frames, teacher's 2D keypoints as reference, no depth: 3D not scored):")
        _print_summary(summary["real_clip"], out / "real")
    return 0


def _play(npz, out_dir, desc: str, fps: float, node_parameters: dict, random_weights: bool) -> dict:
    """Play ``npz`` through a fresh graph into ``out_dir``, score it, draw its pictures;
    returns its summary (:func:`_summary`)."""
    from tqdm import tqdm

    from hand3d_ros.ros.demo import DemoOptions, run_graph, score_recording

    bar = tqdm(desc=desc, unit="frame", disable=None)

    def progress(done, total):
        bar.total = total
        bar.update(done - bar.n)

    try:
        result = run_graph(npz, out_dir, DemoOptions(fps=fps, node_parameters=node_parameters), progress=progress)
    finally:
        bar.close()
    accuracy, per_frame = score_recording(out_dir, npz, result["stamps"])
    _write_pictures(out_dir, npz, per_frame)
    return _summary(result, accuracy, random_weights)


def _summary(result, accuracy, random_weights) -> dict:
    diag, rec = result["diagnostics"], result["recorder"]
    return {
        "frames_published": result["published"], "frames_received_by_node": diag["frames_received"],
        "frames_processed": diag["frames_processed"], "frames_dropped": diag["frames_dropped"],
        "frames_skipped_bad_input": diag["frames_skipped_bad_input"],
        "hand_poses_recorded": sum(v for k, v in rec["counts"].items() if k.endswith("/hand_poses")),
        "latency_p50_ms": diag["latency_p50_ms"], "latency_p99_ms": diag["latency_p99_ms"],
        "backend": diag["backend"], "model": diag["model"], "random_weights": random_weights,
        "accuracy": accuracy,
    }


def _print_summary(s, out) -> None:
    def fmt(stats, unit):
        return "n/a" if not stats else f"mean {stats['mean']:.1f} {unit}, median {stats['median']:.1f} {unit}"

    acc = s["accuracy"]
    rate = "n/a" if acc["detection_rate"] is None else f"{100 * acc['detection_rate']:.0f}%"
    lines = [
        f"frames: {s['frames_published']} published, {s['frames_received_by_node']} received, "
        f"{s['frames_processed']} processed, {s['frames_dropped']} dropped (newest frame wins)",
        f"latency image->HandPose3D: p50 {s['latency_p50_ms']:.0f} ms, p99 {s['latency_p99_ms']:.0f} ms "
        f"({s['backend']}; {s['model']})",
        f"hands: {acc['detected_hands']}/{acc['gt_hands']} detected ({rate}); 2D error {fmt(acc['error_2d_px'], 'px')}; "
        f"3D error {fmt(acc['error_3d_mm'], 'mm')}; side right "
        + ("n/a" if acc["handedness_accuracy"] is None else f"{100 * acc['handedness_accuracy']:.0f}%"),
        f"outputs: {out}/demo.gif, demo.png, poses.jsonl, summary.json, demo_summary.json",
    ]
    if s["random_weights"]:
        lines.append("NOTE: random weights (no trained weights found): the errors above are meaningless")
    print("\n".join(lines))


def _write_pictures(out, npz, per_frame, max_gif_frames: int = 90) -> None:
    """demo.gif and demo.png: debug image | 3D view for each processed frame."""
    from types import SimpleNamespace

    import numpy as np
    from PIL import Image as PILImage

    from hand3d_ros.core.metric3d import ScaleSource
    from hand3d_ros.data.render.gltf import quaternion_xyzw_to_matrix
    from hand3d_ros.visualize import View3DStyle, draw_3d_view

    frames_dir = out / "frames"
    debug = sorted(frames_dir.glob("*.png")) if frames_dir.is_dir() else []
    if not debug or not per_frame:
        return
    with np.load(npz, allow_pickle=False) as data:
        gt_xyz, gt_side = data["gt_xyz"], data["gt_hand_side"]
    panels = []
    for path, (index, hands) in zip(debug, per_frame):
        left = np.asarray(PILImage.open(path).convert("RGB"))
        view_hands = []
        for h in hands:  # as published: keypoints_3d and hand_pose (the hand's TF frame)
            metric = ScaleSource(h["scale_source"]).is_metric
            position, orientation = h["hand_pose"]["position"], h["hand_pose"]["orientation"]
            view_hands.append(SimpleNamespace(
                xyz=np.array([[q["x"], q["y"], q["z"]] for q in h["keypoints_3d"]], float)
                if metric else np.full((21, 3), np.nan), hand_id=h["hand_id"],
                palm_origin=np.array([position[k] for k in "xyz"], float) if metric else None,
                palm_rotation=quaternion_xyzw_to_matrix([orientation[k] for k in "xyzw"]) if metric else None))
        for h in view_hands:
            h.xyz[~np.isfinite(h.xyz)] = np.nan
        truth = [gt_xyz[index, k] for k in range(gt_xyz.shape[1])
                 if gt_side[index, k] >= 0 and np.isfinite(gt_xyz[index, k]).any()]  # none on the real clip
        seen = truth or [h.xyz for h in view_hands if np.isfinite(h.xyz).any()]
        center = np.nanmean(np.stack(seen), axis=(0, 1)) if seen else np.array([0.0, 0.0, 0.5])
        right = draw_3d_view(view_hands, truth, View3DStyle(size_px=left.shape[0], center_m=tuple(center)))
        panels.append(np.concatenate([left, right], axis=1))
    step = max(1, len(panels) // max_gif_frames)
    images = [PILImage.fromarray(p) for p in panels[::step]]
    images[0].save(out / "demo.gif", save_all=True, append_images=images[1:], duration=100, loop=0, optimize=True)
    picks = np.linspace(0, len(panels) - 1, num=min(4, len(panels))).round().astype(int)
    sheet = np.concatenate([panels[i] for i in picks], axis=0)
    PILImage.fromarray(sheet).save(out / "demo.png", optimize=True)
