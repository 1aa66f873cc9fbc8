"""Training of HandSegNet, PoseNet and PosePrior (``hand3d train``).

- :mod:`.configs`: schedules and augmentation as data (paper and CPU schedules).
- :mod:`.datasets`: shard / reader datasets, deterministic resumable batch order.
- :mod:`.targets`: GT crops, Gaussian score-map targets, canonical targets (torch, batches).
- :mod:`.losses`: cross-entropy, score-map L2, canonical + rotation L2, direct L2.
- :mod:`.tasks`: per-network batch preparation and loss.
- :mod:`.loops`: :func:`.loops.train`, the one loop (checkpoints, resume, log, weights).
"""
