/*
 * ksd dashboard. Plain JavaScript, no framework, no external resource.
 * Every value from the API is captured network data: it is inserted with
 * textContent or setAttribute on SVG geometry only, never as HTML.
 */
'use strict';

(function () {
  var REFRESH_MS = 15000;
  var LIVE_ROWS = 200;
  var SVG_NS = 'http://www.w3.org/2000/svg';

  var state = {
    hosts: [],
    sort: { key: 'last_seen', dir: -1 },
    live: null
  };

  function $(id) { return document.getElementById(id); }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function fmtTime(sec) {
    if (!sec) return '-';
    var d = new Date(sec * 1000);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
  }

  function setStatus(text, bad) {
    var s = $('status');
    s.textContent = text;
    s.className = bad ? 'status bad' : 'status';
  }

  function getJSON(url) {
    return fetch(url, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error((body && body.error) || ('HTTP ' + r.status));
        return body;
      });
    });
  }

  function filterQuery() {
    var q = [];
    if ($('f-site').value) q.push('site=' + encodeURIComponent($('f-site').value));
    if ($('f-unmanaged').checked) q.push('unmanaged=1');
    return q.length ? '?' + q.join('&') : '';
  }

  /* ---- hosts ---- */

  function topText(h) {
    return (h.top || []).map(function (t) { return t.indicator + ' (' + t.count + ')'; }).join('; ');
  }

  /* the machine as ksd report prints it: "name (source) mac", either part alone */
  function machineName(h) {
    return h.name ? h.name + (h.name_source ? ' (' + h.name_source + ')' : '') : '';
  }

  function machineText(h) {
    return [machineName(h), h.mac || ''].filter(function (x) { return x; }).join(' ');
  }

  function sortValue(h, key) {
    if (key === 'top') return topText(h);
    if (key === 'machine') return machineText(h);
    var v = h[key];
    return v === undefined || v === null ? '' : v;
  }

  function renderHosts() {
    var tbody = $('hosts').tBodies[0];
    var text = $('q').value.trim().toLowerCase();
    var verdict = $('f-verdict').value;
    var key = state.sort.key, dir = state.sort.dir;
    var rows = state.hosts.filter(function (h) {
      if (verdict && h.verdict !== verdict) return false;
      if (!text) return true;
      var hay = [h.client, machineText(h), h.site, h.managed, h.verdict, h.evidence, h.categories,
        topText(h), h.last_indicator, h.last_rule, h.sensor].join(' ').toLowerCase();
      return hay.indexOf(text) >= 0;
    });
    rows.sort(function (a, b) {
      var x = sortValue(a, key), y = sortValue(b, key);
      if (typeof x === 'number' && typeof y === 'number') return (x - y) * dir;
      return String(x).localeCompare(String(y), undefined, { numeric: true }) * dir;
    });
    clear(tbody);
    rows.forEach(function (h) {
      var tr = el('tr');
      tr.dataset.client = h.client;
      tr.appendChild(el('td', h.client, 'mono'));
      var mc = el('td', null, 'machine');
      if (h.name) mc.appendChild(el('span', machineName(h)));
      if (h.mac) mc.appendChild(el('span', h.mac, 'mac mono'));
      if (!h.name && !h.mac) mc.textContent = '-';
      tr.appendChild(mc);
      tr.appendChild(el('td', h.site || '-'));
      var mt = el('td');
      if (h.exception) mt.appendChild(el('span', 'exception', 'badge exception'));
      else mt.textContent = h.managed || 'no';
      tr.appendChild(mt);
      var vt = el('td');
      vt.appendChild(el('span', h.verdict, 'verdict ' + h.verdict));
      tr.appendChild(vt);
      tr.appendChild(el('td', fmtTime(h.first_seen)));
      tr.appendChild(el('td', fmtTime(h.last_seen)));
      tr.appendChild(el('td', h.events, 'n'));
      tr.appendChild(el('td', h.evidence, 'mono'));
      var top = el('td', topText(h) || h.last_indicator, 'mono wrap');
      top.title = 'categories: ' + h.categories + '\nlast rule: ' + h.last_rule +
        '\nsensor: ' + h.sensor;
      tr.appendChild(top);
      tr.addEventListener('click', function () { openHost(h.client); });
      tbody.appendChild(tr);
    });
    if (!rows.length) {
      var tr = el('tr');
      var td = el('td', state.hosts.length ? 'no host matches the filter' : 'no flagged hosts', 'empty');
      td.colSpan = 10;
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
    $('hosts-count').textContent = rows.length + ' of ' + state.hosts.length;
    Array.prototype.forEach.call($('hosts').tHead.rows[0].cells, function (th) {
      th.classList.remove('sorted-asc', 'sorted-desc');
      if (th.dataset.key === key) th.classList.add(dir > 0 ? 'sorted-asc' : 'sorted-desc');
    });
  }

  function renderCards(hosts) {
    var c = { product: 0, suspected: 0, 'website-only': 0 }, unmanaged = 0;
    hosts.forEach(function (h) {
      c[h.verdict] = (c[h.verdict] || 0) + 1;
      if (h.managed !== 'managed' && !h.exception) unmanaged++;
    });
    $('n-hosts').textContent = hosts.length;
    $('n-product').textContent = c.product;
    $('n-suspected').textContent = c.suspected;
    $('n-website').textContent = c['website-only'];
    $('n-unmanaged').textContent = unmanaged;
  }

  function loadHosts() {
    return getJSON('/api/hosts' + filterQuery()).then(function (hosts) {
      state.hosts = hosts;
      renderCards(hosts);
      renderHosts();
    });
  }

  /* ---- host page (#host=ADDR) ---- */

  function openHost(client) {
    location.hash = 'host=' + encodeURIComponent(client);
  }

  function hashHost() {
    var m = /^#host=(.+)$/.exec(location.hash);
    if (!m) return null;
    try { return decodeURIComponent(m[1]); } catch (e) { return null; }
  }

  function recordRow(dl, name, value) {
    dl.appendChild(el('dt', name));
    dl.appendChild(el('dd', value === undefined || value === null || value === '' ? '-' : value));
  }

  function renderHostPage(page) {
    var h = page.host, dl = $('hp-record'), tbody = $('hp-events').tBodies[0];
    clear(dl);
    clear(tbody);
    recordRow(dl, 'machine', machineName(h));
    recordRow(dl, 'MAC', h.mac);
    recordRow(dl, 'site', h.site);
    recordRow(dl, 'managed', h.exception ? 'exception (allowed to run the product)' : (h.managed || 'no'));
    recordRow(dl, 'verdict', h.verdict);
    recordRow(dl, 'first seen (UTC)', fmtTime(h.first_seen));
    recordRow(dl, 'last seen (UTC)', fmtTime(h.last_seen));
    recordRow(dl, 'events', h.events);
    recordRow(dl, 'evidence', h.evidence);
    recordRow(dl, 'categories', h.categories);
    recordRow(dl, 'top indicators', topText(h));
    recordRow(dl, 'last rule', h.last_rule);
    recordRow(dl, 'sensor', h.sensor);
    recordRow(dl, 'rule set', h.ruleset);
    (page.events || []).forEach(function (ev) {
      var tr = el('tr');
      tr.appendChild(el('td', String(ev.ts || '').replace('T', ' ').replace(/\.\d+Z$/, '')));
      tr.appendChild(el('td', ev.evidence));
      tr.appendChild(el('td', ev.indicator, 'mono wrap'));
      tr.appendChild(el('td', ev.rule, 'mono'));
      tr.appendChild(el('td', ev.category));
      tr.appendChild(el('td', ev.server, 'mono'));
      tr.appendChild(el('td', ev.dport, 'n'));
      tr.appendChild(el('td', ev.count || 1, 'n'));
      tr.appendChild(el('td', ev.sensor));
      tbody.appendChild(tr);
    });
    $('hp-count').textContent = (page.events || []).length + ' newest first';
  }

  function route() {
    var client = hashHost();
    var hp = $('host-page');
    if (!client) {
      document.body.classList.remove('host-mode');
      hp.hidden = true;
      return Promise.resolve();
    }
    document.body.classList.add('host-mode');
    hp.hidden = false;
    $('hp-client').textContent = client;
    $('hp-error').hidden = true;
    return getJSON('/api/host?client=' + encodeURIComponent(client) + '&count=100')
      .then(function (page) {
        if (hashHost() !== client) return;
        renderHostPage(page);
        document.body.dataset.hostLoaded = client;
      }).catch(function (e) {
        clear($('hp-record'));
        clear($('hp-events').tBodies[0]);
        $('hp-error').textContent = 'no host page for ' + client + ': ' + (e && e.message ? e.message : e);
        $('hp-error').hidden = false;
      });
  }

  /* ---- trend: product hosts per day over the last 90 days ---- */

  var TREND_DAYS = 90;

  function dayString(ms) { return new Date(ms).toISOString().slice(0, 10); }

  function loadTrend() {
    var site = $('f-site').value;
    return getJSON('/api/trend?days=' + TREND_DAYS + (site ? '&site=' + encodeURIComponent(site) : ''))
      .then(function (rows) {
        var today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
        var days = [], per = {};
        for (var i = TREND_DAYS - 1; i >= 0; i--) days.push(dayString(today - i * 86400000));
        rows.forEach(function (r) { per[r.day] = (per[r.day] || 0) + Number(r.product_hosts || 0); });
        var counts = days.map(function (d) { return per[d] || 0; });
        var s = $('trend');
        var W = Math.max(300, $('trend-box').clientWidth || 960), H = 180;
        var left = 36, bottom = 22, top = 14;
        s.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
        s.setAttribute('preserveAspectRatio', 'xMinYMin meet');
        s.dataset.days = String(days.length);
        clear(s);
        var max = Math.max.apply(null, counts.concat([1]));
        var bw = (W - left - 4) / days.length;
        s.appendChild(svg('line', { x1: left, y1: H - bottom, x2: W, y2: H - bottom, 'class': 'axis' }));
        s.appendChild(svg('line', { x1: left, y1: top, x2: left, y2: H - bottom, 'class': 'axis' }));
        var ymax = svg('text', { x: left - 4, y: top + 10, 'text-anchor': 'end' });
        ymax.textContent = String(max);
        s.appendChild(ymax);
        counts.forEach(function (n, i) {
          var x = left + i * bw + 1;
          if (n > 0) {
            var h = (H - bottom - top) * n / max;
            var r = svg('rect', { x: x, y: H - bottom - h, width: Math.max(1, bw - 2), height: h, 'class': 'bar' });
            r.dataset.day = days[i];
            var tip = svg('title', {});
            tip.textContent = days[i] + ': ' + n + ' product host' + (n === 1 ? '' : 's');
            r.appendChild(tip);
            s.appendChild(r);
          }
          if (i % 15 === 0) {
            var lab = svg('text', { x: x, y: H - 6 });
            lab.textContent = days[i].slice(5);
            s.appendChild(lab);
          }
        });
        var cut = $('f-cutover').value, note = '';
        var ci = days.indexOf(cut);
        if (ci >= 0) {
          var cx = left + ci * bw;
          s.appendChild(svg('line', { x1: cx, y1: top - 10, x2: cx, y2: H - bottom, 'class': 'cutover' }));
          var cl = svg('text', { x: cx + 3, y: top - 2, 'class': 'cutover-label' });
          cl.textContent = 'cut-over ' + cut;
          s.appendChild(cl);
          note = counts[counts.length - 1] + ' product hosts today, ' + counts[ci] + ' on the cut-over day';
        } else if (cut) {
          note = 'the cut-over day ' + cut + ' is outside the last ' + TREND_DAYS + ' days';
        }
        $('trend-cutover').textContent = note;
        $('trend-range').textContent = days[0] + ' to ' + days[days.length - 1] + ' UTC, distinct hosts with product evidence';
      });
  }

  /* ---- sites ---- */

  function loadSites() {
    return getJSON('/api/sites').then(function (sites) {
      var tbody = $('sites').tBodies[0];
      var sel = $('f-site');
      var current = sel.value;
      clear(tbody);
      while (sel.options.length > 1) sel.remove(1);
      sites.forEach(function (s) {
        var tr = el('tr');
        tr.appendChild(el('td', s.site || '(no site)'));
        tr.appendChild(el('td', s.hosts, 'n'));
        tr.appendChild(el('td', s.product_hosts, 'n'));
        tr.appendChild(el('td', s.events, 'n'));
        tr.appendChild(el('td', fmtTime(s.last_seen)));
        tr.addEventListener('click', function () {
          if (!s.site) return;
          sel.value = s.site;
          loadHosts().catch(showError);
        });
        tbody.appendChild(tr);
        if (s.site) {
          var o = el('option', s.site);
          o.value = s.site;
          sel.appendChild(o);
        }
      });
      sel.value = current;
      if (sel.value !== current) sel.value = '';
      $('n-sites').textContent = sites.filter(function (s) { return s.site; }).length;
      if (!sites.length) {
        var tr = el('tr');
        var td = el('td', 'no sites', 'empty');
        td.colSpan = 5;
        tr.appendChild(td);
        tbody.appendChild(tr);
      }
    });
  }

  /* ---- timeline ---- */

  function svg(tag, attrs) {
    var e = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    return e;
  }

  function loadTimeline() {
    return getJSON('/api/timeline?hours=48').then(function (t) {
      var s = $('timeline');
      var W = Math.max(300, $('timeline-box').clientWidth || 960), H = 180;
      var left = 36, bottom = 22, top = 8;
      s.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
      s.setAttribute('preserveAspectRatio', 'xMinYMin meet');
      clear(s);
      var counts = t.counts || [];
      var max = Math.max.apply(null, counts.concat([1]));
      var bw = (W - left - 4) / Math.max(1, counts.length);
      s.appendChild(svg('line', { x1: left, y1: H - bottom, x2: W, y2: H - bottom, 'class': 'axis' }));
      s.appendChild(svg('line', { x1: left, y1: top, x2: left, y2: H - bottom, 'class': 'axis' }));
      var ymax = svg('text', { x: left - 4, y: top + 10, 'text-anchor': 'end' });
      ymax.textContent = String(max);
      s.appendChild(ymax);
      var y0 = svg('text', { x: left - 4, y: H - bottom, 'text-anchor': 'end' });
      y0.textContent = '0';
      s.appendChild(y0);
      counts.forEach(function (n, i) {
        var h = (H - bottom - top) * n / max;
        var x = left + i * bw + 1;
        var start = t.start + i * t.bucket;
        if (n > 0) {
          var r = svg('rect', { x: x, y: H - bottom - h, width: Math.max(1, bw - 2), height: h, 'class': 'bar' });
          var tip = svg('title', {});
          tip.textContent = fmtTime(start) + ' UTC: ' + n + ' detection' + (n === 1 ? '' : 's');
          r.appendChild(tip);
          s.appendChild(r);
        }
        if (i % 6 === 0) {
          var lab = svg('text', { x: x, y: H - 6 });
          lab.textContent = fmtTime(start).slice(5, 13) + 'h';
          s.appendChild(lab);
        }
      });
      $('timeline-range').textContent = fmtTime(t.start) + ' to ' + fmtTime(t.end) + ' UTC, ' +
        counts.reduce(function (a, b) { return a + b; }, 0) + ' detections';
    });
  }

  /* ---- sensors ---- */

  function loadSensors() {
    return getJSON('/api/sensors').then(function (list) {
      var tbody = $('sensors').tBodies[0];
      clear(tbody);
      list.forEach(function (s) {
        var tr = el('tr');
        tr.appendChild(el('td', s.id, 'mono'));
        tr.appendChild(el('td', s.packets, 'n'));
        tr.appendChild(el('td', s.drops, 'n'));
        tr.appendChild(el('td', s.backlog, 'n'));
        tr.appendChild(el('td', s.events, 'n'));
        tr.appendChild(el('td', s.version));
        tbody.appendChild(tr);
      });
      if (!list.length) {
        var tr = el('tr');
        var td = el('td', 'no sensor reporting (sensor:<id> keys expire when a sensor stops)', 'empty');
        td.colSpan = 6;
        tr.appendChild(td);
        tbody.appendChild(tr);
      }
    });
  }

  /* ---- events and the live feed ---- */

  function eventRow(ev, fresh) {
    var tr = el('tr', null, fresh ? 'fresh' : '');
    tr.appendChild(el('td', String(ev.ts || '').replace('T', ' ').replace(/\.\d+Z$/, '')));
    tr.appendChild(el('td', ev.client, 'mono'));
    tr.appendChild(el('td', ev.evidence));
    tr.appendChild(el('td', ev.indicator, 'mono wrap'));
    tr.appendChild(el('td', ev.rule, 'mono'));
    tr.appendChild(el('td', ev.category));
    tr.appendChild(el('td', ev.sensor));
    return tr;
  }

  function addLive(ev) {
    var tbody = $('live').tBodies[0];
    var empty = tbody.querySelector('td.empty');
    if (empty) clear(tbody);
    tbody.insertBefore(eventRow(ev, true), tbody.firstChild);
    while (tbody.rows.length > LIVE_ROWS) tbody.deleteRow(tbody.rows.length - 1);
  }

  function loadEvents() {
    return getJSON('/api/events?count=50').then(function (list) {
      var tbody = $('live').tBodies[0];
      clear(tbody);
      list.forEach(function (ev) { tbody.appendChild(eventRow(ev, false)); });
      if (!list.length) {
        var tr = el('tr');
        var td = el('td', 'no events yet', 'empty');
        td.colSpan = 7;
        tr.appendChild(td);
        tbody.appendChild(tr);
      }
    });
  }

  function startLive() {
    if (!window.EventSource) {
      $('live-state').textContent = '(this browser has no EventSource)';
      return;
    }
    var es = new EventSource('/api/live');
    state.live = es;
    es.onopen = function () { $('live-state').textContent = 'live'; };
    es.onerror = function () { $('live-state').textContent = 'reconnecting...'; };
    es.onmessage = function (m) {
      var ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      if (ev && typeof ev === 'object') addLive(ev);
    };
  }

  /* ---- wiring ---- */

  function showError(e) {
    setStatus('error: ' + (e && e.message ? e.message : e), true);
  }

  function refresh() {
    return Promise.all([loadHosts(), loadSites(), loadTimeline(), loadSensors(), loadTrend()]).then(function () {
      setStatus('updated ' + fmtTime(Date.now() / 1000 | 0) + ' UTC', false);
      document.body.dataset.loaded = '1';
    }).catch(showError);
  }

  function init() {
    Array.prototype.forEach.call($('hosts').tHead.rows[0].cells, function (th) {
      th.addEventListener('click', function () {
        var k = th.dataset.key;
        if (state.sort.key === k) state.sort.dir = -state.sort.dir;
        else state.sort = { key: k, dir: (k === 'events' || k.indexOf('seen') > 0) ? -1 : 1 };
        renderHosts();
      });
    });
    $('q').addEventListener('input', renderHosts);
    $('f-verdict').addEventListener('change', renderHosts);
    $('f-site').addEventListener('change', function () {
      loadHosts().catch(showError);
      loadTrend().catch(showError);
    });
    try { $('f-cutover').value = localStorage.getItem('ksd.cutover') || ''; } catch (e) { /* no storage */ }
    $('f-cutover').addEventListener('change', function () {
      try { localStorage.setItem('ksd.cutover', $('f-cutover').value); } catch (e) { /* no storage */ }
      loadTrend().catch(showError);
    });
    window.addEventListener('hashchange', function () { route(); });
    route();
    $('f-unmanaged').addEventListener('change', function () { loadHosts().catch(showError); });
    window.addEventListener('resize', function () {
      loadTimeline().catch(showError);
      loadTrend().catch(showError);
    });
    loadEvents().catch(showError).then(startLive);
    refresh();
    setInterval(refresh, REFRESH_MS);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
