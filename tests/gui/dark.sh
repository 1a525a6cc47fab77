#!/bin/sh
# The app on a desktop set to a dark theme: WebKitGTK then answers prefers-color-scheme: dark,
# and the GUI test checks the dark colours' contrast with axe.
GTK_THEME=Adwaita:dark exec "$APP_BIN" "$@"
