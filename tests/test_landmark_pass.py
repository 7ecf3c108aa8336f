"""MediaPipe's landmark network run directly on the tracker's region (detection/landmark_pass.py) and
the landmark filter of its VIDEO mode (detection/tracking_looks.LandmarkFilter)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from genhmr_app.detection.detector import PoseDetector
from genhmr_app.detection.landmark_pass import (INPUT_SIDE, REGION_SCALE, LandmarkPass, Region, refine_from_heatmap,
                                                region_from_landmarks33, region_from_points)
from genhmr_app.detection.tracking_looks import FRAME_S, LandmarkFilter
from tests.rendered import render_walker


def test_the_region_stands_the_body_up():
    hips = np.array([100.0, 200.0])
    upright = region_from_points(hips, hips + [0.0, -50.0])  # the scale point above the hips
    assert upright.rotation == pytest.approx(0.0)
    assert upright.side == pytest.approx(2 * 50 * REGION_SCALE)
    lying = region_from_points(hips, hips + [50.0, 0.0])  # the head to the right
    assert abs(lying.rotation) == pytest.approx(np.pi / 2)
    # The crop's top centre (where the head is drawn) lands on the scale point's side of the hips.
    top = lying.crop_to_image() @ np.array([INPUT_SIDE / 2, 0.0, 1.0])
    assert top[0] > hips[0] + 50 and top[1] == pytest.approx(hips[1])


def test_the_crop_and_its_map_back_agree():
    """A marked pixel of the image is found in the crop where the region's map says it is."""
    region = Region(np.array([120.0, 90.0]), 160.0, np.deg2rad(30.0))
    image = np.zeros((240, 320, 3), np.uint8)
    crop_point = np.array([70.5, 180.5])  # a pixel centre in the crop
    x, y = region.crop_to_image() @ np.append(crop_point, 1.0)
    image[int(y), int(x)] = 255
    crop = cv2.warpAffine(image, region.pixel_map(), (INPUT_SIDE, INPUT_SIDE),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    found = np.array(np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2]))[::-1] + 0.5
    assert np.linalg.norm(found - crop_point) <= 1.5  # the crop is 1.6× finer than the image here


def test_the_heatmap_moves_a_landmark_only_where_it_is_sure():
    heatmap = np.full((64, 64, 2), -10.0, np.float32)
    heatmap[30, 33, 0] = 5.0  # a sure peak next to landmark 0
    heatmap[10, 12, 1] = -0.5  # landmark 1: nowhere above 0.5 after the sigmoid
    xy = np.array([[32.0 / 64, 30.0 / 64], [12.0 / 64, 10.0 / 64]])
    out, peaks = refine_from_heatmap(xy, heatmap)
    assert out[0, 0] == pytest.approx(33 / 64, abs=1e-3) and out[0, 1] == pytest.approx(30 / 64, abs=1e-3)
    assert np.array_equal(out[1], xy[1])
    assert peaks[0] > 0.99 and peaks[1] < 0.5  # the network's own certainty of each spot


def test_the_filter_follows_a_jump_partly_and_scales_with_the_person():
    def first_step(scale: float) -> float:
        f = LandmarkFilter(0.05, 80.0, 1.0)
        f(0.0, np.zeros((1, 2)), scale)
        return float(f(FRAME_S, np.full((1, 2), 0.01 * scale), scale)[0, 0]) / (0.01 * scale)

    share = first_step(100.0)
    assert 0.05 < share < 0.95  # the new look is blended with the first
    assert first_step(400.0) == pytest.approx(share)  # the same for a person four times as large
    f = LandmarkFilter(0.05, 80.0, 1.0)
    for i in range(5):
        still = f(i * FRAME_S, np.full((3, 2), 7.0), 100.0)
    assert np.allclose(still, 7.0)  # nothing moves: nothing changes


@pytest.fixture(scope="module")
def network():
    net = LandmarkPass()
    yield net
    net.close()


@pytest.mark.parametrize("degrees", [0, 60])
def test_the_pass_sees_the_person_the_detector_saw(network, degrees):
    """On a rendered person, upright and turned 60° with the image, the pass's landmarks lie where
    MediaPipe's own IMAGE mode puts them (a wrong rotation sign put them ~100 px off)."""
    image, _focal, _body = render_walker((480, 480), frame=40, seed=5)
    image = np.ascontiguousarray(cv2.warpAffine(image, cv2.getRotationMatrix2D((240, 240), degrees, 1.0), (480, 480)))
    detector = PoseDetector()
    try:
        person = detector.detect(image).people[0]
    finally:
        detector.close()
    look = network.run(image, region_from_landmarks33(person.landmarks_px))
    height = float(np.ptp(person.landmarks_px[:, 1])) if degrees == 0 else float(np.ptp(person.landmarks_px, axis=0).max())
    assert look.pose_score > 0.5
    assert np.median(np.linalg.norm(look.landmarks_px - person.landmarks_px, axis=-1)) < 0.03 * height
    # Its own region for the next pass is about the one built from the 33 landmarks.
    again = region_from_points(*look.auxiliary_px)
    first = region_from_landmarks33(person.landmarks_px)
    assert 0.8 < again.side / first.side < 1.25
    assert abs(np.angle(np.exp(1j * (again.rotation - first.rotation)))) < np.deg2rad(15)
