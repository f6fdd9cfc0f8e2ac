// A small state store the panels subscribe to (instead of reaching into the App object):
//   store.get('results'), store.set('results', value), store.on('results', fn) → unsubscribe.
// Keys in use: 'results' (the last query: {label, kind, geometry, layers, rows, areaM2}),
//              'coordSystem' (the coordinate readout's system), 'tableSelection' ({layer, ids:Set}).

const state = new Map();
const listeners = new Map();

export const store = {
  get(key) { return state.get(key); },
  set(key, value) {
    state.set(key, value);
    for (const fn of listeners.get(key) || []) {
      try { fn(value); } catch (err) { console.warn(err); }
    }
  },
  on(key, fn) {
    if (!listeners.has(key)) listeners.set(key, new Set());
    listeners.get(key).add(fn);
    return () => listeners.get(key).delete(fn);
  },
};
