#!/usr/bin/env bash
# kafka-init: create every topic and its dead-letter twin (idempotent).
# The list mirrors libs/contracts/src/contracts/topics.py; a test keeps them equal.
set -euo pipefail
TOPICS="catalog.museums catalog.relics catalog.products catalog.stock orders.orders ip.assets ip.licenses ip.royalties"
for topic in $TOPICS; do
  for name in "$topic" "$topic.dlq"; do
    /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
      --topic "$name" --partitions "$PARTITIONS" --replication-factor "$REPLICATION"
  done
done
echo "topics ready"
