#!/bin/sh
# Entry point of the test image. A job's `RUN` parameter, when set, is a
# shell snippet to run (tests use it); otherwise the script named by
# SCRIPT_PATH runs, as in a production job image.
if [ -n "${RUN:-}" ]; then
  exec /bin/sh -c "$RUN"
fi
if [ -z "${SCRIPT_PATH:-}" ]; then
  echo "Neither RUN nor SCRIPT_PATH is set" >&2
  exit 2
fi
exec /bin/sh "$SCRIPT_PATH"
