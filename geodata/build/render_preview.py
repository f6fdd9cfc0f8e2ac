"""Quick-look PNG of the plan layers (matplotlib): .venv/bin/python geodata/build/render_preview.py OUT.png [--zoom]"""
from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from kfqmap.catalog import load_catalog  # noqa: E402

for f in font_manager.findSystemFonts(["/usr/share/fonts/opentype/noto"]):
    if "NotoSansCJK-Regular" in f:
        font_manager.fontManager.addfont(f)
        plt.rcParams["font.family"] = font_manager.FontProperties(fname=f).get_name()
        break


def main(out: str, zoom: bool) -> None:
    cat = load_catalog()
    fig, ax = plt.subplots(figsize=(16, 12), dpi=110)
    order = sorted((l for l in cat.layers if l.is_spatial), key=lambda l: l.style.z)
    for layer in order:
        fr = cat.read(layer.id)
        st = layer.style
        ls = (0, tuple(st.dash)) if st.dash else "solid"
        if layer.is_polygonal and st.category_field:
            for key, look in (st.categories or {}).items():
                sub = fr[fr[st.category_field] == key]
                if len(sub):
                    sub.plot(ax=ax, facecolor=(*matplotlib.colors.to_rgb(look["fill"]), st.fill_opacity),
                             edgecolor=look["stroke"], linewidth=st.stroke_width * 0.6, linestyle=ls)
        elif layer.is_polygonal:
            fr.plot(ax=ax, facecolor=st.fill or "none", alpha=None, edgecolor=st.stroke, linewidth=st.stroke_width * 0.6,
                    linestyle=ls)
            for coll in ax.collections[-1:]:
                coll.set_facecolor([(*matplotlib.colors.to_rgb(st.fill), st.fill_opacity)] if st.fill else "none")
        elif layer.geometry_type in ("LineString", "MultiLineString"):
            fr.plot(ax=ax, color=st.stroke, linewidth=st.stroke_width * 0.7, linestyle=ls)
        else:
            fr.plot(ax=ax, color=st.fill, edgecolor=st.stroke, markersize=st.radius * 5)
        if st.label and layer.id not in ("admin_boundaries", "low_efficiency_land"):
            for _, row in fr.iterrows():
                p = row.geometry.representative_point() if layer.geometry_type != "Point" else row.geometry
                fs = 6 if layer.id in ("s1_stations",) else 7
                ax.annotate(row["name"], (p.x, p.y), fontsize=fs, color=st.stroke, ha="center")
    if zoom:
        ax.set_xlim(120.94, 121.11)
        ax.set_ylim(31.32, 31.44)
    else:
        ax.set_xlim(120.85, 121.17)
        ax.set_ylim(31.26, 31.48)
    ax.set_aspect(1 / 0.853)
    fig.savefig(out, bbox_inches="tight")


if __name__ == "__main__":
    main(sys.argv[1], "--zoom" in sys.argv)
