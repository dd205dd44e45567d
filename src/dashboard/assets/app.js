/*
 * The tasker dashboard's page. Plain DOM, no framework. Every value that comes from the
 * database (contexts, results, errors, names) is put in the page with textContent or as an
 * attribute value through the DOM API, never parsed as HTML: do not add innerHTML here.
 */
(function () {
  'use strict';

  var POLL_MS = 2000;
  var ACTIVITY_MINUTES = 60;
  var TRUNCATE = 2000;
  var PAGE = 25;
  var TASK_STATES = [
    'pending',
    'steps_in_process',
    'waiting_for_retry',
    'complete',
    'error',
    'cancelled',
  ];
  var COLORS = {
    pending: '#8a94a0',
    enqueued: '#6366f1',
    in_progress: '#2563eb',
    steps_in_process: '#2563eb',
    waiting_for_retry: '#d97706',
    waiting_for_signal: '#9333ea',
    waiting_for_child: '#0891b2',
    complete: '#15803d',
    resolved_manually: '#0d9488',
    error: '#b91c1c',
    cancelled: '#52525b',
  };
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var TOKEN_KEY = 'tasker-dashboard-token';

  var config = { allowActions: false, database: null };
  var timer = null;
  var lastFingerprint = null;
  /** Undoes what the page shown now set up (the overview's chart). */
  var teardown = null;

  // ------------------------------------------------------------------------------------------
  // DOM helpers (text only)

  function el(tag, attrs) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k === 'text') node.textContent = String(v);
      else if (k === 'style')
        node.style.cssText = String(v); // CSSOM: allowed by the page's CSP
      else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, String(v));
    });
  }

  function append(node, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child))
      child.forEach(function (c) {
        append(node, c);
      });
    else if (typeof child === 'string' || typeof child === 'number')
      node.appendChild(document.createTextNode(String(child)));
    else node.appendChild(child);
  }

  function badge(state) {
    return el('span', {
      class: 'badge state-' + state,
      'data-state': state,
      style: 'background:' + (COLORS[state] || '#444'),
      text: state,
    });
  }

  function fmtTime(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }

  /** A value as text, cut at TRUNCATE characters with a toggle to see it whole. */
  function valueBlock(value, cls) {
    var text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
    if (text === undefined) text = String(value);
    var pre = el('pre', { class: cls || 'mono' });
    var wrap = el('div', { class: 'value' }, pre);
    if (text.length <= TRUNCATE) {
      pre.textContent = text;
      return wrap;
    }
    var whole = false;
    var button = el('button', { type: 'button', class: 'show-all' });
    function render() {
      pre.textContent = whole ? text : text.slice(0, TRUNCATE) + '…';
      button.textContent = whole ? 'show less' : 'show all (' + text.length + ' characters)';
    }
    button.addEventListener('click', function () {
      whole = !whole;
      render();
    });
    render();
    wrap.appendChild(button);
    return wrap;
  }

  function notice(kind, text) {
    return el('div', {
      class: 'notice ' + kind,
      role: kind === 'err' ? 'alert' : 'status',
      text: text,
    });
  }

  // ------------------------------------------------------------------------------------------
  // API

  function token() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch (e) {
      return '';
    }
  }

  function api(path, options) {
    options = options || {};
    var headers = { Accept: 'application/json' };
    if (options.method === 'POST') {
      headers['Content-Type'] = 'application/json';
      headers['X-Tasker-Token'] = token();
    }
    return fetch('api/' + path, {
      method: options.method || 'GET',
      headers: headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'same-origin',
      cache: 'no-store',
    }).then(function (res) {
      return res.json().then(
        function (body) {
          if (!res.ok) throw new Error((body && body.error) || 'HTTP ' + res.status);
          return body;
        },
        function () {
          throw new Error('HTTP ' + res.status);
        },
      );
    });
  }

  // ------------------------------------------------------------------------------------------
  // Header: database, read-only or token

  function renderHeader() {
    var db = document.getElementById('database');
    db.textContent = config.database ? config.database : '';
    var mode = document.getElementById('mode');
    mode.replaceChildren();
    if (!config.allowActions) {
      mode.appendChild(
        el('span', {
          class: 'readonly',
          id: 'read-only',
          text: 'read-only: actions are off (start with --allow-actions)',
        }),
      );
      return;
    }
    var input = el('input', {
      type: 'password',
      id: 'token',
      placeholder: 'token',
      autocomplete: 'off',
      size: 18,
    });
    input.value = token();
    var save = el('button', { type: 'button', id: 'save-token', text: 'Use token' });
    save.addEventListener('click', function () {
      try {
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      } catch (e) {
        /* private mode */
      }
      save.textContent = 'Saved';
    });
    mode.appendChild(el('span', { class: 'actions-on', text: 'actions on' }));
    mode.appendChild(input);
    mode.appendChild(save);
  }

  // ------------------------------------------------------------------------------------------
  // Routing

  function route() {
    if (timer) clearTimeout(timer);
    timer = null;
    lastFingerprint = null;
    if (teardown) teardown();
    teardown = null;
    var hash = location.hash || '#/';
    var m = /^#\/task\/([^?]+)/.exec(hash);
    if (m) return showTask(decodeURIComponent(m[1]));
    if (/^#\/overview\b/.test(hash)) return showOverview();
    var q = hash.indexOf('?');
    showList(new URLSearchParams(q === -1 ? '' : hash.slice(q + 1)));
  }

  function poll(fn) {
    timer = setTimeout(fn, POLL_MS);
  }

  // ------------------------------------------------------------------------------------------
  // Tasks list

  function listHash(params) {
    var p = new URLSearchParams();
    ['state', 'namespace', 'name', 'createdAfter', 'createdBefore', 'offset'].forEach(function (k) {
      var v = params.get(k);
      if (v && !(k === 'offset' && v === '0')) p.set(k, v);
    });
    var s = p.toString();
    return '#/' + (s ? '?' + s : '');
  }

  function showList(params) {
    var main = document.getElementById('main');
    var stateSel = el(
      'select',
      { name: 'state', id: 'filter-state' },
      el('option', { value: '', text: 'any state' }),
    );
    TASK_STATES.forEach(function (s) {
      stateSel.appendChild(el('option', { value: s, text: s }));
    });
    stateSel.value = params.get('state') || '';
    var ns = el('input', { name: 'namespace', id: 'filter-namespace', placeholder: 'namespace' });
    ns.value = params.get('namespace') || '';
    var name = el('input', { name: 'name', id: 'filter-name', placeholder: 'task name' });
    name.value = params.get('name') || '';
    // Created between: the inputs show local time, the URL and the API carry ISO 8601 (UTC).
    var after = el('input', { type: 'datetime-local', id: 'filter-created-after', step: 1 });
    after.value = localInputValue(params.get('createdAfter'));
    var before = el('input', { type: 'datetime-local', id: 'filter-created-before', step: 1 });
    before.value = localInputValue(params.get('createdBefore'));
    var form = el(
      'form',
      { class: 'filters', id: 'filters' },
      el('label', null, 'State', stateSel),
      el('label', null, 'Namespace', ns),
      el('label', null, 'Name', name),
      el('label', null, 'Created from', after),
      el('label', null, 'to', before),
      el('button', { type: 'submit', class: 'primary', text: 'Filter' }),
    );
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var p = new URLSearchParams();
      p.set('state', stateSel.value);
      p.set('namespace', ns.value.trim());
      p.set('name', name.value.trim());
      p.set('createdAfter', isoOfLocalInput(after.value));
      p.set('createdBefore', isoOfLocalInput(before.value));
      location.hash = listHash(p);
    });
    var counts = el('div', { class: 'counts', id: 'counts' });
    var status = el('div', { id: 'list-status' });
    var tbody = el('tbody', { id: 'task-rows' });
    var table = el(
      'table',
      { id: 'tasks' },
      el(
        'thead',
        null,
        el(
          'tr',
          null,
          ['Task', 'Namespace', 'Name', 'State', 'Created', 'Updated'].map(function (h) {
            return el('th', { text: h });
          }),
        ),
      ),
      tbody,
    );
    var paging = el('div', { class: 'paging' });
    main.replaceChildren(
      el(
        'div',
        { class: 'card' },
        el('h2', { text: 'Tasks' }),
        form,
        counts,
        status,
        table,
        paging,
      ),
    );

    var offset = Math.max(0, parseInt(params.get('offset') || '0', 10) || 0);
    var query = new URLSearchParams();
    ['state', 'namespace', 'name', 'createdAfter', 'createdBefore'].forEach(function (k) {
      if (params.get(k)) query.set(k, params.get(k));
    });
    query.set('limit', String(PAGE));
    query.set('offset', String(offset));

    function load() {
      api('tasks?' + query.toString())
        .then(
          function (body) {
            status.replaceChildren();
            renderCounts(counts, body.counts, params);
            tbody.replaceChildren();
            body.tasks.forEach(function (t) {
              tbody.appendChild(
                el(
                  'tr',
                  { 'data-task': t.taskUuid, 'data-state': t.state },
                  el(
                    'td',
                    { class: 'mono' },
                    el('a', { href: '#/task/' + encodeURIComponent(t.taskUuid), text: t.taskUuid }),
                  ),
                  el('td', { text: t.namespace }),
                  el('td', { text: t.name + ' ' + t.version }),
                  el('td', null, badge(t.state)),
                  el('td', { text: fmtTime(t.createdAt) }),
                  el('td', { text: fmtTime(t.updatedAt) }),
                ),
              );
            });
            if (body.tasks.length === 0)
              tbody.appendChild(
                el('tr', null, el('td', { colspan: 6, class: 'muted', text: 'No tasks.' })),
              );
            paging.replaceChildren(
              el('button', {
                type: 'button',
                id: 'prev',
                disabled: offset === 0,
                onclick: function () {
                  var p = new URLSearchParams(params);
                  p.set('offset', String(Math.max(0, offset - PAGE)));
                  location.hash = listHash(p);
                },
                text: '← Newer',
              }),
              el('span', {
                class: 'muted',
                text: body.tasks.length
                  ? 'tasks ' + (offset + 1) + '–' + (offset + body.tasks.length)
                  : '',
              }),
              el('button', {
                type: 'button',
                id: 'next',
                disabled: body.tasks.length < PAGE,
                onclick: function () {
                  var p = new URLSearchParams(params);
                  p.set('offset', String(offset + PAGE));
                  location.hash = listHash(p);
                },
                text: 'Older →',
              }),
            );
          },
          function (err) {
            status.replaceChildren(notice('err', err.message));
          },
        )
        .then(function () {
          poll(load);
        });
    }
    load();
  }

  /** An ISO time as a datetime-local input shows it (local time), or '' . */
  function localInputValue(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return '';
    function pad(n) {
      return (n < 10 ? '0' : '') + n;
    }
    return (
      d.getFullYear() +
      '-' +
      pad(d.getMonth() + 1) +
      '-' +
      pad(d.getDate()) +
      'T' +
      pad(d.getHours()) +
      ':' +
      pad(d.getMinutes()) +
      ':' +
      pad(d.getSeconds())
    );
  }

  /** A datetime-local input's value (local time) as ISO 8601, or ''. */
  function isoOfLocalInput(value) {
    if (!value) return '';
    var d = new Date(value);
    return isNaN(d.getTime()) ? '' : d.toISOString();
  }

  function renderCounts(container, counts, params) {
    container.replaceChildren();
    var active = params.get('state') || '';
    TASK_STATES.forEach(function (s) {
      var n = counts && counts[s] !== undefined ? counts[s] : 0;
      var b = el(
        'button',
        { type: 'button', class: active === s ? 'active' : '', 'data-count': s },
        badge(s),
        el('span', { class: 'n', text: String(n) + (n >= config.countLimit ? '+' : '') }),
      );
      b.addEventListener('click', function () {
        var p = new URLSearchParams(params);
        p.set('state', active === s ? '' : s);
        p.delete('offset');
        location.hash = listHash(p);
      });
      container.appendChild(b);
    });
  }

  // ------------------------------------------------------------------------------------------
  // One task

  function showTask(uuid) {
    var main = document.getElementById('main');
    var flash = el('div', { id: 'flash' });
    var body = el('div', { id: 'task-body' }, el('p', { class: 'muted', text: 'Loading…' }));
    main.replaceChildren(el('p', null, el('a', { href: '#/', text: '← Tasks' })), flash, body);

    function act(path, payload, what) {
      flash.replaceChildren();
      return api(path, { method: 'POST', body: payload }).then(
        function () {
          flash.replaceChildren(notice('ok', what + ': done'));
          lastFingerprint = null;
          if (timer) clearTimeout(timer);
          load();
        },
        function (err) {
          flash.replaceChildren(notice('err', what + ' refused: ' + err.message));
        },
      );
    }

    function load() {
      api('tasks/' + encodeURIComponent(uuid))
        .then(
          function (res) {
            var task = res.task;
            var fp = JSON.stringify([
              task.state,
              task.updatedAt,
              task.transitions.length,
              task.steps.map(function (s) {
                return [s.state, s.attempts];
              }),
            ]);
            if (fp !== lastFingerprint) {
              lastFingerprint = fp;
              body.replaceChildren.apply(body, renderTask(task, act));
            }
          },
          function (err) {
            body.replaceChildren(notice('err', err.message));
          },
        )
        .then(function () {
          poll(load);
        });
    }
    load();
  }

  function renderTask(task, act) {
    var finished =
      task.state === 'complete' || task.state === 'error' || task.state === 'cancelled';
    var actions = el('div', { class: 'task-actions' });
    if (config.allowActions) {
      if (task.state === 'error') {
        actions.appendChild(
          el('button', {
            type: 'button',
            class: 'primary',
            id: 'retry-task',
            text: 'Retry task',
            onclick: function () {
              act('tasks/' + encodeURIComponent(task.taskUuid) + '/retry', {}, 'Retry');
            },
          }),
        );
      }
      if (!finished) {
        actions.appendChild(
          el('button', {
            type: 'button',
            class: 'danger',
            id: 'cancel-task',
            text: 'Cancel task',
            onclick: function () {
              var reason = window.prompt('Reason for cancelling (optional):', '');
              if (reason === null) return;
              act(
                'tasks/' + encodeURIComponent(task.taskUuid) + '/cancel',
                { reason: reason },
                'Cancel',
              );
            },
          }),
        );
      }
    }
    var head = el(
      'div',
      { class: 'card', id: 'task-head' },
      el(
        'h2',
        null,
        el('span', {
          id: 'task-name',
          text: task.namespace + ' / ' + task.name + ' ' + task.version,
        }),
        ' ',
        el('span', { id: 'task-state' }, badge(task.state)),
      ),
      el('div', { class: 'mono muted', id: 'task-uuid', text: task.taskUuid }),
      el('div', {
        class: 'muted',
        text:
          'created ' +
          fmtTime(task.createdAt) +
          (task.completedAt ? ' · finished ' + fmtTime(task.completedAt) : '') +
          (task.idempotencyKey ? ' · idempotency key ' + task.idempotencyKey : ''),
      }),
      actions,
    );
    var dag = el('div', { class: 'card' }, el('h2', { text: 'Steps' }), renderDag(task), legend());
    var timeline = el(
      'div',
      { class: 'card' },
      el('h2', { text: 'Timeline' }),
      renderTimeline(task),
    );
    var context = el(
      'div',
      { class: 'card', id: 'context' },
      el('h2', { text: 'Context' }),
      valueBlock(task.context),
    );
    var steps = el(
      'div',
      { class: 'card' },
      el('h2', { text: 'Step details' }),
      renderSteps(task, act),
    );
    var transitions = el(
      'div',
      { class: 'card' },
      el('h2', { text: 'Transitions' }),
      renderTransitions(task),
    );
    return [head, dag, timeline, el('div', { class: 'grid2' }, context), steps, transitions];
  }

  function legend() {
    return el(
      'div',
      { class: 'legend' },
      Object.keys(COLORS)
        .filter(function (s) {
          return s !== 'steps_in_process';
        })
        .map(function (s) {
          return el('span', null, el('i', { style: 'background:' + COLORS[s] }), s);
        }),
      el('span', {
        class: 'muted',
        text: 'dashed: created while the task ran, by a decision or batch step',
      }),
    );
  }

  /** The steps' DAG, laid out by dagre, as SVG. */
  function renderDag(task) {
    if (!window.dagre) return notice('err', 'the graph layout library did not load');
    var g = new window.dagre.graphlib.Graph();
    g.setGraph({ rankdir: 'LR', nodesep: 24, ranksep: 60, marginx: 10, marginy: 10 });
    g.setDefaultEdgeLabel(function () {
      return {};
    });
    var names = {};
    task.steps.forEach(function (s) {
      names[s.name] = true;
    });
    task.steps.forEach(function (s) {
      var width = Math.max(110, Math.max(s.name.length, s.state.length + 8) * 7.2 + 24);
      g.setNode(s.name, { width: width, height: 46, step: s });
    });
    task.steps.forEach(function (s) {
      var deps = s.dependencies || [];
      deps.forEach(function (d) {
        if (names[d]) g.setEdge(d, s.name, {});
      });
      // A step a decision or batch created, without depending on its creator: say who made it.
      if (s.createdBy && names[s.createdBy] && deps.indexOf(s.createdBy) === -1)
        g.setEdge(s.createdBy, s.name, { created: true });
    });
    window.dagre.layout(g);
    var graph = g.graph();
    var root = svg('svg', {
      class: 'dag',
      id: 'dag',
      width: Math.ceil(graph.width || 0),
      height: Math.ceil(graph.height || 0),
      role: 'img',
      'aria-label': 'steps of the task',
    });
    root.appendChild(
      svg(
        'defs',
        null,
        svg(
          'marker',
          {
            id: 'arrow',
            viewBox: '0 0 10 10',
            refX: 9,
            refY: 5,
            markerWidth: 7,
            markerHeight: 7,
            orient: 'auto-start-reverse',
          },
          svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#8a94a0' }),
        ),
      ),
    );
    g.edges().forEach(function (e) {
      var pts = g.edge(e).points || [];
      var d = pts
        .map(function (p, i) {
          return (i ? 'L' : 'M') + p.x.toFixed(1) + ' ' + p.y.toFixed(1);
        })
        .join(' ');
      root.appendChild(
        svg('path', {
          class: g.edge(e).created ? 'edge created' : 'edge',
          d: d,
          'marker-end': 'url(#arrow)',
          'data-from': e.v,
          'data-to': e.w,
        }),
      );
    });
    g.nodes().forEach(function (n) {
      var node = g.node(n);
      var s = node.step;
      var dynamic = !!s.createdBy;
      var group = svg(
        'g',
        {
          class: 'node' + (dynamic ? ' dynamic' : ''),
          'data-step': s.name,
          'data-state': s.state,
          transform:
            'translate(' +
            (node.x - node.width / 2).toFixed(1) +
            ',' +
            (node.y - node.height / 2).toFixed(1) +
            ')',
        },
        svg('title', {
          text:
            s.name +
            ': ' +
            s.state +
            ' (attempt ' +
            s.attempts +
            ' of ' +
            s.maxAttempts +
            ')' +
            (s.createdBy ? ', created by ' + s.createdBy : ''),
        }),
        svg('rect', {
          width: node.width,
          height: node.height,
          rx: 6,
          fill: COLORS[s.state] || '#444',
        }),
        svg('text', { x: 10, y: 19, text: s.name }),
        svg('text', {
          x: 10,
          y: 35,
          class: 'sub',
          text: s.state + ' · ' + s.attempts + '/' + s.maxAttempts,
        }),
      );
      group.addEventListener('click', function () {
        var target = document.getElementById('step-' + s.name);
        if (target) target.scrollIntoView({ behavior: 'smooth' });
      });
      root.appendChild(group);
    });
    return el('div', { style: 'overflow:auto' }, root);
  }

  /** One row per step: a bar for each execution (from a claim to the state that ended it). */
  function renderTimeline(task) {
    var rows = [];
    var start = Date.parse(task.createdAt);
    var end = start;
    var byStep = {};
    task.transitions.forEach(function (t) {
      var at = Date.parse(t.at);
      if (at > end) end = at;
      if (t.entity !== 'step' || !t.stepName) return;
      (byStep[t.stepName] = byStep[t.stepName] || []).push(t);
    });
    var finished =
      task.state === 'complete' || task.state === 'error' || task.state === 'cancelled';
    if (!finished) end = Math.max(end, Date.now());
    var span = Math.max(1, end - start);
    task.steps.forEach(function (s) {
      var ts = byStep[s.name] || [];
      var bars = [];
      var open = null;
      ts.forEach(function (t) {
        var at = Date.parse(t.at);
        if (t.toState === 'in_progress') {
          open = at;
          return;
        }
        if (open !== null) {
          bars.push({ from: open, to: at, state: t.toState });
          open = null;
        }
        if (t.toState === 'waiting_for_retry' || t.toState === 'resolved_manually')
          bars.push({ from: at, to: at, state: t.toState, mark: true });
      });
      if (open !== null) bars.push({ from: open, to: end, state: 'in_progress' });
      rows.push({ name: s.name, bars: bars });
    });
    var labelW = 140;
    var width = 760;
    var rowH = 22;
    var root = svg('svg', {
      class: 'timeline',
      id: 'timeline',
      width: labelW + width + 20,
      height: rows.length * rowH + 24,
    });
    rows.forEach(function (r, i) {
      var y = i * rowH + 4;
      root.appendChild(
        svg('text', {
          x: 0,
          y: y + 14,
          text: r.name.length > 20 ? r.name.slice(0, 19) + '…' : r.name,
        }),
      );
      r.bars.forEach(function (b) {
        var x = labelW + ((b.from - start) / span) * width;
        var w = b.mark ? 3 : Math.max(3, ((b.to - b.from) / span) * width);
        root.appendChild(
          svg(
            'rect',
            {
              x: x.toFixed(1),
              y: y + 3,
              width: w.toFixed(1),
              height: rowH - 8,
              fill: COLORS[b.state] || '#444',
              'data-step': r.name,
              'data-state': b.state,
            },
            svg('title', { text: r.name + ' → ' + b.state + ' after ' + (b.to - b.from) + ' ms' }),
          ),
        );
      });
    });
    root.appendChild(
      svg('text', { x: labelW, y: rows.length * rowH + 20, class: 'muted', text: '0 ms' }),
    );
    root.appendChild(
      svg('text', { x: labelW + width - 60, y: rows.length * rowH + 20, text: span + ' ms' }),
    );
    return el('div', { style: 'overflow:auto' }, root);
  }

  /**
   * A step's action button that asks for a JSON object (`window.prompt`) and posts it as
   * `{ <field>: object }` to `tasks/<uuid>/steps/<name>/<path>`.
   */
  function stepJsonAction(task, s, act, o) {
    return el('button', {
      type: 'button',
      class: o.cls,
      'data-step': s.name,
      text: o.label,
      onclick: function () {
        var text = window.prompt(o.asking + ' for ' + s.name + ' (a JSON object):', '{}');
        if (text === null) return;
        var value;
        try {
          value = JSON.parse(text);
        } catch (e) {
          window.alert('not valid JSON: ' + e.message);
          return;
        }
        var body = {};
        body[o.field] = value;
        act(
          'tasks/' +
            encodeURIComponent(task.taskUuid) +
            '/steps/' +
            encodeURIComponent(s.name) +
            '/' +
            o.path,
          body,
          o.what + ' ' + s.name,
        );
      },
    });
  }

  function renderSteps(task, act) {
    return task.steps.map(function (s) {
      var parts = [
        el(
          'h3',
          { id: 'step-' + s.name },
          el('span', { text: s.name }),
          ' ',
          badge(s.state),
          el('span', { class: 'muted', text: ' attempt ' + s.attempts + ' of ' + s.maxAttempts }),
        ),
      ];
      if (s.dependencies && s.dependencies.length)
        parts.push(el('div', { class: 'muted', text: 'after ' + s.dependencies.join(', ') }));
      if (s.createdBy) parts.push(el('div', { class: 'muted', text: 'created by ' + s.createdBy }));
      if (s.inputs && Object.keys(s.inputs).length)
        parts.push(
          el(
            'div',
            { class: 'step-inputs' },
            el('strong', { text: 'Inputs' }),
            valueBlock(s.inputs),
          ),
        );
      if (s.result !== null && s.result !== undefined)
        parts.push(el('div', null, el('strong', { text: 'Result' }), valueBlock(s.result)));
      if (s.checkpoint)
        parts.push(
          el(
            'div',
            { class: 'step-checkpoint' },
            el('strong', { text: 'Checkpoint' }),
            valueBlock(s.checkpoint),
          ),
        );
      if (s.error) {
        parts.push(
          el(
            'div',
            { class: 'step-error' },
            el('strong', { text: 'Error ' }),
            el('span', {
              class: 'mono',
              text:
                s.error.errorType +
                (s.error.retryable ? ' (retryable)' : '') +
                (s.error.statusCode ? ' HTTP ' + s.error.statusCode : ''),
            }),
            el('div', { class: 'error-msg' }, valueBlock(s.error.message)),
            s.error.stack
              ? el('details', null, el('summary', { text: 'stack' }), valueBlock(s.error.stack))
              : null,
          ),
        );
      }
      if (s.metadata)
        parts.push(el('div', null, el('strong', { text: 'Metadata' }), valueBlock(s.metadata)));
      if (config.allowActions && s.state === 'waiting_for_signal') {
        parts.push(
          stepJsonAction(task, s, act, {
            cls: 'send-signal primary',
            label: 'Send signal…',
            asking: 'Signal',
            path: 'signal',
            field: 'payload',
            what: 'Signal',
          }),
        );
      }
      if (
        config.allowActions &&
        (s.state === 'error' ||
          s.state === 'in_progress' ||
          s.state === 'waiting_for_retry' ||
          s.state === 'enqueued')
      ) {
        parts.push(
          stepJsonAction(task, s, act, {
            cls: 'resolve-step',
            label: 'Resolve by hand…',
            asking: 'Result',
            path: 'resolve',
            field: 'result',
            what: 'Resolve',
          }),
        );
      }
      return el('div', { class: 'step', 'data-step': s.name }, parts);
    });
  }

  function renderTransitions(task) {
    var tbody = el('tbody');
    task.transitions.forEach(function (t) {
      tbody.appendChild(
        el(
          'tr',
          null,
          el('td', { text: fmtTime(t.at) }),
          el('td', { text: t.entity === 'task' ? 'task' : t.stepName }),
          el('td', { text: (t.fromState || '∅') + ' → ' + t.toState }),
          el('td', { class: 'mono', text: t.workerId || '' }),
          el('td', { text: t.reason || '' }),
        ),
      );
    });
    return el(
      'table',
      { id: 'transitions' },
      el(
        'thead',
        null,
        el(
          'tr',
          null,
          ['At', 'Of', 'Change', 'Worker', 'Reason'].map(function (h) {
            return el('th', { text: h });
          }),
        ),
      ),
      tbody,
    );
  }

  // ------------------------------------------------------------------------------------------
  // Overview: step executions ended per minute over the last hour (uPlot)

  function showOverview() {
    var main = document.getElementById('main');
    var totals = el('div', { class: 'counts', id: 'activity-totals' });
    var status = el('div', { id: 'overview-status' });
    var chart = el('div', { id: 'activity-chart' });
    main.replaceChildren(
      el(
        'div',
        { class: 'card', id: 'overview' },
        el('h2', { text: 'Step executions per minute, last hour' }),
        totals,
        status,
        chart,
      ),
    );
    var SERIES = [
      { key: 'completed', color: COLORS.complete },
      { key: 'failed', color: COLORS.error },
      { key: 'retried', color: COLORS.waiting_for_retry },
    ];
    var plot = null;
    teardown = function () {
      if (plot) plot.destroy();
      plot = null;
    };

    function load() {
      api('activity?minutes=' + ACTIVITY_MINUTES)
        .then(
          function (body) {
            status.replaceChildren();
            var rows = body.activity;
            var data = [
              rows.map(function (r) {
                return Date.parse(r.minute) / 1000;
              }),
            ];
            totals.replaceChildren();
            SERIES.forEach(function (sr) {
              var values = rows.map(function (r) {
                return r[sr.key];
              });
              data.push(values);
              var sum = values.reduce(function (a, b) {
                return a + b;
              }, 0);
              totals.appendChild(
                el(
                  'span',
                  { class: 'total', 'data-series': sr.key },
                  el('i', { style: 'background:' + sr.color }),
                  sr.key + ' ',
                  el('span', { class: 'n', text: String(sum) }),
                ),
              );
            });
            if (!window.uPlot) {
              status.replaceChildren(notice('err', 'the chart library did not load'));
              return;
            }
            if (plot) {
              plot.setData(data);
              return;
            }
            plot = new window.uPlot(
              {
                width: Math.max(320, Math.min(1300, chart.clientWidth || 900)),
                height: 280,
                scales: { x: { time: true }, y: { range: [0, null] } },
                series: [{}].concat(
                  SERIES.map(function (sr) {
                    return { label: sr.key, stroke: sr.color, width: 2, points: { show: false } };
                  }),
                ),
                axes: [{}, { label: 'steps / minute' }],
              },
              data,
              chart,
            );
          },
          function (err) {
            status.replaceChildren(notice('err', err.message));
          },
        )
        .then(function () {
          poll(load);
        });
    }
    load();
  }

  // ------------------------------------------------------------------------------------------

  function start() {
    api('config')
      .then(
        function (c) {
          config = c;
        },
        function () {
          /* keep read-only defaults */
        },
      )
      .then(function () {
        renderHeader();
        window.addEventListener('hashchange', route);
        route();
      });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
