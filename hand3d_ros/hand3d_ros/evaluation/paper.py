"""Published numbers of Zimmermann & Brox (ICCV 2017), DESIGN.md section 4.

Theirs are on RHD (R-val) unless noted; ours are on our own held-out data, so the
comparison is indicative only. ``None``: not published.
"""

#: result key (as in :func:`hand3d_ros.evaluation.evaluate.evaluate`) -> metric -> value.
PAPER_NUMBERS = {
    "segmentation": {"iou": None, "note": "the paper gives no HandSegNet IoU"},
    "2d_gt_crops": {"auc": 0.724, "epe_median": 5.0, "epe_mean": None,
                    "note": "PoseNet on GT crops, R-val, AUC 0-30 px (S-val AUC 0.817; authors' "
                            "retrained RHD-e: mean 7.6 px, median 3.9 px, AUC 0.771)"},
    "2d_pipeline": {"auc": 0.635, "epe_median": 6.7, "epe_mean": 18.7,
                    "note": "HandSegNet crops, R-val"},
    "3d_lifting": {"epe_median": 18.8, "auc": None,
                   "note": "PosePrior on (noisy) GT 2D, mean of per-keypoint median EPE, mm, R-val"},
    "3d_lifting_direct": {"epe_median": 20.9, "auc": None,
                          "note": "direct regression baseline of Table 2, mm, R-val"},
    "3d_posenet_gt_crops": {"epe_median": None, "auc": None, "note": "not published in this form"},
}
