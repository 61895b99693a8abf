/// The dashboard's only script and stylesheet, served from `/static` so the pages need no inline code
/// (the Content-Security-Policy forbids it).
enum StaticAssets {
    /// Live logs through EventSource, and the copy button. Without JavaScript the page still works:
    /// a refresh shows the log so far.
    static let script = #"""
        "use strict";
        (function () {
          function follow(pre) {
            var url = pre.getAttribute("data-stream");
            if (!url || !window.EventSource) { return; }
            var source = new EventSource(url);
            var status = document.getElementById(pre.getAttribute("data-status-id"));
            source.addEventListener("log", function (event) {
              var line = JSON.parse(event.data);
              var span = document.createElement("span");
              span.className = "line " + line.stream;
              span.textContent = line.line + "\n";
              pre.appendChild(span);
              var empty = pre.querySelector(".empty");
              if (empty) { empty.remove(); }
              if (pre.getAttribute("data-follow") !== "off") { pre.scrollTop = pre.scrollHeight; }
            });
            source.addEventListener("status", function (event) {
              var data = JSON.parse(event.data);
              if (status) { status.textContent = data.status.replace(/_/g, " "); status.className = "badge " + data.status; }
            });
            source.addEventListener("end", function () {
              source.close();
              // The next step may have started: show the page as it is now.
              window.setTimeout(function () { window.location.reload(); }, 800);
            });
          }
          function copy(button) {
            button.addEventListener("click", function () {
              var text = button.getAttribute("data-copy");
              if (navigator.clipboard) {
                navigator.clipboard.writeText(text).then(function () {
                  button.textContent = "Copied";
                  window.setTimeout(function () { button.textContent = "Copy"; }, 1500);
                });
              }
            });
          }
          function confirmDestroy(form) {
            form.addEventListener("submit", function (event) {
              if (!window.confirm("Destroy this preview?")) { event.preventDefault(); }
            });
          }
          document.addEventListener("DOMContentLoaded", function () {
            Array.prototype.forEach.call(document.querySelectorAll("pre[data-stream]"), follow);
            Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
              button.hidden = false;
              copy(button);
            });
            Array.prototype.forEach.call(document.querySelectorAll("form.confirm"), confirmDestroy);
          });
        })();
        """#

    static let stylesheet = #"""
        :root {
          --bg: #f6f7f9; --panel: #ffffff; --text: #1f2328; --muted: #656d76; --border: #d8dee4;
          --accent: #0969da; --green: #1a7f37; --green-bg: #dafbe1; --red: #cf222e; --red-bg: #ffebe9;
          --amber: #9a6700; --amber-bg: #fff8c5; --blue-bg: #ddf4ff; --grey-bg: #eaeef2;
        }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif;
               background: var(--bg); color: var(--text); }
        a { color: var(--accent); text-decoration: none; }
        a:hover { text-decoration: underline; }
        code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
        header.top { background: #24292f; color: #fff; padding: 0 24px; display: flex; align-items: center; gap: 24px; height: 52px; }
        header.top .brand { color: #fff; font-weight: 600; font-size: 16px; letter-spacing: .2px; }
        header.top nav { display: flex; gap: 16px; flex: 1; }
        header.top nav a { color: #d0d7de; }
        header.top .who { color: #d0d7de; font-size: 13px; }
        header.top form { display: inline; }
        header.top button.link { background: none; border: 0; color: #d0d7de; cursor: pointer; font: inherit; padding: 0; }
        main { max-width: 1180px; margin: 24px auto; padding: 0 24px; }
        h1 { font-size: 22px; margin: 0 0 4px; font-weight: 600; }
        h2 { font-size: 16px; margin: 28px 0 10px; font-weight: 600; }
        .subtitle { color: var(--muted); margin: 0 0 18px; }
        .panel { background: var(--panel); border: 1px solid var(--border); border-radius: 8px; }
        .cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin-bottom: 20px; }
        .card { background: var(--panel); border: 1px solid var(--border); border-radius: 8px; padding: 12px 16px; }
        .card .value { font-size: 24px; font-weight: 600; }
        .card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .4px; }
        form.filters { display: flex; gap: 8px; margin-bottom: 12px; flex-wrap: wrap; }
        input[type=text], input[type=password], select { border: 1px solid var(--border); border-radius: 6px; padding: 5px 8px; font: inherit; background: #fff; }
        button, .button { border: 1px solid var(--border); border-radius: 6px; padding: 5px 12px; font: inherit; background: #f6f8fa;
                          color: var(--text); cursor: pointer; }
        button.primary { background: #1f883d; border-color: #1a7f37; color: #fff; }
        button.danger { color: var(--red); }
        table { width: 100%; border-collapse: collapse; }
        th, td { text-align: left; padding: 9px 12px; border-bottom: 1px solid var(--border); vertical-align: middle; }
        th { font-size: 12px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .4px; background: #f6f8fa; }
        tr:last-child td { border-bottom: 0; }
        td.branch { max-width: 280px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
        td.muted, .muted { color: var(--muted); }
        .badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 500; background: var(--grey-bg);
                 color: var(--muted); white-space: nowrap; }
        .badge.succeeded, .badge.active { background: var(--green-bg); color: var(--green); }
        .badge.failed, .badge.timed_out { background: var(--red-bg); color: var(--red); }
        .badge.running, .badge.queued, .badge.destroying { background: var(--blue-bg); color: var(--accent); }
        .badge.waiting_for_approval { background: var(--amber-bg); color: var(--amber); }
        .badge.cancelled, .badge.skipped, .badge.superseded, .badge.destroyed, .badge.pending { background: var(--grey-bg); color: var(--muted); }
        progress { width: 90px; height: 8px; vertical-align: middle; }
        .pager { display: flex; justify-content: space-between; align-items: center; padding: 10px 12px; color: var(--muted); }
        .pager .links { display: flex; gap: 8px; }
        .empty-state { padding: 32px; text-align: center; color: var(--muted); }
        dl.facts { display: grid; grid-template-columns: 160px 1fr; gap: 6px 16px; margin: 0; padding: 16px; }
        dl.facts dt { color: var(--muted); }
        dl.facts dd { margin: 0; overflow-wrap: anywhere; }
        .preview { display: flex; align-items: center; gap: 10px; padding: 12px 16px; border-bottom: 1px solid var(--border); }
        .preview .url { font-weight: 600; }
        .actions { display: flex; gap: 8px; padding: 12px 16px; flex-wrap: wrap; border-top: 1px solid var(--border); }
        .actions form { margin: 0; }
        .steps { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin-bottom: 16px; }
        .step { background: var(--panel); border: 1px solid var(--border); border-radius: 8px; padding: 12px 14px; border-top: 4px solid var(--border); }
        .step.succeeded { border-top-color: var(--green); }
        .step.failed, .step.timed_out { border-top-color: var(--red); }
        .step.running, .step.queued { border-top-color: var(--accent); }
        .step.waiting_for_approval { border-top-color: #d4a72c; }
        .step .name { font-weight: 600; text-transform: capitalize; }
        .step .meta { color: var(--muted); font-size: 12px; margin-top: 6px; }
        .log { margin-bottom: 16px; }
        .log summary { padding: 10px 14px; cursor: pointer; display: flex; gap: 10px; align-items: center; }
        .log summary .name { font-weight: 600; text-transform: capitalize; }
        pre.lines { margin: 0; background: #0d1117; color: #e6edf3; padding: 12px 14px; max-height: 420px; overflow: auto;
                    border-radius: 0 0 8px 8px; white-space: pre-wrap; word-break: break-word; }
        pre.lines .stderr { color: #ffa198; }
        pre.lines .system { color: #79c0ff; }
        pre.lines .empty { color: #8b949e; }
        .error-text { color: var(--red); white-space: pre-wrap; }
        .flash { padding: 10px 14px; border-radius: 6px; margin-bottom: 16px; border: 1px solid; }
        .flash.ok { background: var(--green-bg); border-color: #aceebb; color: var(--green); }
        .flash.problem { background: var(--red-bg); border-color: #ffcecb; color: var(--red); }
        .narrow { max-width: 640px; }
        .narrow dl.facts { padding: 0 0 12px; grid-template-columns: 130px 1fr; }
        .narrow .panel { padding: 20px; }
        footer { color: var(--muted); font-size: 12px; text-align: center; margin: 32px 0; }
        """#
}
