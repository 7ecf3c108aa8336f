"""The 3D scene as pictures: the body, its skeleton, a ground plane, the photo's camera, other hypotheses
and other people, rendered off-screen by VTK into RGB arrays (no Qt).

The window's viewport (ui/mesh_view.py) shows these pictures and turns the mouse into camera moves.

Everything is drawn in the y-up display frame of `genhmr_app.pipeline.display` (the photo's camera at
the origin looking down -z). Actors are created once and updated in place: re-adding actors every
frame is slow and flickers during live video.

Off-screen rather than a QOpenGLWidget in the window: with one in the window, Qt composes the *whole
window* through OpenGL on every repaint of any widget, about 15 ms a flush on a software GL, on top of
the render; a keypoint drag's mesh then trailed the hand by 150-240 ms and live video stayed under
25 fps. Off-screen, a frame costs its render and a read-back (about 15 ms for 400x600 on llvmpipe).

What a frame costs on a software GL (llvmpipe, 460x800, measured): the body under pyvista's five-light
kit 14 ms, under two lights 8 ms; a ground plane drawn with its cell edges 5 ms, as a plain plane plus a
line grid under 2 ms. Hence two lights, a line grid, and half resolution while the user drags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from genhmr_app.pipeline.display import FRUSTUM_LINES

SKIN = (0.80, 0.72, 0.64)
GHOST_COLOURS = [(0.35, 0.75, 1.0), (1.0, 0.6, 0.3), (0.6, 1.0, 0.5), (1.0, 0.45, 0.8), (0.95, 0.95, 0.4),
                 (0.6, 0.6, 1.0), (0.4, 1.0, 0.9)]
OTHER_PERSON_COLOUR = (0.62, 0.66, 0.74)  # bluish grey: present but not the one in focus
UNCERTAINTY_CMAP = "coolwarm"  # blue = confident, red = uncertain; readable for red-green colour blindness
VIEW_FOV_DEG = 30.0
ORBIT_DEG_PER_PX = 0.4
HEADLIGHT_INTENSITY = 0.5  # two lights instead of a five-light kit: each light is a pass over every pixel
KEY_LIGHT_INTENSITY = 0.75
KEY_LIGHT_DIRECTION = (0.11, 0.77, 0.63)  # camera frame: above and a little right, as the light kit's key
INTERACTIVE_REDUCTION = 2  # while the user drags, render at 1/2 the size and stretch the picture
GROUND_SIZE_M = 4.0
GROUND_CELLS = 8


def faces_to_vtk(faces: np.ndarray) -> np.ndarray:
    faces = np.asarray(faces, dtype=np.int64)
    return np.hstack([np.full((len(faces), 1), 3, dtype=np.int64), faces]).ravel()


def _ground_grid():
    """The ground's grid lines, (GROUND_CELLS + 1) each way, centred on the origin in the y = 0 plane."""
    import pyvista as pv

    ticks = np.linspace(-GROUND_SIZE_M / 2, GROUND_SIZE_M / 2, GROUND_CELLS + 1)
    ends = [((t, 0.0, ticks[0]), (t, 0.0, ticks[-1])) for t in ticks] + [((ticks[0], 0.0, t), (ticks[-1], 0.0, t))
                                                                          for t in ticks]
    points = np.array([p for pair in ends for p in pair], np.float32)
    return pv.PolyData(points, lines=_lines_to_vtk(np.arange(len(points)).reshape(-1, 2)))


def _write_in_place(vtk_array, values: np.ndarray) -> None:
    """Overwrite a VTK data array (or vtkPoints) of the same shape and mark it changed."""
    from vtkmodules.util.numpy_support import vtk_to_numpy

    data = vtk_array.GetData() if vtk_array.IsA("vtkPoints") else vtk_array
    view = vtk_to_numpy(data)
    view[...] = np.asarray(values).reshape(view.shape)
    data.Modified()
    vtk_array.Modified()


def _lines_to_vtk(edges: np.ndarray) -> np.ndarray:
    edges = np.asarray(edges, dtype=np.int64)
    return np.hstack([np.full((len(edges), 1), 2, dtype=np.int64), edges]).ravel()


@dataclass
class MeshScene:
    """One picture of the viewport, display frame throughout."""

    vertices: np.ndarray  # (V, 3) the shown hypothesis
    faces: np.ndarray
    normals: np.ndarray | None = None  # (V, 3)
    uncertainty: np.ndarray | None = None  # (V,) in [0, 1]
    joints: np.ndarray | None = None  # (24, 3)
    bones: list[tuple[int, int]] = field(default_factory=list)
    frustum: np.ndarray | None = None  # (5, 3) apex + image corners
    ghosts: list[np.ndarray] = field(default_factory=list)  # other hypotheses (V, 3), translucent
    camera_fov_deg: float | None = None  # the photo's vertical field of view, for the "camera" view
    others: list[np.ndarray] = field(default_factory=list)  # the other people in the picture (V, 3), opaque



@dataclass(frozen=True)
class ViewOptions:
    """What the viewer asked to see."""

    colour_mode: str = "skin"  # or "uncertainty"
    skeleton: bool = False  # the skeleton inside a translucent body
    ground: bool = True
    frustum: bool = True
    antialias: bool = True  # FXAA: off while the user drags (it costs a software GL a pass per frame)


class SceneRenderer:
    def __init__(self, size: tuple[int, int] = (400, 600)) -> None:
        import pyvista as pv

        self.plotter = pv.Plotter(off_screen=True, window_size=size, lighting="none")
        self.plotter.render_window.SetMultiSamples(0)  # FXAA instead: 4x MSAA quadruples a software GL's work
        self.plotter.set_background("#2b2b30", top="#50505a")
        self.plotter.add_light(pv.Light(light_type="headlight", intensity=HEADLIGHT_INTENSITY))
        self.plotter.add_light(pv.Light(position=KEY_LIGHT_DIRECTION, focal_point=(0.0, 0.0, 0.0),
                                        light_type="camera light", intensity=KEY_LIGHT_INTENSITY))
        self.options = ViewOptions()
        self._size = (int(size[0]), int(size[1]))  # the viewport's; the picture is smaller while interacting
        self._reduction = 1
        self._antialias = False
        self._set_antialias(True)
        self._centre: np.ndarray | None = None  # of the shown body's box (the camera travels with it)
        self._extent = np.zeros(3)  # the box's size
        self._floor = 0.0  # its lowest point (y up)
        self._mesh = None
        self._body_actor = None
        self._skeleton = self._skeleton_actor = None
        self._joint_actor = None
        self._frustum = self._frustum_actor = None
        self._ground_actor = self._grid_actor = None
        self._ghosts: list = []
        self._others: list = []
        self._scene: MeshScene | None = None
        self._view = "front"  # the last preset chosen ("custom" once the user moves the camera)

    @property
    def has_body(self) -> bool:
        return self._mesh is not None

    # -- content ------------------------------------------------------------------------------
    def show_scene(self, scene: MeshScene, reset_camera: bool = False) -> None:
        import pyvista as pv

        first = self._mesh is None
        old_centre = self._centre
        self._scene = scene
        vertices = np.asarray(scene.vertices, np.float32)
        if first:
            # A copy: VTK would otherwise share the caller's array, and the in-place updates below
            # would write into it.
            self._mesh = pv.PolyData(vertices.copy(), faces_to_vtk(scene.faces))
            self._mesh.point_data["uncertainty"] = np.zeros(len(vertices), np.float32)
            self._set_normals(scene)
            self._body_actor = self.plotter.add_mesh(
                self._mesh, scalars="uncertainty", cmap=UNCERTAINTY_CMAP, clim=(0.0, 1.0), show_scalar_bar=False,
                specular=0.25, smooth_shading=False, name="body", render=False)
            self._body_actor.prop.color = SKIN  # shown whenever the uncertainty colouring is off
            # Our own point normals with Gouraud shading: smooth, and still correct after in-place updates
            # (pyvista's smooth_shading copies the mesh, so updating our points would not show).
            self._body_actor.prop.interpolation = "gouraud"
        elif self._mesh.n_cells != len(scene.faces) or self._mesh.n_points != len(vertices):
            # Another mesh (a drag's reduced preview, or the full one again): swapped in place, so
            # the actor, its look and the user's camera stay.
            self._mesh.points = vertices.copy()
            self._mesh.faces = faces_to_vtk(scene.faces)
            self._mesh.point_data["uncertainty"] = np.zeros(len(vertices), np.float32)
            self._set_normals(scene)
        else:
            # The same mesh posed anew (every live frame): written into VTK's own arrays. pyvista's
            # setters build new arrays each time, ~2 ms a frame on the UI thread.
            _write_in_place(self._mesh.GetPoints(), vertices)
            self._set_normals(scene)
        # VTK's bounds (C++): numpy's min/max over (V, 3) along the long axis cost ~1 ms a frame.
        bounds = np.asarray(self._mesh.GetPoints().GetBounds()).reshape(3, 2)
        self._extent = bounds[:, 1] - bounds[:, 0]
        self._floor = float(bounds[1, 0])
        self._centre = bounds.mean(axis=1)
        if scene.uncertainty is not None:
            values = self._mesh.GetPointData().GetArray("uncertainty")
            if values is not None and values.GetNumberOfTuples() == len(scene.uncertainty):
                _write_in_place(values, np.asarray(scene.uncertainty, np.float32))
            else:
                self._mesh.point_data["uncertainty"] = np.array(scene.uncertainty, np.float32)
        self._update_skeleton(scene)
        self._update_frustum(scene)
        self._update_ghosts(scene)
        self._update_others(scene)
        self._update_ground(scene)
        self._apply_colour()
        self._apply_visibility()
        if first or reset_camera:
            self.set_view("front")
        elif self._view == "reset":
            self._fit_clipping_range()  # the photo's own camera does not move
        else:
            # Keep the user's viewpoint but travel with the body, so a moving person stays in frame.
            shift = self._centre - old_centre
            cam = self.plotter.camera
            # VTK's own setters: pyvista's reset the clipping range on each, and that is a pass over
            # every actor's bounds.
            cam.SetPosition(*(np.asarray(cam.GetPosition()) + shift))
            cam.SetFocalPoint(*(np.asarray(cam.GetFocalPoint()) + shift))
            self._fit_clipping_range()

    def warm_up(self, scene: MeshScene, reduction: int) -> None:
        """Draw `scene` once the way live frames are drawn (at 1/`reduction` size, no FXAA), then put
        back what was shown, camera included. A software GL compiles the shaders of each new kind of
        actor (the frustum's lines, a swapped mesh) and sizes its buffers on the first render that
        uses them: ~100 ms on the event loop. Done here, when the user opens a video or the camera
        page, that time is not spent on a stream's first frame. Needs a shown body to go back to."""
        shown = self._scene
        if shown is None:
            return
        cam = self.plotter.camera
        saved_camera = (cam.GetPosition(), cam.GetFocalPoint(), cam.GetViewUp(), cam.GetViewAngle(),
                        cam.GetClippingRange())
        saved_view, saved_options, saved_reduction = self._view, self.options, self._reduction
        self.set_options(replace(saved_options, antialias=False))
        self.set_reduction(reduction)
        self.show_scene(scene, reset_camera=True)
        self.plotter.render_window.Render()
        self.set_reduction(saved_reduction)
        self.set_options(saved_options)
        self.show_scene(shown)
        cam.SetPosition(*saved_camera[0])
        cam.SetFocalPoint(*saved_camera[1])
        cam.SetViewUp(*saved_camera[2])
        cam.SetViewAngle(saved_camera[3])
        cam.SetClippingRange(*saved_camera[4])
        self._view = saved_view

    def _fit_clipping_range(self) -> None:
        """Near and far planes around what is drawn, from boxes we already know (the body's, the
        ground's, the photo camera's and the other people's). VTK's ResetCameraClippingRange asks
        every actor for its bounds: ~2 ms a live frame."""
        lo = self._centre - 0.5 * self._extent
        hi = self._centre + 0.5 * self._extent
        half = GROUND_SIZE_M / 2
        boxes = [(lo, hi), (self._centre - [half, 0, half], self._centre + [half, 0, half])]
        scene = self._scene
        if scene is not None and scene.frustum is not None and self.options.frustum:
            frustum = np.asarray(scene.frustum)
            boxes.append((frustum.min(0), frustum.max(0)))
        for verts in scene.others if scene is not None else []:
            verts = np.asarray(verts)
            boxes.append((verts.min(0), verts.max(0)))
        lo = np.min([b[0] for b in boxes], axis=0)
        hi = np.max([b[1] for b in boxes], axis=0)
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        cam = self.plotter.camera
        depth = (corners - np.asarray(cam.GetPosition())) @ np.asarray(cam.GetDirectionOfProjection())
        far = max(float(depth.max()) * 1.05 + 0.05, 0.1)
        cam.SetClippingRange(max(float(depth.min()) * 0.95 - 0.05, far * 1e-3), far)

    def _set_normals(self, scene: MeshScene) -> None:
        if scene.normals is None:
            from genhmr_app.pipeline.display import vertex_normals

            normals = vertex_normals(scene.vertices, scene.faces)
        else:
            normals = np.asarray(scene.normals, np.float32)
        data = self._mesh.GetPointData()
        if data.GetNormals() is not None and data.GetNormals().GetNumberOfTuples() == len(normals):
            _write_in_place(data.GetNormals(), normals)
            return
        self._mesh.point_data["Normals"] = normals.copy()
        self._mesh.point_data.active_normals_name = "Normals"

    def _update_skeleton(self, scene: MeshScene) -> None:
        import pyvista as pv

        if scene.joints is None or not scene.bones:
            return
        joints = np.asarray(scene.joints, np.float32)
        if self._skeleton is None:
            self._skeleton = pv.PolyData(joints, lines=_lines_to_vtk(scene.bones))
            self._skeleton_actor = self.plotter.add_mesh(self._skeleton, color=(1.0, 0.85, 0.2), line_width=4,
                                                         render_lines_as_tubes=True, name="skeleton",
                                                         render=False)
            self._joint_points = pv.PolyData(joints)
            self._joint_actor = self.plotter.add_mesh(self._joint_points, color=(1.0, 0.4, 0.1), point_size=10,
                                                      render_points_as_spheres=True, name="joints",
                                                      render=False)
        else:
            self._skeleton.points = joints
            self._joint_points.points = joints

    def _update_frustum(self, scene: MeshScene) -> None:
        import pyvista as pv

        if scene.frustum is None:
            return
        pts = np.asarray(scene.frustum, np.float32)
        if self._frustum is None:
            self._frustum = pv.PolyData(pts, lines=_lines_to_vtk(FRUSTUM_LINES))
            self._frustum_actor = self.plotter.add_mesh(self._frustum, color=(0.75, 0.75, 0.85), line_width=1.5,
                                                        name="frustum", render=False)
        else:
            self._frustum.points = pts

    def _update_ghosts(self, scene: MeshScene) -> None:
        self._ghosts = self._sync_meshes(self._ghosts, scene.ghosts, scene.faces, lambda i: dict(
            color=GHOST_COLOURS[i % len(GHOST_COLOURS)], opacity=0.3, name=f"ghost{i}"))

    def _update_others(self, scene: MeshScene) -> None:
        """The other people, in a neutral colour: where they stand relative to the shown person."""
        self._others = self._sync_meshes(self._others, scene.others, scene.faces, lambda i: dict(
            color=OTHER_PERSON_COLOUR, specular=0.2, name=f"other{i}"))

    def _sync_meshes(self, shown: list, wanted: list, faces: np.ndarray, style) -> list:
        """(actor, mesh) pairs showing `wanted` vertex arrays: updated in place when the count is the
        same, rebuilt (with `style(i)` as add_mesh's options) when it changed."""
        import pyvista as pv

        if len(shown) == len(wanted):
            for (_actor, mesh), verts in zip(shown, wanted):
                mesh.points = np.asarray(verts, np.float32)
            return shown
        for actor, _mesh in shown:
            self.plotter.remove_actor(actor, render=False)
        rebuilt = []
        for i, verts in enumerate(wanted):
            mesh = pv.PolyData(np.asarray(verts, np.float32), faces_to_vtk(faces))
            rebuilt.append((self.plotter.add_mesh(mesh, render=False, **style(i)), mesh))
        return rebuilt

    def _update_ground(self, scene: MeshScene) -> None:
        import pyvista as pv

        floor = self._floor
        if self._ground_actor is None:
            # Opaque (a translucent plane costs a sorting pass, about 30 ms a frame on a software GL), and
            # the grid as lines of its own (a plane drawn with its cell edges costs a second pass).
            plane = pv.Plane(center=(0, 0, 0), direction=(0, 1, 0), i_size=GROUND_SIZE_M, j_size=GROUND_SIZE_M,
                             i_resolution=1, j_resolution=1)
            self._ground_actor = self.plotter.add_mesh(plane, color=(0.36, 0.37, 0.41), ambient=0.3, name="ground",
                                                       render=False)
            self._grid_actor = self.plotter.add_mesh(_ground_grid(), color=(0.46, 0.48, 0.53), line_width=1,
                                                     lighting=False, name="ground_grid", render=False)
        position = (float(self._centre[0]), floor - 0.002, float(self._centre[2]))
        self._ground_actor.position = position
        # Just above the plane, so the lines win the depth test everywhere.
        self._grid_actor.position = (position[0], position[1] + 0.001, position[2])

    # -- appearance ---------------------------------------------------------------------------
    def set_options(self, options: ViewOptions) -> None:
        self.options = options
        self._set_antialias(options.antialias)
        self._apply_colour()
        self._apply_visibility()

    def _set_antialias(self, on: bool) -> None:
        if on != self._antialias:
            self._antialias = on
            # The renderer's own switch: pyvista's enable_anti_aliasing("fxaa") first asks whether VTK
            # uses EGL by making a render window, 11-20 ms of the UI thread at each drag's or stream's end.
            self.plotter.renderer.SetUseFXAA(on)

    def _apply_colour(self) -> None:
        if self._body_actor is None:
            return
        has_values = self._scene is not None and self._scene.uncertainty is not None
        self._body_actor.mapper.scalar_visibility = self.options.colour_mode == "uncertainty" and has_values

    def _apply_visibility(self) -> None:
        scene = self._scene
        # The skeleton and the photo's camera belong to a reconstruction: a bare mesh (the rest body)
        # shows neither, even after a result made their actors.
        skeleton = self.options.skeleton and scene is not None and scene.joints is not None
        for actor in (self._skeleton_actor, self._joint_actor):
            if actor is not None:
                actor.visibility = skeleton
        if self._body_actor is not None:
            # The skeleton is inside the body: see it through a translucent skin.
            self._body_actor.prop.opacity = 0.35 if skeleton and self._skeleton_actor is not None else 1.0
        for actor in (self._ground_actor, self._grid_actor):
            if actor is not None:
                actor.visibility = self.options.ground
        if self._frustum_actor is not None:
            self._frustum_actor.visibility = self.options.frustum and scene is not None and scene.frustum is not None

    # -- camera ---------------------------------------------------------------------------------
    def set_view(self, name: str) -> None:
        """A preset: "front", "side", "top", or "reset" (the photo's own camera)."""
        if self._mesh is None:
            return
        self._view = name
        centre = self._centre
        extent = float(max(self._extent[1], 0.5 * self._extent[0], 0.5 * self._extent[2], 0.3))
        cam = self.plotter.camera
        distance = 1.35 * extent / (2 * math.tan(math.radians(VIEW_FOV_DEG) / 2))
        up = (0.0, 1.0, 0.0)
        if name == "reset" and self._scene is not None and self._scene.frustum is not None:
            # The photo's own camera: the body lines up with the picture.
            cam.position = (0.0, 0.0, 0.0)
            cam.focal_point = tuple(centre)
            cam.up = up
            cam.view_angle = self._scene.camera_fov_deg or VIEW_FOV_DEG
        else:
            direction = {"side": (1.0, 0.0, 0.0), "top": (0.0, 1.0, 0.0)}.get(name, (0.0, 0.0, 1.0))
            if name == "top":
                up = (0.0, 0.0, -1.0)
            angle = VIEW_FOV_DEG
            if name in ("front", "reset") and self._scene is not None and self._scene.frustum is not None:
                # Stay in front of the photo's camera (at the origin), so its glyph is behind us, and
                # widen the lens to keep the body in frame.
                glyph_depth = float(-np.asarray(self._scene.frustum)[1:, 2].mean())
                limit = max(abs(float(centre[2])) - glyph_depth - 0.2, 0.5)
                if limit < distance:
                    distance = limit
                    angle = math.degrees(2 * math.atan(1.35 * extent / (2 * distance)))
            cam.position = tuple(centre + distance * np.asarray(direction))
            cam.focal_point = tuple(centre)
            cam.up = up
            cam.view_angle = angle
        self.plotter.reset_camera_clipping_range()

    # -- the user's camera moves, in viewport pixels -------------------------------------------
    def orbit(self, dx: float, dy: float) -> None:
        cam = self.plotter.camera
        cam.Azimuth(-dx * ORBIT_DEG_PER_PX)
        cam.Elevation(dy * ORBIT_DEG_PER_PX)
        cam.OrthogonalizeViewUp()
        self._camera_moved()

    def pan(self, dx: float, dy: float) -> None:
        cam = self.plotter.camera
        position, focal = np.asarray(cam.position), np.asarray(cam.focal_point)
        distance = float(np.linalg.norm(position - focal))
        height = max(self.size[1], 1)
        metres_per_px = 2 * distance * math.tan(math.radians(cam.view_angle) / 2) / height
        forward = (focal - position) / max(distance, 1e-9)
        up = np.asarray(cam.up)
        right = np.cross(forward, up)
        shift = (-dx * right + dy * up) * metres_per_px
        cam.position, cam.focal_point = tuple(position + shift), tuple(focal + shift)
        self._camera_moved()

    def zoom(self, factor: float) -> None:
        self.plotter.camera.Dolly(factor)
        self._camera_moved()

    def _camera_moved(self) -> None:
        self._view = "custom"  # the user's own viewpoint: kept (and travels with the body)
        self.plotter.reset_camera_clipping_range()

    # -- pictures -------------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        """The viewport's size (the picture's, unless reduced while interacting)."""
        return self._size

    def resize(self, width: int, height: int) -> None:
        if width > 0 and height > 0:
            self._size = (int(width), int(height))
            self._apply_size()

    def set_reduction(self, factor: int) -> None:
        """Render at 1/factor of the viewport's size (1: full size). A software GL's time goes with the
        pixels: while the user drags, a quick picture matters more than a sharp one."""
        if factor != self._reduction:
            self._reduction = max(1, int(factor))
            self._apply_size()

    def _apply_size(self) -> None:
        picture = tuple(max(1, s // self._reduction) for s in self._size)
        if picture != tuple(int(x) for x in self.plotter.window_size):
            self.plotter.window_size = picture

    def render(self) -> np.ndarray:
        """Render and read the picture back: (H, W, 3) uint8, top row first."""
        from vtkmodules.util.numpy_support import vtk_to_numpy
        from vtkmodules.vtkCommonCore import vtkUnsignedCharArray

        window = self.plotter.render_window
        window.Render()
        # Read straight from the front buffer (what pyvista's image_from_window reads, without its
        # image filter and wrappers: ~1 ms a live frame on the UI thread).
        width, height = window.GetSize()
        pixels = vtkUnsignedCharArray()
        window.GetPixelData(0, 0, width - 1, height - 1, 1, pixels, 0)
        return np.ascontiguousarray(vtk_to_numpy(pixels).reshape(height, width, 3)[::-1])

    def close(self) -> None:
        self.plotter.close()

