CREATE SCHEMA dispatch;
