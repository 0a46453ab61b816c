"""Side effects behind small ports: records, notifications, the payer."""
