// The script of the flow graph panel. The extension posts one message per
// picture: { kind: 'svg' | 'mermaid', text }, { kind: 'error', message } or
// { kind: 'loading' }. SVG from Graphviz is shown inline, cleaned of anything
// active; Mermaid text is drawn by the Mermaid bundle shipped in media/vendor.
(function () {
  'use strict';
  const vscode = acquireVsCodeApi();
  const status = document.getElementById('status');
  const container = document.getElementById('graph');
  let drawn = 0;

  const themeKind = () => document.body.getAttribute('data-vscode-theme-kind') || '';
  if (window.mermaid) {
    window.mermaid.initialize({
      startOnLoad: false,
      securityLevel: 'strict',
      theme: /dark|high-contrast$/.test(themeKind()) ? 'dark' : 'default',
      // The natural size, so that a click can switch between it and fitting the panel.
      flowchart: { useMaxWidth: false },
    });
  }

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? 'error' : '';
    status.hidden = !text;
  }

  // An SVG document from the server, without scripts, event handlers, foreign
  // content or links out of the picture.
  function cleanSvg(text) {
    const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
    const svg = doc.documentElement;
    if (!svg || svg.localName !== 'svg' || doc.getElementsByTagName('parsererror').length) {
      throw new Error('the server sent SVG that does not parse');
    }
    svg.querySelectorAll('script, foreignObject, iframe, object, embed').forEach((el) => el.remove());
    [svg, ...svg.querySelectorAll('*')].forEach((el) => {
      Array.from(el.attributes).forEach((attr) => {
        const name = attr.name.toLowerCase();
        const isLink = name === 'href' || name.endsWith(':href');
        if (name.startsWith('on') || (isLink && !attr.value.trim().startsWith('#'))) {
          el.removeAttribute(attr.name);
        }
      });
    });
    return document.importNode(svg, true);
  }

  async function show(message) {
    switch (message.kind) {
      case 'loading':
        if (!container.childElementCount) say('Drawing…');
        return;
      case 'error':
        say(message.message, true);
        container.classList.add('stale');
        return;
      case 'svg':
        container.replaceChildren(cleanSvg(message.text));
        break;
      case 'mermaid': {
        if (!window.mermaid) throw new Error('the Mermaid bundle (media/vendor/mermaid.min.js) is missing from the extension');
        drawn += 1;
        const { svg } = await window.mermaid.render(`dialect-graph-${drawn}`, message.text);
        container.innerHTML = svg;
        break;
      }
      default:
        return;
    }
    container.classList.remove('stale');
    say('');
  }

  window.addEventListener('message', (event) => {
    show(event.data).catch((err) => {
      say(`Could not draw the graph: ${err && err.message ? err.message : err}`, true);
      container.classList.add('stale');
    });
  });
  // A click switches between fitting the panel and the natural size.
  container.addEventListener('click', () => container.classList.toggle('natural'));
  vscode.postMessage({ kind: 'ready' });
})();
