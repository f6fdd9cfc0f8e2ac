"""Control-point georeferencing of drawings in local (engineering) coordinates.

At least 3 pairs of drawing coordinates ↔ known coordinates (any supported CRS; converted to EPSG:4549 metres,
where the fit is made) give a least-squares **similarity** (scale, rotation, shift: 4 parameters) or **affine**
(6 parameters) transform. Each pair's residual (distance between its known position and where the fitted
transform puts its drawing position) and the RMS of the residuals are reported in metres; a fit whose RMS is
above ``max_rms_m`` is refused (a typo in one control point shows there as one large residual).

The control-point CSV has a header row; drawing columns are ``src_x,src_y`` (or 图上X/图上Y, cad_x/cad_y,
local_x/local_y), known columns ``dst_x,dst_y`` (or x/y, 东坐标/北坐标, lon/lat, 经度/纬度); an optional
``name`` column labels the points in the report.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from ..crs import parse_crs, transform_xy
from ..errors import InvalidParameter

SRC_PAIRS = (("src_x", "src_y"), ("图上x", "图上y"), ("cad_x", "cad_y"), ("local_x", "local_y"))
DST_PAIRS = (("dst_x", "dst_y"), ("东坐标", "北坐标"), ("x", "y"), ("lon", "lat"), ("经度", "纬度"))
METHODS = ("similarity", "affine")


@dataclass
class ControlFit:
    method: str
    crs: str                                  # the CRS the known coordinates were given in
    matrix: list[list[float]]                 # 2×3: [[a, b, c], [d, e, f]]: x' = a x + b y + c, y' = d x + e y + f
    residuals_m: list[float]
    names: list[str]
    rms_m: float
    max_rms_m: float
    scale: float | None = None
    rotation_deg: float | None = None
    notes: list[str] = field(default_factory=list)

    def apply(self, geoms):
        m = np.asarray(self.matrix)

        def fn(c: np.ndarray) -> np.ndarray:
            return c @ m[:, :2].T + m[:, 2]
        return shapely.transform(geoms, fn)


def _pair(columns: dict[str, str], pairs) -> tuple[str, str] | None:
    return next(((columns[a], columns[b]) for a, b in pairs if a in columns and b in columns), None)


def read_control_points(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    raw = Path(path).read_bytes()
    text = raw.decode("utf-8-sig") if raw.startswith(b"\xef\xbb\xbf") else None
    if text is None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("gb18030", "replace")
    try:
        table = pd.read_csv(io.StringIO(text), sep=None, engine="python", dtype=str)
    except Exception as exc:
        raise InvalidParameter(f"控制点文件无法读取：{str(exc)[:120]}", parameter="control_points") from None
    cols = {str(c).strip().lower(): c for c in table.columns}
    src, dst = _pair(cols, SRC_PAIRS), _pair(cols, DST_PAIRS)
    if src is None or dst is None:
        raise InvalidParameter("控制点文件需要图上坐标列 src_x,src_y 和已知坐标列 dst_x,dst_y（或 图上X/图上Y 与 "
                               f"东坐标/北坐标）；现有列：{'、'.join(map(str, table.columns))}", parameter="control_points")
    values = table[[*src, *dst]].apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any():
        row = int(np.flatnonzero(values.isna().any(axis=1).to_numpy())[0]) + 2
        raise InvalidParameter(f"控制点文件第 {row} 行有非数字坐标", parameter="control_points")
    names = [str(v) for v in table[cols["name"]]] if "name" in cols else [f"P{i + 1}" for i in range(len(table))]
    return values[list(src)].to_numpy(float), values[list(dst)].to_numpy(float), names


def fit(src: np.ndarray, dst: np.ndarray, *, crs: str = "EPSG:4549", method: str = "similarity",
        max_rms_m: float = 1.0, names: list[str] | None = None) -> ControlFit:
    """Fit drawing → EPSG:4549 from control points; raise ``InvalidParameter`` when it cannot or is too poor."""
    if method not in METHODS:
        raise InvalidParameter(f"配准方法只能是 {' / '.join(METHODS)}", parameter="control_method")
    n = len(src)
    if n < 3:
        raise InvalidParameter(f"控制点至少需要 3 对（现有 {n} 对）", parameter="control_points")
    info = parse_crs(crs, parameter="control_crs")
    tx, ty = transform_xy(dst[:, 0], dst[:, 1], info, "EPSG:4549")
    target = np.column_stack([np.asarray(tx, float), np.asarray(ty, float)])
    x, y = src[:, 0], src[:, 1]
    if method == "similarity":             # x' = a x − b y + c ; y' = b x + a y + f
        A = np.zeros((2 * n, 4))
        A[0::2] = np.column_stack([x, -y, np.ones(n), np.zeros(n)])
        A[1::2] = np.column_stack([y, x, np.zeros(n), np.ones(n)])
        sol, *_ = np.linalg.lstsq(A, target.reshape(-1), rcond=None)
        a, b, c, f = sol
        matrix = [[a, -b, c], [b, a, f]]
        scale, rotation = float(np.hypot(a, b)), float(np.degrees(np.arctan2(b, a)))
    else:
        A = np.column_stack([x, y, np.ones(n)])
        if np.linalg.matrix_rank(A) < 3:
            raise InvalidParameter("控制点共线，无法求仿射变换：请选分布在图形四周的点", parameter="control_points")
        sx, *_ = np.linalg.lstsq(A, target[:, 0], rcond=None)
        sy, *_ = np.linalg.lstsq(A, target[:, 1], rcond=None)
        matrix = [list(sx), list(sy)]
        scale = rotation = None
    m = np.asarray(matrix, float)
    fitted = src @ m[:, :2].T + m[:, 2]
    residuals = np.hypot(*(fitted - target).T)
    rms = float(np.sqrt(np.mean(residuals ** 2)))
    result = ControlFit(method, info.code, m.tolist(), residuals.tolist(), names or [f"P{i + 1}" for i in range(n)],
                        rms, max_rms_m, scale, rotation)
    if n == 3 and method == "affine":
        result.notes.append("3 对控制点恰好确定仿射变换，残差必为 0，无法检验精度：建议至少 4 对")
    if rms > max_rms_m:
        worst = int(np.argmax(residuals))
        raise InvalidParameter(f"控制点配准误差过大：RMS {rms:.3f} m > 上限 {max_rms_m:g} m；残差最大的是 "
                               f"{result.names[worst]}（{residuals[worst]:.3f} m）。请检查控制点，或用 --max-rms 放宽",
                               parameter="control_points")
    return result
