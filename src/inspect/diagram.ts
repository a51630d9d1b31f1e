/**
 * Draws a machine as a Mermaid state diagram, from the machine itself, so the README's picture
 * cannot drift from the code. Each state is labelled with the request its actor makes.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';

function label(eventType: string): string {
  const done = /^xstate\.done\.actor\.(.+)$/.exec(eventType);
  if (done) return `${done[1]} done`;
  const error = /^xstate\.error\.actor\.(.+)$/.exec(eventType);
  if (error) return `${error[1]} error`;
  return eventType;
}

function mermaidId(node: AnyStateNode): string {
  return node.path.join('_') || node.machine.id;
}

/** Short enough for a diagram box: the description up to its first sentence or colon. */
function note(node: AnyStateNode): string {
  const text = node.description ?? '';
  return text.startsWith('GET') || text.startsWith('POST') ? text : '';
}

export function toMermaid(machine: AnyStateMachine): string {
  const lines = ['stateDiagram-v2'];
  const edges = new Map<string, Set<string>>();

  const walk = (node: AnyStateNode, indent: string) => {
    const children = Object.values(node.states) as AnyStateNode[];
    for (const child of children) {
      const id = mermaidId(child);
      const nested = Object.keys(child.states).length > 0;
      const request = note(child);
      if (nested) {
        lines.push(`${indent}state "${child.key}" as ${id} {`);
        walk(child, `${indent}  `);
        lines.push(`${indent}}`);
      } else {
        lines.push(`${indent}state "${child.key}${request ? `<br/>${request}` : ''}" as ${id}`);
      }
      if (child.type === 'final') lines.push(`${indent}${id} --> [*]`);
    }
    if (node.initial?.target?.[0]) lines.push(`${indent}[*] --> ${mermaidId(node.initial.target[0] as AnyStateNode)}`);
    for (const child of children) collectEdges(child);
  };

  const addEdge = (from: AnyStateNode, to: AnyStateNode, text: string) => {
    const key = `${mermaidId(from)} --> ${mermaidId(to)}`;
    const labels = edges.get(key) ?? new Set<string>();
    labels.add(text);
    edges.set(key, labels);
  };
  const collectEdges = (node: AnyStateNode) => {
    for (const [eventType, transitions] of node.transitions) {
      for (const t of transitions) for (const target of t.target ?? []) addEdge(node, target as AnyStateNode, label(eventType));
    }
    for (const t of node.always ?? []) for (const target of t.target ?? []) addEdge(node, target as AnyStateNode, 'always');
  };

  walk(machine.root, '  ');
  for (const [edge, labels] of edges) lines.push(`  ${edge}: ${[...labels].join(', ')}`);
  return lines.join('\n');
}
