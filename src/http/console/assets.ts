/**
 * The console's only stylesheet and script, served from the listener itself (the CSP allows
 * nothing else). The script is progressive enhancement: the pages work without it; with it, the
 * orphans' countdowns tick and a confirmation is asked before an unlink.
 */
export const CONSOLE_CSS = `
:root { color-scheme: light; --fg: #1b1f24; --muted: #4a5360; --line: #c9d1d9; --accent: #0b5cad; --bad: #a4161a; --ok: #1a7f37; --warn: #8a5300; --bg: #ffffff; --panel: #f4f6f8; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
a:focus, button:focus, input:focus, select:focus, summary:focus { outline: 3px solid #f5a623; outline-offset: 2px; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; z-index: 10; }
header { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: center; padding: 12px 16px; border-bottom: 1px solid var(--line); background: var(--panel); }
header .brand { font-weight: 700; margin-right: auto; }
nav ul { display: flex; flex-wrap: wrap; gap: 4px 16px; list-style: none; margin: 0; padding: 0; }
nav a[aria-current="page"] { font-weight: 700; text-decoration: none; border-bottom: 3px solid var(--accent); }
main { padding: 16px; max-width: 1200px; margin: 0 auto; }
h1 { font-size: 1.6rem; margin: 8px 0 16px; } h2 { font-size: 1.25rem; margin-top: 28px; }
.table-wrap { overflow-x: auto; } table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; color: var(--muted); }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; word-break: break-all; }
.badge { display: inline-block; padding: 0 6px; border-radius: 4px; border: 1px solid currentColor; font-size: .85em; }
.ok { color: var(--ok); } .bad { color: var(--bad); } .warn { color: var(--warn); } .muted { color: var(--muted); }
.alert { border: 2px solid var(--bad); background: #fff5f5; padding: 8px 12px; border-radius: 4px; }
.notice { border: 2px solid var(--ok); background: #f3fbf5; padding: 8px 12px; border-radius: 4px; }
form.stack { display: grid; gap: 12px; max-width: 520px; }
label { font-weight: 600; display: block; } .hint { font-weight: 400; color: var(--muted); font-size: .9em; }
input[type=text], input[type=password], select { width: 100%; padding: 8px; font: inherit; border: 1px solid #6e7781; border-radius: 4px; }
button { font: inherit; padding: 8px 14px; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
a.button { display: inline-block; padding: 8px 14px; border-radius: 4px; background: var(--accent); color: #fff; text-decoration: none; font-weight: 600; }
button.secondary { background: #fff; color: var(--accent); } button.danger { background: var(--bad); border-color: var(--bad); }
fieldset { border: 1px solid var(--line); border-radius: 4px; } legend { font-weight: 600; }
.inline { display: inline; }
@media (max-width: 640px) {
  table.stacked thead { position: absolute; left: -9999px; }
  table.stacked tr { display: block; border: 1px solid var(--line); margin-bottom: 12px; }
  table.stacked td { display: block; border: 0; }
  table.stacked td::before { content: attr(data-label) ": "; font-weight: 600; }
}
`;

export const CONSOLE_JS = `
(function () {
  function left(seconds) {
    if (seconds <= 0) return 'now (grace over)';
    var m = Math.floor(seconds / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
    if (d > 0) return 'in ' + d + ' d ' + (h % 24) + ' h';
    if (h > 0) return 'in ' + h + ' h ' + (m % 60) + ' min';
    if (m > 0) return 'in ' + m + ' min ' + (seconds % 60) + ' s';
    return 'in ' + seconds + ' s';
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll('[data-deadline]').forEach(function (el) {
      el.textContent = left(Math.max(0, Math.round((Date.parse(el.getAttribute('data-deadline')) - now) / 1000)));
    });
  }
  tick();
  setInterval(tick, 1000);
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.getAttribute('data-confirm'))) event.preventDefault();
    });
  });
})();
`;
