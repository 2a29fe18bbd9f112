/** The console's style sheet: system fonts, quiet colours, a visible focus everywhere. */
// biome-ignore lint/complexity/noUselessStringRaw: all console files are raw strings, so a backslash added later reaches the browser as written.
export const styleCss = String.raw`
:root {
  color-scheme: light dark;
  --bg: #ffffff;
  --fg: #1c2230;
  --muted: #5d6677;
  --line: #e2e5eb;
  --soft: #f5f6f9;
  --accent: #2454c0;
  --accent-fg: #ffffff;
  --good: #0f7a45;
  --good-bg: #e5f5ec;
  --bad: #b3261e;
  --bad-bg: #fcebea;
  --warn: #8a5300;
  --warn-bg: #fdf1dc;
  --info: #2454c0;
  --info-bg: #e8eefb;
  --focus: #2454c0;
  --mono: ui-monospace, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace;
  font-family:
    system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, sans-serif;
  font-size: 15px;
  line-height: 1.45;
}

@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14171d;
    --fg: #e4e7ee;
    --muted: #9aa3b2;
    --line: #2b303a;
    --soft: #1b1f27;
    --accent: #7ea2f4;
    --accent-fg: #0d1220;
    --good: #6cd49b;
    --good-bg: #15301f;
    --bad: #ff8f86;
    --bad-bg: #3a1a18;
    --warn: #f2bd62;
    --warn-bg: #35290f;
    --info: #9db8f7;
    --info-bg: #1b2640;
    --focus: #9db8f7;
  }
}

* {
  box-sizing: border-box;
}

body {
  margin: 0;
  background: var(--bg);
  color: var(--fg);
}

a {
  color: var(--accent);
}
a:hover {
  text-decoration-thickness: 2px;
}

:focus-visible {
  outline: 2px solid var(--focus);
  outline-offset: 2px;
  border-radius: 3px;
}
h1:focus,
h2:focus {
  outline: none;
}

.visually-hidden {
  position: absolute;
  width: 1px;
  height: 1px;
  overflow: hidden;
  clip-path: inset(50%);
  white-space: nowrap;
}

[hidden] {
  display: none !important;
}

.mono,
code,
pre {
  font-family: var(--mono);
  font-size: 0.87em;
}
.muted,
.meta,
.hint {
  color: var(--muted);
}
.hint {
  font-size: 0.87em;
}
.nowrap {
  white-space: nowrap;
}
.wrap {
  overflow-wrap: anywhere;
}

/* --- Layout --- */

.top {
  display: flex;
  align-items: center;
  gap: 28px;
  padding: 0 28px;
  height: 54px;
  border-bottom: 1px solid var(--line);
  background: var(--soft);
}
.brand {
  font-weight: 700;
  font-size: 1.1rem;
  letter-spacing: 0.02em;
  color: var(--fg);
  text-decoration: none;
}
.top nav ul {
  display: flex;
  gap: 4px;
  margin: 0;
  padding: 0;
  list-style: none;
}
.top nav a {
  display: block;
  padding: 6px 12px;
  border-radius: 6px;
  color: var(--fg);
  text-decoration: none;
}
.top nav a:hover {
  background: var(--line);
}
.top nav a[aria-current="page"] {
  background: var(--bg);
  box-shadow: inset 0 0 0 1px var(--line);
  font-weight: 600;
}
#sign-out {
  margin-left: auto;
}

main {
  padding: 20px 28px 48px;
  max-width: 1280px;
}
main:focus {
  outline: none;
}
.view.narrow {
  max-width: 420px;
  margin: 48px auto;
}

h1 {
  font-size: 1.5rem;
  margin: 4px 0 12px;
  overflow-wrap: anywhere;
}
h2 {
  font-size: 1.1rem;
  margin: 28px 0 10px;
}
.intro {
  max-width: 80ch;
  margin-top: 0;
}

/* --- Notices --- */

.notice {
  padding: 0 28px;
  max-width: 1280px;
}
.notice p {
  display: flex;
  align-items: center;
  gap: 12px;
  margin: 14px 0 0;
  padding: 8px 8px 8px 14px;
  border-radius: 6px;
  border-left: 4px solid var(--info);
  background: var(--info-bg);
}
.notice p > button {
  margin-left: auto;
  padding: 0 8px;
  font-size: 1.1rem;
}
.notice .notice-success {
  border-color: var(--good);
  background: var(--good-bg);
}
.notice .notice-error {
  border-color: var(--bad);
  background: var(--bad-bg);
}

/* --- Controls --- */

button {
  font: inherit;
  font-size: 0.93rem;
  padding: 6px 14px;
  border-radius: 6px;
  border: 1px solid var(--line);
  background: var(--bg);
  color: var(--fg);
  cursor: pointer;
}
button:hover {
  background: var(--soft);
  border-color: var(--muted);
}
button.primary {
  background: var(--accent);
  border-color: var(--accent);
  color: var(--accent-fg);
}
button.primary:hover {
  filter: brightness(1.1);
}
button.danger {
  color: var(--bad);
  border-color: var(--bad);
}
button.danger:hover {
  background: var(--bad-bg);
}
dialog button.danger {
  background: var(--bad);
  color: #fff;
}
button.quiet {
  border-color: transparent;
  background: transparent;
}
button.small {
  padding: 3px 10px;
  font-size: 0.87rem;
}
button[aria-disabled="true"] {
  opacity: 0.6;
  cursor: progress;
}

input,
select {
  font: inherit;
  font-size: 0.93rem;
  padding: 6px 8px;
  border: 1px solid #b9bfca;
  border-radius: 6px;
  background: var(--bg);
  color: var(--fg);
  min-width: 0;
}
input:not([type="checkbox"]):not([type="radio"]),
select {
  height: 34px;
}
select {
  min-width: 10em;
}
input[type="checkbox"],
input[type="radio"] {
  width: 16px;
  height: 16px;
  margin: 0;
  accent-color: var(--accent);
}
input[aria-invalid="true"] {
  border-color: var(--bad);
}

.field {
  display: flex;
  flex-direction: column;
  gap: 4px;
}
.field label {
  font-size: 0.87rem;
  font-weight: 600;
}
.field-actions {
  display: flex;
  gap: 8px;
  align-self: flex-end;
}
.field-error {
  color: var(--bad);
  min-height: 1.45em;
  margin: 6px 0;
}

.filters {
  display: flex;
  flex-wrap: wrap;
  align-items: flex-end;
  gap: 12px 16px;
  padding: 14px 16px;
  margin-bottom: 16px;
  border: 1px solid var(--line);
  border-radius: 8px;
  background: var(--soft);
}

.toolbar {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 8px;
  margin: 0 0 12px;
}
.toolbar .selection {
  min-width: 9em;
  color: var(--muted);
}
.toolbar .spacer {
  flex: 1;
}

.signin {
  display: flex;
  flex-direction: column;
  gap: 6px;
}
.signin h1 {
  margin-bottom: 0;
}
.signin label {
  font-weight: 600;
  margin-top: 8px;
}
.signin input {
  padding: 8px 10px;
}
.signin .actions {
  display: flex;
}

.segmented {
  display: inline-flex;
  align-items: center;
  gap: 2px;
  border: 0;
  margin: 0;
  padding: 0;
}
.segmented legend {
  float: left;
  margin-right: 10px;
  color: var(--muted);
  font-size: 0.87rem;
}
.segmented label {
  display: inline-flex;
  align-items: center;
  gap: 6px;
  padding: 4px 10px;
  border: 1px solid var(--line);
  border-radius: 6px;
  font-size: 0.87rem;
  cursor: pointer;
}
.segmented label:has(input:checked) {
  border-color: var(--accent);
  background: var(--info-bg);
}
.segmented label:has(input:focus-visible) {
  outline: 2px solid var(--focus);
  outline-offset: 2px;
}

/* --- Tables --- */

.table-wrap {
  overflow-x: auto;
  border: 1px solid var(--line);
  border-radius: 8px;
}
table.data {
  width: 100%;
  border-collapse: collapse;
  font-size: 0.93rem;
}
table.data th,
table.data td {
  padding: 8px 12px;
  text-align: left;
  vertical-align: baseline;
  border-bottom: 1px solid var(--line);
}
table.data thead th {
  background: var(--soft);
  font-size: 0.8rem;
  font-weight: 600;
  text-transform: uppercase;
  letter-spacing: 0.04em;
  color: var(--muted);
  white-space: nowrap;
}
table.data tbody tr:last-child > * {
  border-bottom: 0;
}
table.data tbody tr:hover {
  background: var(--soft);
}
table.data tbody th {
  font-weight: 500;
}
table.data .num {
  text-align: right;
  font-variant-numeric: tabular-nums;
  white-space: nowrap;
}
table.data .check {
  width: 1%;
  padding-right: 0;
}
table.data .check input {
  vertical-align: middle;
}
table.data .empty {
  text-align: center;
  color: var(--muted);
  padding: 28px;
}
table.data .row-actions {
  white-space: nowrap;
  text-align: right;
  width: 1%;
}
table.data .row-actions button + button {
  margin-left: 6px;
}
table.data.headers th:first-child {
  width: 30%;
}
.route-name {
  display: block;
  font-weight: 600;
}
.sub {
  display: block;
  margin-top: 2px;
  font-size: 0.85em;
  color: var(--muted);
  overflow-wrap: anywhere;
}
.error-text {
  color: var(--bad);
  overflow-wrap: anywhere;
  max-width: 42ch;
}
.table-foot {
  display: flex;
  align-items: center;
  gap: 12px;
}

.totals {
  display: flex;
  flex-wrap: wrap;
  gap: 12px;
  margin: 0 0 18px;
}
.tile {
  min-width: 150px;
  padding: 10px 16px;
  border: 1px solid var(--line);
  border-radius: 8px;
}
.tile dt {
  font-size: 0.8rem;
  color: var(--muted);
  text-transform: uppercase;
  letter-spacing: 0.04em;
}
.tile dd {
  margin: 2px 0 0;
  font-size: 1.6rem;
  font-weight: 600;
  font-variant-numeric: tabular-nums;
}
.tile.alert dd {
  color: var(--bad);
}

.badge {
  display: inline-block;
  padding: 1px 8px;
  border-radius: 999px;
  font-size: 0.8rem;
  font-weight: 600;
  white-space: nowrap;
  background: var(--soft);
  color: var(--muted);
}
.badge.good {
  background: var(--good-bg);
  color: var(--good);
}
.badge.bad {
  background: var(--bad-bg);
  color: var(--bad);
}
.badge.warn {
  background: var(--warn-bg);
  color: var(--warn);
}
.badge.info,
.badge.busy {
  background: var(--info-bg);
  color: var(--info);
}

/* A route whose target is down: a red bar along its rows, and the line under it. */
table.data tbody tr.target-down > th,
table.data tbody tr.outage-row > td {
  box-shadow: inset 3px 0 0 var(--bad);
}
table.data tbody tr.target-down:not(.outage-row) > * {
  border-bottom: 0;
}
table.data tbody tr.outage-row > td {
  padding-top: 0;
}
tr.target-down .target,
tr.outage-row strong {
  color: var(--bad);
}
tr.outage-row .error-text {
  max-width: none;
}
table.data tbody tr.target-down:hover + tr.outage-row {
  background: var(--soft);
}
/* Two actions per route, one above the other: the counts keep their width. */
table.data .route-actions button {
  display: block;
  width: 100%;
}
table.data .route-actions button + button {
  margin: 6px 0 0;
}

/* --- Message --- */

.facts {
  display: grid;
  grid-template-columns: repeat(auto-fill, minmax(220px, 1fr));
  gap: 12px 24px;
  margin: 0 0 8px;
  padding: 14px 16px;
  border: 1px solid var(--line);
  border-radius: 8px;
}
.facts dt {
  font-size: 0.8rem;
  color: var(--muted);
  text-transform: uppercase;
  letter-spacing: 0.04em;
}
.facts dd {
  margin: 2px 0 0;
  overflow-wrap: anywhere;
}

pre.body,
.excerpt pre {
  margin: 0;
  padding: 12px 14px;
  border: 1px solid var(--line);
  border-radius: 8px;
  background: var(--soft);
  overflow: auto;
  white-space: pre;
}
pre.body {
  max-height: 480px;
}
.body-bar {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  justify-content: space-between;
  gap: 8px;
  margin-bottom: 8px;
}
.body-bar .meta {
  margin: 0;
}

.timeline {
  list-style: none;
  margin: 0;
  padding: 0 0 0 18px;
  border-left: 2px solid var(--line);
}
.attempt {
  position: relative;
  padding: 0 0 16px 10px;
}
.attempt::before {
  content: "";
  position: absolute;
  left: -25px;
  top: 5px;
  width: 10px;
  height: 10px;
  border-radius: 50%;
  background: var(--muted);
  box-shadow: 0 0 0 3px var(--bg);
}
.attempt.good::before {
  background: var(--good);
}
.attempt.bad::before {
  background: var(--bad);
}
.attempt.warn::before {
  background: var(--warn);
}
.attempt-head {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 10px;
}
.attempt p {
  margin: 4px 0;
}
.excerpt {
  margin-top: 6px;
}
.excerpt pre {
  white-space: pre-wrap;
  overflow-wrap: anywhere;
  max-height: 160px;
  padding: 8px 10px;
}

.route-section h2 {
  margin-top: 24px;
}
.empty-state {
  padding: 28px;
  text-align: center;
  color: var(--muted);
  border: 1px dashed var(--line);
  border-radius: 8px;
}

/* --- Dialog --- */

dialog.confirm {
  max-width: 480px;
  padding: 22px 24px 18px;
  border: 1px solid var(--line);
  border-radius: 10px;
  background: var(--bg);
  color: var(--fg);
  box-shadow: 0 12px 40px rgb(0 0 0 / 0.25);
}
dialog.confirm::backdrop {
  background: rgb(15 20 30 / 0.45);
}
dialog.confirm h2 {
  margin: 0 0 8px;
}
dialog.confirm p {
  margin: 6px 0;
}
dialog.confirm .actions {
  display: flex;
  justify-content: flex-end;
  gap: 8px;
  margin-top: 18px;
}

@media (max-width: 720px) {
  .top {
    gap: 12px;
    padding: 0 14px;
  }
  main,
  .notice {
    padding-left: 14px;
    padding-right: 14px;
  }
}
`;
