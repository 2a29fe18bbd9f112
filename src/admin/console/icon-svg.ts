/** The console's favicon: a small queue of three bars. */
// biome-ignore lint/complexity/noUselessStringRaw: all console files are raw strings, so a backslash added later reaches the browser as written.
export const iconSvg = String.raw`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="7" fill="#2454c0"/>
<rect x="7" y="8" width="18" height="4" rx="2" fill="#fff"/>
<rect x="7" y="14" width="14" height="4" rx="2" fill="#fff" opacity=".8"/>
<rect x="7" y="20" width="10" height="4" rx="2" fill="#fff" opacity=".6"/>
</svg>
`;
