"""hand3d_ros: 3D hand pose from a single RGB image (Zimmermann and Brox, ICCV 2017).

Layers, each importing only the ones below it:

- ``ros/`` and ``cli.py``/``commands/``: the only places that know about ROS or argv;
- ``inference/`` (backends and the pipeline) and ``training/``;
- ``models/`` (layer tables, builders, weight files) and ``data/`` (renderer, readers);
- ``core/``: geometry, heatmap codec, canonical frame, keypoint order, metrics.
"""
__version__ = "0.1.0"
