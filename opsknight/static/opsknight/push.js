/* The profile page's "Receive pages on this device" button: subscribe this browser to web push
   and hand the subscription to the server (notifications.views.push_subscribe). */
"use strict";

function keyBytes(base64url) {
  const padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("push-subscribe");
  const status = document.getElementById("push-status");
  if (!button || !status) return;
  const say = (text) => { status.textContent = text; };
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
    button.disabled = true;
    say("This browser cannot receive push notifications.");
    return;
  }
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      if ((await Notification.requestPermission()) !== "granted") {
        say("Notifications are blocked for this site; allow them in the browser's settings.");
        return;
      }
      await navigator.serviceWorker.register("/sw.js", { scope: "/" });
      const registration = await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(button.dataset.vapidKey),
      });
      const response = await fetch(button.dataset.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": button.dataset.csrf },
        body: JSON.stringify({ subscription: subscription.toJSON(), label: navigator.platform || "" }),
      });
      const answer = await response.json();
      say(response.ok ? answer.message : `Not saved: ${answer.message}`);
      if (response.ok) window.location.reload();
    } catch (error) {
      say(`Could not subscribe: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
});
