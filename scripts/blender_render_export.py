# Renders an exported GLB in Blender (headless) to a PNG, for the README's animator how-to:
#   blender -b --factory-startup --python scripts/blender_render_export.py -- person_0.glb out.png [FRAME]
import sys

import numpy

numpy.bool = bool  # Blender 3.4's glTF importer uses numpy.bool, gone from numpy 1.24
import bpy  # noqa: E402
from mathutils import Vector  # noqa: E402

path, out = sys.argv[sys.argv.index("--") + 1:][:2]
frame = int(sys.argv[sys.argv.index("--") + 3]) if len(sys.argv) > sys.argv.index("--") + 3 else 20
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
bpy.ops.import_scene.gltf(filepath=path)
scene.frame_set(frame)
mesh = next(o for o in scene.objects if o.type == "MESH")
arm = next(o for o in scene.objects if o.type == "ARMATURE")
depsgraph = bpy.context.evaluated_depsgraph_get()
evaluated = mesh.evaluated_get(depsgraph)
points = [evaluated.matrix_world @ v.co for v in evaluated.data.vertices]
lo = Vector([min(p[i] for p in points) for i in range(3)])
hi = Vector([max(p[i] for p in points) for i in range(3)])
centre, height = (lo + hi) / 2, hi.z - lo.z
bpy.ops.mesh.primitive_plane_add(size=6, location=(centre.x, centre.y, lo.z))
cam_data = bpy.data.cameras.new("cam")
cam = bpy.data.objects.new("cam", cam_data)
scene.collection.objects.link(cam)
cam.location = centre + Vector((height * 1.6, -height * 2.2, height * 0.5))
cam.rotation_euler = (centre - cam.location).to_track_quat("-Z", "Y").to_euler()
scene.camera = cam
scene.render.engine = "BLENDER_WORKBENCH"
scene.display.shading.light = "STUDIO"
scene.display.shading.color_type = "SINGLE"
scene.display.shading.show_shadows = True
scene.world = bpy.data.worlds.new("world")
scene.world.color = (0.55, 0.6, 0.68)
scene.render.resolution_x, scene.render.resolution_y = 640, 640
scene.render.filepath = out
bpy.ops.render.render(write_still=True)
