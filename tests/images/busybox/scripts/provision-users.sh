#!/bin/sh
# Demo job: pretends to provision the users named in USERS.
echo "Provisioning users for customer $CUSTOMER (job $JOB_NAME)"
echo "Connecting to the directory with token $API_TOKEN"
if [ "$WHAT_IF" = "True" ]; then
  echo "What-if run: no change will be made"
fi
for user in ${USERS:-alice bob}; do
  echo "Created account $user"
  sleep 0.2
done
echo "Done"
