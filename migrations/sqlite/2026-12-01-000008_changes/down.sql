DROP TABLE webhook_attempts;
DROP TABLE webhooks;
DROP TABLE change_counter;
DROP TABLE changes;
