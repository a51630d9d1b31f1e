/**
 * The offline inspector's page: one HTML document, its script and style inline, nothing fetched
 * from elsewhere. It draws each machine as nested state boxes (from the drawing the server sends,
 * made from the machine definition) with each state's transitions listed, and marks the states
 * every actor is in with a chip naming the actor, updated as events arrive.
 */
export function offlinePage(streamPath: string): string {
  // Embedded as JSON, with `<` escaped so no value can close the script element.
  const config = JSON.stringify({ streamPath }).replace(/</g, '\\u003c');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>astrometry-net-client · statecharts</title>
<style>
:root { color-scheme: light dark; --line: #8884; --active: #2a7ae2; --ok: #1a8f3a; --bad: #c62828; font: 14px/1.4 system-ui, sans-serif; }
body { margin: 0; padding: 12px 16px; }
header { display: flex; gap: 12px; align-items: baseline; }
h1 { font-size: 18px; margin: 0 0 8px; }
#status { font-size: 12px; opacity: .7; }
.machine { margin: 12px 0 20px; }
.machine > h2 { font-size: 15px; margin: 0 0 6px; }
.states { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
.state { border: 1px solid var(--line); border-radius: 8px; padding: 6px 8px; min-width: 120px; max-width: 420px; }
.state.final { border-style: double; border-width: 3px; }
.state.initial > .title::before { content: "→ "; opacity: .6; }
.state.active { border-color: var(--active); box-shadow: 0 0 0 2px var(--active) inset; }
.state[data-path="success"].active { border-color: var(--ok); box-shadow: 0 0 0 2px var(--ok) inset; }
.state[data-path="failure"].active { border-color: var(--bad); box-shadow: 0 0 0 2px var(--bad) inset; }
.title { font-weight: 600; }
.desc { font-size: 11px; opacity: .75; }
.tags { font-size: 10px; opacity: .7; }
ul.on { margin: 4px 0 0; padding-left: 14px; font-size: 11px; opacity: .85; }
.chips { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 4px; }
.chip { font-size: 11px; padding: 1px 6px; border-radius: 10px; background: var(--active); color: #fff; }
.state[data-path="success"] .chip { background: var(--ok); }
.state[data-path="failure"] .chip { background: var(--bad); }
.state .states { margin-top: 6px; }
table { border-collapse: collapse; font-size: 12px; }
td, th { border-bottom: 1px solid var(--line); padding: 2px 10px 2px 0; text-align: left; }
</style>
</head>
<body>
<header><h1>Statecharts</h1><span id="status">connecting…</span></header>
<div id="machines"></div>
<h2 style="font-size:15px">Actors</h2>
<table><thead><tr><th>actor</th><th>machine</th><th>state</th><th>status</th></tr></thead><tbody id="actors"></tbody></table>
<script>
const config = ${config};
const machinesEl = document.getElementById('machines');
const actorsEl = document.getElementById('actors');
const statusEl = document.getElementById('status');
/** sessionId -> { id, machine, value, status, row } */
const actors = new Map();
const drawn = new Map();

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function drawState(node, parentInitial) {
  const box = el('div', 'state ' + node.type + (parentInitial === node.path ? ' initial' : ''));
  box.dataset.path = node.path;
  box.appendChild(el('div', 'title', node.key));
  if (node.description) box.appendChild(el('div', 'desc', node.description));
  if (node.tags.length) box.appendChild(el('div', 'tags', 'tags: ' + node.tags.join(', ')));
  if (node.transitions.length) {
    const list = el('ul', 'on');
    for (const t of node.transitions) list.appendChild(el('li', '', t.event + ' → ' + t.targets.join(', ')));
    box.appendChild(list);
  }
  box.appendChild(el('div', 'chips'));
  if (node.states.length) {
    const inner = el('div', 'states');
    for (const child of node.states) inner.appendChild(drawState(child, node.initial));
    box.appendChild(inner);
  }
  return box;
}

function drawMachine(name, root) {
  const section = el('section', 'machine');
  section.dataset.machine = name;
  section.appendChild(el('h2', '', name));
  const states = el('div', 'states');
  for (const child of root.states) states.appendChild(drawState(child, root.initial));
  section.appendChild(states);
  const old = drawn.get(name);
  if (old) old.replaceWith(section); else machinesEl.appendChild(section);
  drawn.set(name, section);
}

/** Dotted paths of the active states of a state value: 'a', {a: 'b'} -> ['a', 'a.b']. */
function activePaths(value, prefix) {
  if (value === null || value === undefined) return [];
  if (typeof value === 'string') return [prefix + value];
  const out = [];
  for (const [key, sub] of Object.entries(value)) {
    out.push(prefix + key);
    out.push(...activePaths(sub, prefix + key + '.'));
  }
  return out;
}

function stateText(value) {
  return activePaths(value, '').filter((p, i, all) => !all.some((q) => q.startsWith(p + '.'))).join(', ');
}

function redraw(machine) {
  const section = drawn.get(machine);
  if (!section) return;
  const inState = new Map();
  for (const a of actors.values()) {
    if (a.machine !== machine) continue;
    for (const p of activePaths(a.value, '')) {
      if (!inState.has(p)) inState.set(p, []);
      inState.get(p).push(a);
    }
  }
  for (const box of section.querySelectorAll('.state')) {
    const here = inState.get(box.dataset.path) || [];
    box.classList.toggle('active', here.length > 0);
    const chips = box.querySelector(':scope > .chips');
    chips.replaceChildren(...here.map((a) => { const c = el('span', 'chip', a.id); c.dataset.actor = a.id; return c; }));
  }
}

function onActor(m) {
  let a = actors.get(m.sessionId);
  if (!a) {
    a = { row: el('tr') };
    a.row.dataset.actor = m.id;
    actorsEl.appendChild(a.row);
    actors.set(m.sessionId, a);
  }
  Object.assign(a, { id: m.id, machine: m.machine, value: m.value, status: m.status });
  a.row.replaceChildren(el('td', '', m.id), el('td', '', m.machine), el('td', 'value', stateText(m.value)), el('td', '', m.status));
  a.row.dataset.state = stateText(m.value);
  redraw(m.machine);
}

const source = new EventSource(config.streamPath);
source.onopen = () => { statusEl.textContent = 'live'; };
source.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.type === 'machine') { drawMachine(m.machine, m.root); redraw(m.machine); }
  else if (m.type === 'actor') onActor(m);
};
source.addEventListener('end', () => { source.close(); statusEl.textContent = 'the process has finished'; document.title += ' (finished)'; });
source.onerror = () => { if (source.readyState === EventSource.CLOSED) statusEl.textContent = 'disconnected'; };
</script>
</body>
</html>
`;
}
