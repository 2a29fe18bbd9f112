/**
 * The console's page. Paths are relative, so the console also works behind a reverse
 * proxy that serves the admin listener under a path prefix.
 */
// biome-ignore lint/complexity/noUselessStringRaw: all console files are raw strings, so a backslash added later reaches the browser as written.
export const indexHtml = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>hookq console</title>
<link rel="icon" href="console/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="console/style.css">
<script type="module" src="console/app.js"></script>
</head>
<body>
<header class="top">
  <a class="brand" href="#/">hookq</a>
  <nav aria-label="Console" id="nav" hidden>
    <ul>
      <li><a href="#/" data-view="overview">Overview</a></li>
      <li><a href="#/dead" data-view="dead">Dead letters</a></li>
      <li><a href="#/blocked" data-view="blocked">Blocked groups</a></li>
    </ul>
  </nav>
  <button type="button" id="sign-out" class="quiet" hidden>Sign out</button>
</header>
<div id="notice" class="notice" role="status" aria-live="polite"></div>
<main id="main" tabindex="-1">
  <noscript><p>The hookq console needs JavaScript. The JSON API is at <code>/api/</code>.</p></noscript>
</main>
</body>
</html>
`;
