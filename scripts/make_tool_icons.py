"""Draw the annotator's toolbar icons (resources/icons/tools/*.png) with Pillow: simple, high-contrast
glyphs at 64 px, readable on light and dark toolbars. Run once; the PNGs are committed."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "resources" / "icons" / "tools"
S = 64


def canvas():
    img = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    return img, ImageDraw.Draw(img)


def arrow(d, left: bool, colour):
    if left:
        d.polygon([(14, 32), (36, 12), (36, 24), (52, 24), (52, 40), (36, 40), (36, 52)], fill=colour)
    else:
        d.polygon([(50, 32), (28, 12), (28, 24), (12, 24), (12, 40), (28, 40), (28, 52)], fill=colour)


def curved(d, undo: bool, colour):
    box = (12, 14, 52, 54)
    d.arc(box, 200 if undo else -70, 70 if undo else 340, fill=colour, width=7)
    if undo:
        d.polygon([(6, 24), (22, 14), (24, 32)], fill=colour)
    else:
        d.polygon([(58, 24), (42, 14), (40, 32)], fill=colour)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    icons = {}
    img, d = canvas()
    d.line([(12, 34), (26, 48), (52, 16)], fill=(40, 170, 70), width=9, joint="curve")
    icons["accept"] = img
    img, d = canvas()
    d.line([(16, 16), (48, 48)], fill=(210, 50, 50), width=9)
    d.line([(48, 16), (16, 48)], fill=(210, 50, 50), width=9)
    icons["reject"] = img
    img, d = canvas()
    arrow(d, False, (60, 120, 200))
    icons["next"] = img
    img, d = canvas()
    arrow(d, True, (60, 120, 200))
    icons["previous"] = img
    img, d = canvas()
    curved(d, True, (90, 90, 100))
    icons["undo"] = img
    img, d = canvas()
    curved(d, False, (90, 90, 100))
    icons["redo"] = img
    img, d = canvas()  # copy previous: two stacked figures
    for off, c in ((0, (150, 150, 160)), (12, (60, 120, 200))):
        d.ellipse((14 + off, 6 + off, 26 + off, 18 + off), fill=c)
        d.rectangle((15 + off, 20 + off, 25 + off, 44 + off), fill=c)
    icons["copy_previous"] = img
    img, d = canvas()  # re-sample: dice
    d.rounded_rectangle((10, 10, 54, 54), 8, outline=(120, 70, 180), width=5)
    for x, y in ((22, 22), (42, 42), (32, 32), (42, 22), (22, 42)):
        d.ellipse((x - 4, y - 4, x + 4, y + 4), fill=(120, 70, 180))
    icons["resample"] = img
    img, d = canvas()  # reset: circular arrow around a dot
    d.arc((10, 10, 54, 54), 40, 330, fill=(200, 120, 30), width=7)
    d.polygon([(54, 12), (56, 34), (38, 26)], fill=(200, 120, 30))
    d.ellipse((27, 27, 37, 37), fill=(200, 120, 30))
    icons["reset"] = img
    img, d = canvas()  # hide keypoint: a dot struck through
    d.ellipse((18, 18, 46, 46), outline=(90, 90, 100), width=6)
    d.line([(10, 54), (54, 10)], fill=(210, 50, 50), width=7)
    icons["hide_keypoint"] = img
    img, d = canvas()  # pin
    d.ellipse((18, 8, 46, 36), fill=(235, 190, 30))
    d.polygon([(26, 32), (38, 32), (32, 58)], fill=(235, 190, 30))
    icons["pin"] = img
    for name, image in icons.items():
        image.save(OUT / f"{name}.png")
    print(f"{len(icons)} icons → {OUT}")


if __name__ == "__main__":
    main()
