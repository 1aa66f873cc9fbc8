"""Synthetic RHD-like hand images rendered from the WebXR hand meshes (numpy only).

Modules, bottom up:

- ``gltf``: a small GLB reader; ``skeleton``: the 25 WebXR joints, the imposed finger
  chains and the map to the 21 public keypoints; ``skinning``: rig loading by joint
  name, forward kinematics, linear blend skinning;
- ``articulation``: joint angles with limits, pose families, thumb IK;
- ``camera``: intrinsics and hand placement; ``raster``: z-buffer rasteriser;
  ``visibility``: per-keypoint visibility from the first surface hit;
- ``appearance``: skin tones, lights, shading; ``backgrounds``; ``geometry``: forearm,
  sleeve, occluders, clutter; ``postprocess``: blur, noise, JPEG;
- ``scene``: :class:`scene.HandRenderer` (one sample per ``(seed, split, index)``; the
  fields are listed in ``scene.SAMPLE_FIELDS``) and ``scene.SampleSource`` for
  ``hand3d_ros.data.shards.write_shards``; ``sequences``: moving hands.

The meshes are fetched at setup time by ``tools/fetch_hand_assets.sh`` (npm package
``@webxr-input-profiles/assets``, MIT); see ``assets``.
"""
