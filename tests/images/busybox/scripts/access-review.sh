#!/bin/sh
# Demo job: an access review that finds one stale account and fails.
echo "Reviewing access for $CUSTOMER"
echo "Checked 42 accounts"
echo "Stale account found: svc-legacy" >&2
exit 3
