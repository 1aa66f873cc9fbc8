"""Evaluation of trained networks on held-out data (``hand3d eval``).

- :func:`.evaluate.evaluate`: HandSegNet IoU; 2D EPE/AUC with GT crops and with the
  real pipeline's HandSegNet crops; 3D lifting EPE/AUC of PosePrior (and of the
  direct-regression baseline); the paper's numbers alongside (:mod:`.paper`).
- :func:`.plots.save_pck_plot`: PCK curves as PNG (matplotlib if present, else OpenCV).
"""
