"""The validation report of an import: a dataclass the CLI prints as a table (``format_text``) and the server
returns as JSON (``to_dict``). ``errors`` stop a commit; ``warnings`` are shown and do not."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ImportReport:
    source: str                                   # file (and table) as provenance names it
    reader: str                                   # format read: Shapefile, GeoPackage, DXF …
    target: str                                   # layer id
    target_title: str
    new_layer: bool
    mode: str
    key: str | None = None
    dry_run: bool = True
    committed: bool = False
    import_id: int | None = None
    encoding: str | None = None
    encoding_origin: str | None = None
    crs: str | None = None
    crs_how: str | None = None                    # file | option | guess | control_points
    crs_guessed: bool = False
    swapped_xy: bool = False
    control_points: dict[str, Any] | None = None  # method, residuals_m, rms_m, scale, rotation_deg …
    counts_by_type: dict[str, int] = field(default_factory=dict)   # as read
    features_read: int = 0
    features_imported: int = 0
    other_types_left_out: dict[str, int] = field(default_factory=dict)
    skipped_entities: dict[str, int] = field(default_factory=dict)
    invalid: list[dict[str, Any]] = field(default_factory=list)    # {feature, reason, repaired}
    empty: list[str] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)
    slivers: list[str] = field(default_factory=list)
    outside_zone: list[str] = field(default_factory=list)
    columns: list[dict[str, Any]] = field(default_factory=list)    # {source, target, how}
    area_m2: float = 0.0
    area_mu: float = 0.0
    length_m: float = 0.0                         # line imports: total geodesic length
    overlaps: list[dict[str, Any]] = field(default_factory=list)   # {layer, title, area_mu}
    matching: dict[str, Any] | None = None        # replace/upsert: matched, unmatched_old, unmatched_new
    features_after: int | None = None             # the layer's feature count after the import
    preview: dict[str, Any] | None = None         # the imported features as GeoJSON (WGS 84), when asked for
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def format_text(self) -> str:
        """The report as the CLI prints it (Chinese)."""
        head = "试导入（未写入）" if not self.committed else f"已导入（导入编号 {self.import_id}，可用 --undo {self.import_id} 撤销）"
        lines = [f"导入报告 · {head}",
                 f"  来源        {self.source}（{self.reader}）",
                 f"  目标图层    {self.target}（{self.target_title}）{'，新建' if self.new_layer else ''}，方式 {self.mode}"
                 + (f"，键 {self.key}" if self.key else ""),
                 f"  文字编码    {self.encoding or '—'}（{self.encoding_origin or '—'}）",
                 f"  坐标系      {self.crs}（{_HOW.get(self.crs_how or '', self.crs_how)}"
                 f"{'，推测，待确认' if self.crs_guessed else ''}{'，x/y 互换' if self.swapped_xy else ''}）"]
        if self.control_points:
            cp = self.control_points
            lines.append(f"  控制点配准  {cp['method']}，RMS {cp['rms_m']:.3f} m（上限 {cp['max_rms_m']:g} m）")
            for name, r in zip(cp["names"], cp["residuals_m"]):
                lines.append(f"      {name:<10} 残差 {r:.3f} m")
        kinds = "，".join(f"{k} {v}" for k, v in self.counts_by_type.items())
        lines.append(f"  要素        读入 {self.features_read}（{kinds}），导入 {self.features_imported}"
                     + (f"，之后图层共 {self.features_after}" if self.features_after is not None else ""))
        if self.other_types_left_out:
            lines.append("  未导入类型  " + "，".join(f"{k} {v}" for k, v in self.other_types_left_out.items()))
        if self.skipped_entities:
            lines.append("  跳过的图元  " + "，".join(f"{k} {v}" for k, v in self.skipped_entities.items()))
        if self.length_m:
            lines.append(f"  长度        {self.length_m / 1000:,.3f} km")
        else:
            lines.append(f"  面积        {self.area_mu:,.2f} 亩（椭球面积 {self.area_m2:,.1f} m²）")
        for o in self.overlaps:
            lines.append(f"  与 {o['title']}（{o['layer']}）重叠 {o['area_mu']:,.2f} 亩")
        if self.invalid:
            lines.append(f"  无效几何    {len(self.invalid)} 个：" + "；".join(
                f"{i['feature']} {i['reason']}{'（已修复）' if i['repaired'] else '（无法修复）'}" for i in self.invalid[:5]))
        for label, items in (("空几何", self.empty), ("碎片/狭长面", self.slivers), ("超出昆山范围", self.outside_zone)):
            if items:
                lines.append(f"  {label:<10}{len(items)} 个：{'、'.join(items[:8])}")
        if self.duplicates:
            lines.append(f"  重复几何    {len(self.duplicates)} 组：" + "；".join("=".join(d) for d in self.duplicates[:5]))
        if self.matching:
            m = self.matching
            lines.append(f"  匹配（按 {m['by']}）  {m['matched']} 个对上旧要素；旧要素未匹配 {len(m['unmatched_old'])}："
                         f"{'、'.join(m['unmatched_old'][:8])}；新要素未匹配 {len(m['unmatched_new'])}："
                         f"{'、'.join(m['unmatched_new'][:8])}")
        lines.append("  字段对应    " + "；".join(f"{c['source']}→{c['target'] or '（舍弃）'}（{c['how']}）"
                                              for c in self.columns))
        lines += [f"  说明：{n}" for n in self.notes]
        lines += [f"  警告：{w}" for w in self.warnings]
        lines += [f"  错误：{e}" for e in self.errors]
        lines.append("  结论：" + ("可以导入" if self.ok else "有错误，不能导入") if not self.committed else "  结论：已写入")
        return "\n".join(lines)


_HOW = {"file": "取自文件", "option": "--crs 指定", "guess": "按坐标范围推测", "control_points": "控制点配准"}
