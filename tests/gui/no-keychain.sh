#!/bin/sh
# The app as on a desktop where no keychain runs: there is no D-Bus session bus to find a Secret
# Service on. The GUI test starts this instead of the app for its no-keychain case.
DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/outpost-test-bus exec "$APP_BIN" "$@"
