// Package browser drives the embedded web client in headless Chromium
// (Debian's chromium, through chromedp) against a real server in demo mode:
// two people in two browser contexts sign in, chat, see typing and
// presence, nudge, wink, reconnect after a restart, and try to inject
// script. Screenshots go to tests/artifacts/.
package browser
