"""The three networks of one pipeline, with the metadata that says how to feed them.

A :class:`ModelSet` is loaded from a folder of weight files (``handsegnet.pt``,
``posenet.pt``, ``poseprior.pt``; see :mod:`hand3d_ros.models.weights`) or built with
random weights from a named configuration (plumbing only: the output is meaningless).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from hand3d_ros.models import build_network, load_weights, resolve_config
from hand3d_ros.options import check_segmentation_hw

#: Networks a pipeline needs, and the file each is stored in.
NETWORK_FILES = {"handsegnet": "handsegnet.pt", "posenet": "posenet.pt", "poseprior": "poseprior.pt"}
#: Weights shipped inside the package (trained by this project): ``<config>/<file>``.
SHIPPED_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
#: Environment variable naming a folder laid out like :data:`SHIPPED_WEIGHTS_DIR` that
#: replaces it as the default (a fleet's own weights; the tests point it at an empty
#: folder so that plumbing tests run on random weights whatever ships).
DEFAULT_WEIGHTS_ENV = "HAND3D_DEFAULT_WEIGHTS"


#: What :meth:`ModelSet.with_segmentation_size` appends to the model set's name.
SEGMENTATION_TAG = ", HandSegNet reads "


def default_weights_root() -> Path:
    """Where the default weights of each configuration live: ``$HAND3D_DEFAULT_WEIGHTS``
    if set, else the package's shipped weights."""
    override = os.environ.get(DEFAULT_WEIGHTS_ENV, "").strip()
    return Path(os.path.expanduser(override)) if override else SHIPPED_WEIGHTS_DIR


@dataclass
class ModelSet:
    """HandSegNet, PoseNet and PosePrior plus their metadata.

    Attributes:
        networks: name -> ``nn.Module`` in eval mode (on the CPU until a backend moves it).
        metadata: name -> the weight file's metadata (config, input_size, preprocessing,
            keypoint_order, training, sha256, ...); for random weights, the config only.
        name: short description, e.g. ``"lite (weights/)"`` or ``"lite (random weights)"``.
        random: True when the weights are random.
    """

    networks: dict
    metadata: dict
    name: str
    random: bool = False
    source_dir: Optional[Path] = None
    extra: dict = field(default_factory=dict)

    segmentation_hw: Optional[tuple] = None
    """(H, W) HandSegNet reads instead of its weights' input size (None: theirs); see
    :meth:`with_segmentation_size`."""

    @property
    def seg_input_hw(self) -> tuple:
        """(H, W) of HandSegNet's input, pixels: :attr:`segmentation_hw`, else the weights'."""
        if self.segmentation_hw is not None:
            return tuple(self.segmentation_hw)
        return tuple(self.metadata["handsegnet"]["input_size"])

    def with_segmentation_size(self, hw: Optional[tuple]) -> "ModelSet":
        """The same networks with HandSegNet reading frames resized to ``hw`` = (H, W) pixels
        (None: the weights' own size). HandSegNet is fully convolutional: a larger input
        sees small (far) hands over more cells of its stride-8 output, at a cost that grows
        with the pixels (README: accuracy against speed). Exported graphs and engines are
        cached per size. Raises ValueError for a size HandSegNet cannot read."""
        if hw is not None:
            check_segmentation_hw(hw)
            hw = tuple(int(v) for v in hw)
            if hw == tuple(self.metadata["handsegnet"]["input_size"]):
                hw = None
        if hw is None:
            return replace(self, segmentation_hw=None, name=self.name.split(SEGMENTATION_TAG)[0])
        return replace(self, segmentation_hw=hw,
                       name=self.name.split(SEGMENTATION_TAG)[0] + f"{SEGMENTATION_TAG}{hw[1]}x{hw[0]}")

    @property
    def crop_size(self) -> int:
        """Side of PoseNet's square input crop, pixels."""
        return int(self.metadata["posenet"]["input_size"][0])

    @property
    def map_size(self) -> int:
        """Side of PoseNet's score maps (= PosePrior's input), cells."""
        return int(self.metadata["poseprior"]["input_size"][0])

    @property
    def preprocessing(self) -> dict:
        """``x = rgb * scale + offset`` of the image networks."""
        return dict(self.metadata["handsegnet"]["preprocessing"])

    @property
    def config_name(self) -> str:
        return str(self.metadata["handsegnet"]["config"].get("variant", "custom"))


def random_model_set(config: str = "lite", seed: int = 0) -> ModelSet:
    """A model set with random (but deterministic, from ``seed``) weights; PosePrior
    starts at the template hand's canonical pose (:func:`init_mean_pose`)."""
    import torch

    from hand3d_ros.core.hand_template import template_canonical
    from hand3d_ros.models.poseprior import init_mean_pose
    from hand3d_ros.models.weights import default_preprocessing

    torch.manual_seed(seed)
    networks, metadata = {}, {}
    for network in NETWORK_FILES:
        cfg = resolve_config(network, config)
        networks[network] = build_network(network, cfg).eval()
        if network == "poseprior":  # a plausible hand instead of a random point cloud
            init_mean_pose(networks[network], template_canonical())
        metadata[network] = {"config": cfg, "input_size": tuple(cfg["input_size"]),
                             "preprocessing": default_preprocessing(network), "training": {"random": True}}
    return ModelSet(networks, metadata, name=f"{config} (random weights)", random=True)


def load_model_set(weights_dir) -> ModelSet:
    """Load ``handsegnet.pt``, ``posenet.pt`` and ``poseprior.pt`` from ``weights_dir``.

    Raises FileNotFoundError (naming the missing file) or
    :class:`hand3d_ros.models.WeightsError`.
    """
    folder = Path(os.path.expanduser(str(weights_dir)))
    networks, metadata = {}, {}
    for network, filename in NETWORK_FILES.items():
        path = folder / filename
        if not path.is_file():
            raise FileNotFoundError(f"no {filename} in {folder}")
        model, meta = load_weights(path)
        if meta["network"] != network:
            raise ValueError(f"{path} holds a {meta['network']}, not a {network}")
        networks[network], metadata[network] = model, meta
    _check_compatible(metadata, folder)
    variant = metadata["handsegnet"]["config"].get("variant", "custom")
    return ModelSet(networks, metadata, name=f"{variant} ({folder})", source_dir=folder)


def _check_compatible(metadata: dict, folder: Path) -> None:
    map_cells = metadata["posenet"]["input_size"][0] // 8
    if tuple(metadata["poseprior"]["input_size"]) != (map_cells, map_cells):
        raise ValueError(
            f"{folder}: PoseNet makes {map_cells}x{map_cells} maps but PosePrior expects "
            f"{tuple(metadata['poseprior']['input_size'])}"
        )
    orders = {tuple(metadata[n].get("keypoint_order", ())) for n in ("posenet", "poseprior")}
    if len(orders) != 1:
        raise ValueError(f"{folder}: PoseNet and PosePrior use different keypoint orders")


def resolve_model_set(weights_dir: Optional[str] = None, config: str = "lite",
                      allow_random_weights: bool = False) -> ModelSet:
    """The model set a user means: ``weights_dir`` if given; else the default weights of
    ``config`` (shipped with the package, or under ``$HAND3D_DEFAULT_WEIGHTS``) if they
    exist; else random weights if allowed; else a FileNotFoundError that says what to do."""
    if weights_dir:
        return load_model_set(weights_dir)
    shipped = default_weights_root() / config
    if all((shipped / f).is_file() for f in NETWORK_FILES.values()):
        return load_model_set(shipped)
    if allow_random_weights:
        return random_model_set(config)
    raise FileNotFoundError(
        f"no weights for the '{config}' configuration in {shipped}: pass a weights folder "
        "(weights_dir / --weights), train them (hand3d train), or allow random weights for plumbing tests"
    )
