"""A segmentation task with a known best operation for the Gumbel-NAS known-answer
test: the image is constant within each slice along the first axis (a random
sign per slice), and the label of slice x is the sign of slice x + SHIFT.
usage: gumbel_known_task.py OUT_DIR CASES SHIFT SEED"""
import json
import os
import sys

import nibabel as nib
import numpy as np

out, n, shift, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(seed)
os.makedirs(f"{out}/imagesTr", exist_ok=True)
os.makedirs(f"{out}/labelsTr", exist_ok=True)
training = []
for i in range(n):
    # 32 slices of 16 x 16: random 16³ crops along the first axis, so that no
    # absolute position can be memorised; np.roll wraps at the end (a few label
    # slices there are unpredictable, as in any crop)
    signs = rng.choice([-1.0, 1.0], size=32).astype(np.float32)
    img = np.broadcast_to(signs[:, None, None], (32, 16, 16)).copy()
    lab = (np.roll(img, -shift, axis=0) > 0).astype(np.uint8)
    nib.save(nib.Nifti1Image(img, np.eye(4)), f"{out}/imagesTr/c{i:03d}.nii.gz")
    nib.save(nib.Nifti1Image(lab, np.eye(4)), f"{out}/labelsTr/c{i:03d}.nii.gz")
    training.append({"image": f"./imagesTr/c{i:03d}.nii.gz", "label": f"./labelsTr/c{i:03d}.nii.gz"})
json.dump({"name": "slice_shift", "modality": {"0": "MRI"}, "labels": {"0": "background", "1": "shifted"},
           "numTraining": n, "training": training}, open(f"{out}/dataset.json", "w"), indent=1)
