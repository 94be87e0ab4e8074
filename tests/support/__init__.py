"""What the tests share: real servers (Redis, receivers, the service in-process), factories,
waits, and the generator of docs/chat.md."""
