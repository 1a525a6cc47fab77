#!/bin/sh
# The app as the login item starts it: quietly, behind a tray icon (`--tray`).
exec "$APP_BIN" --tray "$@"
