"""Motion capture → SMPL-24 poses for the pose prior.

readers (Bandai BVH, CMU ASF/AMC and BVH) → MocapClip (world joints in metres, FK orientations)
→ retarget.retarget_clip(clip, rest_joints) → RetargetedClip (global_orient, body_pose, transl)
→ dataset.load_pose_dataset(rest_joints) → the cached, split PoseDataset (`main.py build-pose-cache`).
check_sheet renders docs/retarget_check.png. No Qt here; heavy modules are imported by their users.
"""
