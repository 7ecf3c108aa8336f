# Runs inside Blender (`blender -b --python import_joints.py -- FILE OUT.json FPS FRAMES`): imports a BVH or a
# GLB and writes every joint's world position on every frame as JSON, for tests/test_motion_export.py.
import builtins, json, sys
import numpy
numpy.bool = bool  # Blender 3.4's glTF importer uses numpy.bool, gone from numpy 1.24
_open = builtins.open
def _open_no_U(file, mode="r", *a, **k):
    return _open(file, mode.replace("U", ""), *a, **k)  # its BVH importer opens with 'rU'
builtins.open = _open_no_U
import bpy
args = sys.argv[sys.argv.index("--") + 1:]
path, out, fps, frames = args[0], args[1], float(args[2]), int(args[3])
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.fps = round(fps); scene.render.fps_base = round(fps) / fps
if path.endswith(".bvh"):
    bpy.ops.import_anim.bvh(filepath=path, axis_forward="-Z", axis_up="Y", update_scene_fps=False, frame_start=1)
else:
    bpy.ops.import_scene.gltf(filepath=path)
arm = next(o for o in scene.objects if o.type == "ARMATURE")
start = int(round(arm.animation_data.action.frame_range[0]))  # BVH import: frame 1; glTF: time 0 = frame 0
result = []
for f in range(frames):
    scene.frame_set(start + f)
    result.append({b.name: list(arm.matrix_world @ b.head) for b in arm.pose.bones})
json.dump(result, builtins.open(out, "w"))
