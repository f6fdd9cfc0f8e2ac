// The attribute form of 编辑 mode, generated from a layer's queryables (/collections/{id}/queryables, a JSON
// Schema): one field per property with its type (text, number, integer, true/false, date), a list for an `enum`,
// limits (minimum/maximum, maxLength, pattern), required marks, and checks before anything is sent.

import { h } from './util.js';

/** Chinese labels of the properties every layer (or the 低效用地 layer) has; a schema `title` that differs from the
 *  property name wins. */
export const FIELD_ZH = {
  id: '要素编号', name: '名称', alt_name: '别名', also_named: '其他写法', source: '规划章节', placement: '定位说明',
  accuracy_m: '位置误差（米）', illustrative: '示例数据', schematic: '示意位置', placeholder: '占位位置', host: '所在要素',
  category: '类别', figures: '规划数据（JSON）', note: '备注', functions: '功能', park_type: '园区类型',
  parcel_id: '地块编号', area_mu: '面积（亩，填报）', current_use: '现状用途', planned_use: '规划用途',
  status: '实施状态', year: '年度', park: '所在园区', axis_id: '所属轴线',
};

/** Provenance fields: shown folded under 数据来源 (every feature has them; editors rarely change them). */
const PROVENANCE = new Set(['source', 'placement', 'accuracy_m', 'illustrative', 'schematic', 'placeholder', 'host', 'figures']);

export function fieldLabel(name, schema = {}) {
  const t = schema.title;
  return t && t !== name ? t : (FIELD_ZH[name] || name);
}

/** The properties of a schema (the write schema or the queryables) as form fields: [{name, schema, required}]
 *  (geometry left out). The feature `id` is read-only once the feature exists; a new one may be given an id
 *  (left empty, the server numbers it). */
export function fieldsOf(schemaDoc) {
  const required = new Set(schemaDoc?.required || []);
  return Object.entries(schemaDoc?.properties || {})
    .filter(([name, s]) => name !== 'geometry' && !s.$ref && !/geometry/i.test(s.format || '') && (s.readOnly !== true || name === 'id'))
    .map(([name, schema]) => ({ name, schema, required: required.has(name) }));
}

/** The JSON type of a property schema (the first non-null of a type list; 'json' for arrays/objects). */
export function typeOf(schema) {
  const types = (Array.isArray(schema.type) ? schema.type : [schema.type]).filter((x) => x && x !== 'null');
  if (types.includes('array') || types.includes('object')) return 'json';
  const t = types[0];
  if (!t && schema.enum) return typeof schema.enum.find((v) => v !== null) === 'number' ? 'number' : 'string';
  return t || 'string';
}

/** Check one value against its schema; returns a Chinese message or null. `raw` is the text typed. */
export function checkValue(value, schema, { required = false } = {}) {
  const empty = value === null || value === undefined || value === '';
  if (empty) return required ? '必填' : null;
  const type = typeOf(schema);
  if (type === 'integer' && !Number.isInteger(value)) return '须为整数';
  if (type === 'number' && !Number.isFinite(value)) return '须为数字';
  if (schema.enum && !schema.enum.includes(value)) return `须为：${schema.enum.filter((v) => v !== null).join(' / ')}`;
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) return `不能小于 ${schema.minimum}`;
    if (schema.maximum !== undefined && value > schema.maximum) return `不能大于 ${schema.maximum}`;
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) return `须大于 ${schema.exclusiveMinimum}`;
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) return `须小于 ${schema.exclusiveMaximum}`;
  }
  if (typeof value === 'string') {
    if (schema.maxLength !== undefined && value.length > schema.maxLength) return `最多 ${schema.maxLength} 个字符`;
    if (schema.minLength !== undefined && value.length < schema.minLength) return `至少 ${schema.minLength} 个字符`;
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) return '格式不符合要求';
    if (schema.format === 'date' && !/^\d{4}-\d{2}-\d{2}$/.test(value)) return '日期格式为 YYYY-MM-DD';
  }
  return null;
}

/** A form for `fields` filled with `properties`. Returns {element, read(), fill(props), onChange(fn)}:
 *  read() → {values, errors} where values holds every field (empty → null) and errors maps name → message;
 *  the form marks the fields in error (aria-invalid) and says why next to each. */
export function buildForm(fields, properties = {}, { lockId = false } = {}) {
  const inputs = new Map();
  const rows = [];
  const prov = [];
  const listeners = [];
  for (const f of fields) {
    const type = typeOf(f.schema);
    const id = `ef-${f.name}`;
    let input;
    if (f.schema.enum) {
      input = h('select', { id, name: f.name },
        h('option', { value: '' }, f.required ? '（请选择）' : '（空）'),
        f.schema.enum.filter((v) => v !== null).map((v) => h('option', { value: String(v) }, String(v))));
    } else if (type === 'boolean') {      // a list, not a checkbox: an unset (null) flag must stay unset
      input = h('select', { id, name: f.name }, h('option', { value: '' }, '（空）'), h('option', { value: 'true' }, '是'), h('option', { value: 'false' }, '否'));
    } else if (type === 'number' || type === 'integer') {
      input = h('input', { id, name: f.name, type: 'number', step: type === 'integer' ? '1' : 'any', inputmode: 'decimal',
        min: f.schema.minimum, max: f.schema.maximum });
    } else if (f.schema.format === 'date') {
      input = h('input', { id, name: f.name, type: 'date' });
    } else if (type === 'json' || f.name === 'placement' || f.name === 'note' || (f.schema.maxLength ?? 0) > 200) {
      input = h('textarea', { id, name: f.name, rows: 2 });
    } else {
      input = h('input', { id, name: f.name, type: 'text', autocomplete: 'off', maxlength: f.schema.maxLength });
    }
    if (f.name === 'id') {
      if (lockId) input.disabled = true;
      else input.placeholder = '留空则由服务器编号';
    }
    input.dataset.type = type;
    input.addEventListener('change', () => listeners.forEach((fn) => fn(f.name)));
    const msg = h('span', { class: 'field-error', id: `${id}-err`, 'aria-live': 'polite' });
    input.setAttribute('aria-describedby', `${id}-err`);
    const label = h('label', { class: 'field', for: id },
      h('span', { class: 'field-name' }, fieldLabel(f.name, f.schema), f.required ? h('span', { class: 'req', title: '必填' }, ' *') : null),
      input, msg);
    inputs.set(f.name, { input, msg, field: f, type });
    (PROVENANCE.has(f.name) ? prov : rows).push(label);
  }
  const element = h('div', { class: 'edit-form' }, rows,
    prov.length ? h('details', { class: 'provenance' }, h('summary', {}, '数据来源与精度'), prov) : null);

  const fill = (props) => {
    for (const [name, { input, type }] of inputs) {
      const v = props?.[name];
      if (type === 'boolean') input.value = v === null || v === undefined || v === '' ? '' : String(v === true || v === 'true' || v === 1);
      else if (type === 'json' && v !== null && v !== undefined && typeof v !== 'string') input.value = JSON.stringify(v);
      else input.value = v === null || v === undefined ? '' : String(v);
    }
  };
  const read = ({ mark = true } = {}) => {
    const values = {}, errors = {};
    for (const [name, { input, msg, field, type }] of inputs) {
      const text = input.value;
      if (name === 'id' && input.disabled) continue;        // an existing feature's id is not a property to send
      let v, err = null;
      if (text.trim() === '') v = null;
      else if (type === 'boolean') v = text === 'true';
      else if (type === 'number' || type === 'integer') {
        v = Number(text);
        if (Number.isNaN(v)) err = '须为数字';
      } else if (type === 'json') {
        try { v = JSON.parse(text); if (typeof v !== 'object') err = '须为 JSON 数组或对象'; } catch { err = '须为 JSON（数组或对象）'; }
      } else v = text;
      if (!err && f_isEnumNumber(field.schema) && typeof v === 'string' && !Number.isNaN(Number(v))) v = Number(v);
      if (!err && type === 'json') err = null;
      else if (!err) err = checkValue(v, field.schema, { required: field.required });
      if (!err && name === 'id' && v !== null && !/^[^/?#\s]{1,200}$/u.test(v)) err = '编号不能含 / ? # 或空白';
      if (!err && field.required && typeof v === 'string' && !v.trim()) err = '必填';
      values[name] = v;
      if (err) errors[name] = err;
      if (!mark) continue;
      msg.textContent = err || '';
      if (err) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
    }
    return { values, errors };
  };
  fill(properties);
  return { element, read, fill, onChange: (fn) => listeners.push(fn), inputs };
}

function f_isEnumNumber(schema) { return Array.isArray(schema.enum) && schema.enum.some((v) => typeof v === 'number'); }

/** The merge patch that turns `before` into `after` (only the properties that differ; null removes). */
export function propertiesPatch(before, after) {
  const patch = {};
  for (const [k, v] of Object.entries(after)) {
    const old = before?.[k];
    if (!sameValue(old, v)) patch[k] = v;
  }
  return patch;
}

export function sameValue(a, b) {
  const na = a === undefined || a === '' ? null : a, nb = b === undefined || b === '' ? null : b;
  if (typeof na === 'object' || typeof nb === 'object') return JSON.stringify(na) === JSON.stringify(nb);
  return na === nb;
}

/** `properties` as the form reads them back (types and empty values normalised the way a save sends them):
 *  what "unchanged" means, so a stored 1 for true or an absent property for null is no change. */
export function formValues(fields, properties, { lockId = false } = {}) {
  return buildForm(fields, properties, { lockId }).read({ mark: false }).values;
}
