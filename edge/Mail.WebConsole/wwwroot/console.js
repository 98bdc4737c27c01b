// Dashboard: refreshes the counts and the chart from /api/stats every 5 seconds (same origin; no other loads).
(function () {
  var chart = document.getElementById('traffic');
  if (!chart) return;
  var names = ['accepted', 'rejected', 'sent', 'deferred', 'bounced'];
  function draw(stats) {
    var max = 1;
    names.forEach(function (n) { (stats.series[n] || []).forEach(function (v) { if (v > max) max = v; }); });
    names.forEach(function (n) {
      var line = document.getElementById('line-' + n);
      var s = stats.series[n] || [];
      var pts = [];
      for (var i = 0; i < 60; i++) pts.push((i * 10) + ',' + (190 - Math.round((s[i] || 0) * 180 / max)));
      if (line) line.setAttribute('points', pts.join(' '));
      var total = document.querySelector('[data-stat="' + n + '"]');
      if (total) total.textContent = s.reduce(function (a, b) { return a + b; }, 0);
    });
    var q = document.querySelector('[data-stat="queue"]'); if (q) q.textContent = stats.queueDepth;
    var h = document.querySelector('[data-stat="quarantine"]'); if (h) h.textContent = stats.quarantined;
    var m = document.getElementById('chart-max'); if (m) m.textContent = max;
  }
  function tick() {
    fetch('/api/stats', { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { if (s) draw(s); }).catch(function () { });
  }
  setInterval(tick, 5000);
})();
