#!/bin/sh
# The app on a desktop whose language is Russian (as a Russian-speaking user's is): the GUI test
# starts this to see the app follow the system's language until the user picks one.
LANGUAGE=ru_RU:ru LANG=ru_RU.UTF-8 exec "$APP_BIN" "$@"
