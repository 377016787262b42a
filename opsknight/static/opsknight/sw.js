/* OpsKnight service worker: an offline shell, the last-seen incident list, and web push with
   Acknowledge / Open actions. Served at /sw.js (scope: the whole site). */
"use strict";

const SHELL = "opsknight-shell-v1";
const OFFLINE_URL = "/offline/";
const LAST_SEEN = "/incidents/";
const SHELL_FILES = [OFFLINE_URL, "/static/opsknight/app.css", "/static/opsknight/icons/icon-192.png"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(SHELL).then((cache) => cache.addAll(SHELL_FILES)).then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((key) => key !== SHELL).map((key) => caches.delete(key))))
      .then(() => self.clients.claim())
  );
});

// Pages: network first (a responder must see the truth), the cache only when offline. The
// incident list is kept as last seen; any other page offline shows the offline shell.
self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (url.pathname === LAST_SEEN && response.ok) {
            const copy = response.clone();
            caches.open(SHELL).then((cache) => cache.put(LAST_SEEN, copy));
          }
          return response;
        })
        .catch(() =>
          caches.match(url.pathname === LAST_SEEN ? LAST_SEEN : OFFLINE_URL)
            .then((hit) => hit || caches.match(OFFLINE_URL))
        )
    );
    return;
  }
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
  }
});

// A page, as notifications/rendering.py render_page_push writes it:
// {title, body, url, ack_url, tag}.
self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { title: "OpsKnight", body: event.data ? event.data.text() : "" };
  }
  const actions = [];
  if (data.ack_url) actions.push({ action: "ack", title: "Acknowledge" });
  actions.push({ action: "open", title: "Open" });
  event.waitUntil(
    self.registration.showNotification(data.title || "OpsKnight", {
      body: data.body || "",
      tag: data.tag || undefined,
      renotify: Boolean(data.tag),
      requireInteraction: true,
      icon: "/static/opsknight/icons/icon-192.png",
      data: { url: data.url || "/", ack_url: data.ack_url || "" },
      actions,
    })
  );
});

// "Acknowledge" posts the page's signed one-click link (no session needed: the token is the
// credential) and says how it went; anything else opens the incident.
self.addEventListener("notificationclick", (event) => {
  const notification = event.notification;
  const { url, ack_url: ackUrl } = notification.data || {};
  notification.close();
  if (event.action === "ack" && ackUrl) {
    event.waitUntil(
      fetch(ackUrl, { method: "POST", headers: { Accept: "application/json" }, credentials: "omit" })
        .then((response) => response.json())
        .then((answer) =>
          self.registration.showNotification(
            answer.ok ? `${answer.result}: #${answer.incident}` : "Not acknowledged",
            { body: answer.error || "", tag: notification.tag || undefined }
          )
        )
        .catch(() => self.clients.openWindow(ackUrl))
    );
    return;
  }
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((client) => client.url.endsWith(url));
      return open ? open.focus() : self.clients.openWindow(url || "/");
    })
  );
});
